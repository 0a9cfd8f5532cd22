"""A multi-day incident driven through the console transport, exported as the escalation
manager would pull it: Markdown against a golden file, JSON against its schema."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.ports import Message
from bot.core.transport_state import StoredTransportState
from bot.incidents.export import export_json, export_markdown
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from commands.auth import Whitelist
from storage.unit_of_work import Store
from tests.clock import Clock

GOLDEN = Path(__file__).parent.parent / "golden" / "incident_log.md"
SCHEMA = Path(__file__).parent.parent.parent / "bot" / "schemas" / "incident-log-v1.schema.json"
GENERATED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

# (minutes after the previous line, what the operator types)
SCRIPT = [
    (0, "#status alert Gerrit is down, pushes fail with 503"),
    (3, "#incident 1 sev 1"),
    (2, "#incident 1 lead fungi"),
    (1, "#incident 1 em clarkb"),
    (4, "#log 1 gerrit01 JVM heap exhausted, GC thrashing since 23:10"),
    (15, "#incident 1 identified Heap exhaustion after the index upgrade"),
    (5, "#bug 1 https://bugs.launchpad.net/opendev/+bug/2070001"),
    (30, "#status notice Gerrit restarted with a larger heap; reindexing (slow | partial)"),
    (40, "#incident 1 monitoring Pushes work again, watching GC"),
    (600, "#log 1 overnight: no GC pauses over 200ms <script>alert(1)</script>"),
    (300, "#incident 1 resolved Heap settings made permanent"),
    (2, "#status ok Gerrit is back to normal"),
]


@pytest.fixture
async def incident(store: Store) -> AsyncIterator[Store]:
    """Runs SCRIPT through a console transport reading a real pipe."""
    clock = Clock(datetime(2026, 11, 21, 23, 40, tzinfo=UTC))
    read_fd, write_fd = os.pipe()
    stdin = os.fdopen(read_fd, "r")
    stdout = io.StringIO()
    console = ConsoleTransport(StoredTransportState(store, "console"), bot_nick="statusdesk",
                               operator="opsuser", stdin=stdin, stdout=stdout)
    transports = Transports([console])
    desk = Desk(store, EventBus(), Whitelist([]), transports.channels, bot_nick="statusdesk",
                clock=clock)
    answered = asyncio.Queue[str]()

    async def sink(message: Message) -> None:
        for reply in await desk.handle(message):
            await console.send(message.target, f"{message.sender}: {reply.text}")
        await answered.put(message.text)

    await console.start(sink)
    with os.fdopen(write_fd, "w") as pipe:
        for minutes, line in SCRIPT:
            clock.now += timedelta(minutes=minutes)
            pipe.write(line + "\n")
            pipe.flush()
            assert await asyncio.wait_for(answered.get(), 10) == line
    await asyncio.wait_for(console.closed.wait(), 10)
    await console.stop()
    assert "Alert cleared" in stdout.getvalue()
    yield store


async def _export(store: Store, writer: object) -> str:
    async with store.reading() as tx:
        found = await tx.incidents.get(1)
        assert found is not None
        return "".join([chunk async for chunk in writer(  # type: ignore[operator]
            found, tx.timeline, generated_at=GENERATED)])


async def test_markdown_export_matches_the_golden_file(incident: Store) -> None:
    markdown = await _export(incident, export_markdown)
    if os.environ.get("STATUSDESK_UPDATE_GOLDEN"):
        GOLDEN.write_text(markdown)
    assert markdown == GOLDEN.read_text()


async def test_json_export_follows_its_schema(incident: Store) -> None:
    document = json.loads(await _export(incident, export_json))
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["incident"]["id"] == "1"
    assert document["incident"]["milestones"]["identified"] == "2026-11-22T00:05:00Z"
    assert document["metrics"]["time_to_resolve_seconds"] == 1000 * 60  # 23:40 -> 16:20
    kinds = [e["kind"] for e in document["timeline"]]
    assert kinds == [
        "opened", "status.alert", "severity", "lead", "manager", "note", "state", "bug",
        "status.notice", "state", "note", "state", "status.ok",
    ]
    notes = [e for e in document["timeline"] if e["kind"] == "note"]
    assert all(not n["public"] for n in notes)
    assert document["participants"] == ["opsuser"]
