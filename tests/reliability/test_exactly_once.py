"""The two mechanisms behind Matrix's exactly-once, each shown deterministically (the crash
test shows them under random kills): an event handed over again is applied once, and a
notice sent twice with one key is kept once by Synapse."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import text as sql

from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.ports import Channel, Identity, KeyedNotices, Message
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.unit_of_work import Store
from tests.harness import run_app
from tests.matrix_client import PASSWORD, MatrixUser
from tests.servers.synapse import SynapseServer

MARTA = "@marta:example.org"
MALLORY = "@mallory:example.org"


def _message(sender: str, text: str, event_id: str) -> Message:
    identity = Identity(transport="matrix", nick=sender, network="example.org",
                        matrix_user=sender)
    return Message("matrix", "example.org", "!ops:example.org", sender, identity, text,
                   event_id=event_id)


async def _count(store: Store, query: str) -> int:
    async with store.reading() as tx:
        return int((await tx.session.execute(sql(query))).scalar_one())


async def test_an_event_handed_over_again_is_applied_once(store: Store) -> None:
    desk = Desk(store, EventBus(),
                Whitelist([Principal("marta", frozenset({Role.STATUS}), matrix_user=MARTA)]),
                lambda: [Channel("matrix", "example.org", "!ops:example.org")],
                bot_nick="statusdesk")
    notice = _message(MARTA, "#status notice Gate is slow", "$notice")
    assert [r.text for r in await desk.handle(notice)] == ["Notice sent."]
    assert await desk.handle(notice) == []
    assert await _count(store, "SELECT count(*) FROM status_posts") == 1
    assert await _count(store, "SELECT count(*) FROM outbox") == 1

    refused = _message(MALLORY, "#status alert Pwned", "$refused")
    assert len(await desk.handle(refused)) == 1
    assert await desk.handle(refused) == []
    assert await _count(store, "SELECT count(*) FROM audit_log WHERE outcome = 'refused'") == 1

    malformed = _message(MARTA, "#incident frobnicate", "$usage")
    assert len(await desk.handle(malformed)) == 1
    assert await desk.handle(malformed) == []

    # The same id on another network is another event.
    elsewhere = Message("matrix", "other.org", "!ops:example.org", MARTA, notice.identity,
                        "#status notice Gate is slow", event_id="$notice")
    assert [r.text for r in await desk.handle(elsewhere)] == ["Notice sent."]
    assert desk.outcomes["accepted"] == 2


async def test_a_notice_sent_twice_with_one_key_is_kept_once(
    synapse: SynapseServer, sqlite_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    bot = synapse.register(f"oncebot{tag}", PASSWORD)
    synapse.register(f"wanda{tag}", PASSWORD)
    wanda = await MatrixUser.login(synapse, f"wanda{tag}")
    try:
        room = await wanda.create_room(invite=(bot,))
        config = (f"matrix: {{homeserver: '{synapse.base_url}', user_id: '{bot}', "
                  f"password: '{PASSWORD}', rooms: ['{room}']}}\n")
        async with run_app(sqlite_url, tmp_path, config) as running:
            transport = running.app.transports.get("matrix", "localhost")
            assert isinstance(transport, KeyedNotices)
            for _ in range(200):
                if transport.health()["channels"].get(room) == "joined":
                    break
                await asyncio.sleep(0.1)
            await transport.notice_keyed(room, "NOTICE: once", "post:1:notice:a")
            await transport.notice_keyed(room, "NOTICE: once", "post:1:notice:a")
            await transport.notice_keyed(room, "NOTICE: once", "post:2:notice:a")
            await wanda.wait_until(lambda: len({s.event_id for s in wanda.messages(
                room, sender=bot)}) >= 2)
            await asyncio.sleep(1.0)  # a third would have arrived by now
            assert len({s.event_id for s in wanda.messages(room, sender=bot)}) == 2
    finally:
        await wanda.close()
