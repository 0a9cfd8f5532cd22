"""Captured chat (incidents.capture) under load: no database work while no incident is open,
lines written in batches (one transaction per CAPTURE_WINDOW or CAPTURE_BATCH lines), in
their place in the timeline, and nothing lost on a clean stop. On SQLite and PostgreSQL.

Statements and commits are counted with SQLAlchemy's own engine events: they observe the
real database traffic, they do not replace any of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from bot.core.capture import CAPTURE_BATCH, CAPTURE_WINDOW
from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.ports import Identity, Message
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.unit_of_work import Store

WHITELIST = Whitelist([Principal("alice", frozenset({Role.STATUS, Role.INCIDENT}),
                                 irc_account="alice")])


def _desk(store: Store) -> Desk:
    return Desk(store, EventBus(), WHITELIST, lambda: [], bot_nick="statusdesk",
                capture={"#infra"})


async def _say(desk: Desk, text: str, nick: str = "bob", channel: str = "#infra") -> list[str]:
    identity = Identity(transport="irc", nick=nick, network="oftc",
                        account="alice" if nick == "alice" else None)
    message = Message("irc", "oftc", channel, nick, identity, text)
    return [r.text for r in await desk.handle(message)]


class Traffic:
    def __init__(self) -> None:
        self.statements = 0
        self.commits = 0


@contextmanager
def counted(store: Store) -> Iterator[Traffic]:
    traffic = Traffic()
    engine = store.engine.sync_engine

    def on_statement(*_: Any) -> None:
        traffic.statements += 1

    def on_commit(*_: Any) -> None:
        traffic.commits += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield traffic
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


async def _chats(store: Store, incident_id: int) -> list[str]:
    async with store.reading() as tx:
        return [e.text or "" for e in await tx.timeline.entries(incident_id)
                if e.kind == "chat"]


async def _kinds(store: Store, incident_id: int) -> list[str]:
    async with store.reading() as tx:
        return [e.kind for e in await tx.timeline.entries(incident_id)]


async def test_no_open_incident_means_no_database_work(store: Store) -> None:
    desk = _desk(store)
    await _say(desk, "first line: the desk learns that nothing is open")
    with counted(store) as traffic:
        for n in range(300):
            await _say(desk, f"just chatting {n}")
        await desk.flush_captured()
    assert traffic.statements == 0
    # Open, then resolved: the desk follows its own commands without asking again.
    assert (await _say(desk, "#incident open Gate", nick="alice"))[0].startswith("Opened")
    await _say(desk, "kept")
    await _say(desk, "#incident 1 resolved", nick="alice")
    with counted(store) as traffic:
        await _say(desk, "not kept: nothing is open")
        await desk.flush_captured()
    assert traffic.statements == 0
    assert await _chats(store, 1) == ["kept"]


async def test_lines_are_written_in_batches_within_the_window(store: Store) -> None:
    desk = _desk(store)
    await _say(desk, "#incident open Gate", nick="alice")
    await _say(desk, "#incident open Zuul", nick="alice")
    lines = [f"line {n}" for n in range(CAPTURE_BATCH // 2)]
    with counted(store) as traffic:
        started = time.monotonic()
        for line in lines:
            await _say(desk, line)
        deadline = time.monotonic() + 30
        while await _chats(store, 2) != lines:
            assert time.monotonic() < deadline, await _chats(store, 2)
            await asyncio.sleep(0.02)
    # Written without any flush or command: the window ended on its own, soon.
    assert time.monotonic() - started < CAPTURE_WINDOW + 10
    assert await _chats(store, 1) == lines
    # One transaction, or a few on a machine slow enough to stretch the loop past the window.
    assert traffic.commits <= 3, f"{len(lines)} lines took {traffic.commits} transactions"


async def test_a_full_batch_does_not_wait_for_the_window(store: Store) -> None:
    desk = _desk(store)
    await _say(desk, "#incident open Gate", nick="alice")
    with counted(store) as traffic:
        for n in range(CAPTURE_BATCH * 3):
            await _say(desk, f"busy {n}")
            await asyncio.sleep(0)
        await desk.flush_captured()
    assert len(await _chats(store, 1)) == CAPTURE_BATCH * 3
    assert traffic.commits <= 6, traffic.commits


async def test_chatter_before_a_command_stays_before_it(store: Store) -> None:
    desk = _desk(store)
    await _say(desk, "#incident open Gate", nick="alice")
    await _say(desk, "said before")
    await _say(desk, "#incident 1 identified the disk", nick="alice")
    await _say(desk, "said after")
    await desk.flush_captured()
    assert await _kinds(store, 1) == ["opened", "severity", "chat", "state", "chat"]


async def test_a_clean_stop_keeps_every_waiting_line(store: Store) -> None:
    desk = _desk(store)
    await _say(desk, "#incident open Gate", nick="alice")
    for n in range(5):
        await _say(desk, f"last words {n}")
    assert await _chats(store, 1) == []  # still waiting for the window
    await desk.flush_captured()
    assert await _chats(store, 1) == [f"last words {n}" for n in range(5)]


async def test_an_incident_another_instance_opened_is_seen_after_a_new_term(
        store: Store) -> None:
    leader, other = _desk(store), _desk(store)
    await _say(leader, "nothing open yet")
    # Another instance leads for a while (this one lost the lock) and opens an incident.
    await _say(other, "#incident open Failover", nick="alice")
    # A new term as leader (bot/app.py) reads what is open afresh.
    leader.forget_open_incidents()
    await _say(leader, "captured after the failover")
    await leader.flush_captured()
    assert await _chats(store, 1) == ["captured after the failover"]
