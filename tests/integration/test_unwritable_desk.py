"""The desk on a SQLite database that stops taking writes (`PRAGMA query_only` on every
connection: SQLite's own SQLITE_READONLY, as a read-only file gives): commands are refused
in so many words, questions are still answered (also those carrying an event id, which
would otherwise be recorded), captured chat is counted as lost, and the episode is two log
lines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event

from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.ports import Identity, Message
from commands.auth import Principal, Whitelist
from commands.model import Role
from commands.replies import database_unwritable
from storage.db import open_store, upgrade
from storage.unit_of_work import Store


@dataclass
class ReadOnlySwitch:
    """Every connection the pool hands out is made read-only (or not) at checkout."""

    on: bool = False

    def checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA query_only = {'ON' if self.on else 'OFF'}")
        finally:
            cursor.close()


@pytest.fixture
async def rig(sqlite_url: str) -> AsyncIterator[tuple[Desk, Store, ReadOnlySwitch]]:
    store = open_store(sqlite_url)
    await upgrade(store.engine)
    switch = ReadOnlySwitch()
    event.listen(store.engine.sync_engine, "checkout", switch.checkout)
    desk = Desk(store, EventBus(), Whitelist([
        Principal("alice", frozenset({Role.STATUS, Role.INCIDENT}), irc_account="alice")]),
        lambda: [], bot_nick="statusdesk", capture={"#infra"})
    try:
        yield desk, store, switch
    finally:
        await store.close()


def _message(text: str, event_id: str) -> Message:
    identity = Identity(transport="irc", nick="alice", network="oftc", account="alice")
    return Message("irc", "oftc", "#infra", "alice", identity, text, event_id=event_id)


async def _say(desk: Desk, text: str, event_id: str) -> list[str]:
    return [r.text for r in await desk.handle(_message(text, event_id))]


async def test_commands_refused_questions_answered_chatter_counted(
    rig: tuple[Desk, Store, ReadOnlySwitch], caplog: pytest.LogCaptureFixture
) -> None:
    desk, store, switch = rig
    caplog.set_level(logging.INFO, logger="statusdesk.database")
    assert await _say(desk, "#status log before", "$1") == ["Logged on the status page."]
    assert (await _say(desk, "#incident open sev3 Disk trouble", "$2"))[0].startswith(
        "Opened incident #1")

    switch.on = True
    # The first write refused is this question's record of its event: answered anyway.
    assert "#1 [sev3 investigating] Disk trouble" in "\n".join(
        await _say(desk, "#incident list", "$3"))
    assert store.writes.unwritable is not None
    assert await _say(desk, "#status log during", "$4") == [
        database_unwritable("#status log", "the database is read-only")]
    await desk.handle(_message("the volume is at 100%", "$5"))  # captured chatter
    await desk.flush_captured()
    assert "#1 [sev3 investigating] Disk trouble" in "\n".join(
        await _say(desk, "#now", "$6"))
    assert desk.outcomes["unwritable"] == 1

    switch.on = False
    assert await _say(desk, "#status log after", "$7") == ["Logged on the status page."]
    assert store.writes.unwritable is None
    assert [r.getMessage() for r in caplog.records] == [
        "the database cannot take writes: the database is read-only (OperationalError: "
        "attempt to write a readonly database); commands are answered \"not applied, say "
        "it again\" until it can",
        "database writable again after 1 refused command; 1 captured chat line could not "
        "be kept",
    ]
    async with store.reading() as tx:
        assert sorted(p.text for p in await tx.status_posts.recent(10)) == ["after", "before"]
