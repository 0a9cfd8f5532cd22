"""Components (DESIGN §1.6) on SQLite and PostgreSQL: chat commands through the real desk,
the hold rule (worst wins, released when an incident resolves), broadcasts through the
console transport, history rows, and the status page documents of a running app."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from bot.components.board import ComponentBoard
from bot.components.extension import ComponentsExtension
from bot.components.sync import sync_components
from bot.config.loading import load_config_text
from bot.core.desk import Desk
from bot.core.events import ComponentChanged, DeskEvent
from bot.core.ports import Channel, Identity, Message
from bot.core.transport_state import StoredTransportState
from bot.delivery.outbox import OutboxWorker
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from bot.wiring import build_core
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.components import DeclaredComponent
from storage.db import _alembic_config, revisions, upgrade
from storage.timeline import Where
from storage.unit_of_work import Store
from tests.clock import Clock
from tests.harness import delivered_lines, run_app

COMPONENTS = """
components:
  - {name: Gerrit, group: Code review, description: "review.example.org"}
  - {name: Zuul, group: CI}
  - {name: Docs}
"""

WHITELIST = Whitelist([
    Principal("alice", frozenset({Role.STATUS, Role.INCIDENT}), irc_account="alice"),
    Principal("ivan", frozenset({Role.INCIDENT}), irc_account="ivan"),
])


@dataclass
class Rig:
    desk: Desk
    store: Store
    worker: OutboxWorker
    out: io.StringIO
    clock: Clock
    events: list[DeskEvent] = field(default_factory=list)

    async def say(self, text: str, *, nick: str = "alice") -> list[str]:
        identity = Identity(transport="irc", nick=nick, network="oftc", account=nick)
        message = Message("irc", "oftc", "#infra", nick, identity, text)
        return [r.text for r in await self.desk.handle(message)]

    async def deliver(self) -> list[str]:
        return await delivered_lines(self.worker, self.out)

    async def statuses(self) -> dict[str, str]:
        async with self.store.reading() as tx:
            return {c.id: c.status for c in await tx.components.all()}

    def changes(self) -> list[tuple[str, str, str, int | None]]:
        return [(e.component_id, e.old, e.new, e.incident_id) for e in self.events
                if isinstance(e, ComponentChanged)]


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    out = io.StringIO()
    console = ConsoleTransport(StoredTransportState(store, "console"), bot_nick="statusdesk",
                               stdin=io.StringIO(""), stdout=out)
    transports = Transports([console])
    clock = Clock()
    core = build_core(store, transports, WHITELIST, bot_nick="statusdesk",
                      page_url="https://status.test", clock=clock,
                      extensions=[ComponentsExtension(ComponentBoard(transports.channels))])
    config = load_config_text(COMPONENTS)
    await sync_components(store, config.components, clock=clock)
    rig = Rig(core.desk, store, core.outbox, out, clock)
    core.bus.subscribe(rig.events.append)
    yield rig


async def test_component_status_from_chat_is_recorded_and_broadcast(rig: Rig) -> None:
    assert await rig.say("#component gerrit major Gerrit is down") == [
        "Gerrit: major outage (was operational)."]
    assert await rig.deliver() == ["-statusdesk- NOTICE: Gerrit: major outage — Gerrit is down"]
    assert rig.changes() == [("gerrit", "operational", "major_outage", None)]
    assert await rig.say("#component GERRIT major_outage") == ["Gerrit is already major outage."]
    rig.clock.advance(minutes=5)
    # Degraded is not worth a broadcast; the change is still recorded.
    assert await rig.say("#component Gerrit degraded") == [
        "Gerrit: degraded performance (was major outage)."]
    assert await rig.deliver() == []
    assert (await rig.statuses())["gerrit"] == "degraded_performance"
    async with rig.store.reading() as tx:
        history = [(c.old_status, c.new_status, c.actor, c.text, c.at)
                   for c in await tx.components.changes(component_id="gerrit")]
    start = rig.clock.now - timedelta(minutes=5)
    assert history[1:] == [
        ("operational", "major_outage", "alice", "Gerrit is down", start),
        ("major_outage", "degraded_performance", "alice", None, rig.clock.now),
    ]
    assert history[0][:2] == (None, "operational")  # declared from the configuration


async def test_incident_affects_then_resolve_returns_to_operational(rig: Rig) -> None:
    assert await rig.say("#incident open sev2 Gerrit down") == [
        "Opened incident #1 (sev2): Gerrit down — https://status.test/incidents/1"]
    assert await rig.say("#incident 1 affects gerrit major_outage") == [
        "Incident #1 affects Gerrit (major outage)."]
    assert await rig.deliver() == ["-statusdesk- NOTICE: Gerrit: major outage"]
    assert await rig.say("#incident 1 affects zuul, Docs") == [
        "Incident #1 affects Zuul (partial outage), Docs (partial outage)."]
    await rig.deliver()
    assert await rig.statuses() == {"gerrit": "major_outage", "zuul": "partial_outage",
                                    "docs": "partial_outage"}
    replies = await rig.say("#incident 1 resolved fixed")
    assert "Incident #1 resolved: Docs, Gerrit, Zuul operational again." in replies
    assert await rig.statuses() == {"gerrit": "operational", "zuul": "operational",
                                    "docs": "operational"}
    assert [(c[0], c[2], c[3]) for c in rig.changes()][-3:] == [
        ("docs", "operational", 1), ("gerrit", "operational", 1), ("zuul", "operational", 1)]
    async with rig.store.reading() as tx:
        entries = [e.text for e in await tx.timeline.entries(1) if e.kind == "component"]
        held = (await tx.components.of_incidents([1]))[1]
    assert entries == [
        "Gerrit: major outage (was operational).",
        "Zuul: partial outage (was operational).",
        "Docs: partial outage (was operational).",
        "Docs: operational (was partial outage).",
        "Gerrit: operational (was major outage).",
        "Zuul: operational (was partial outage).",
    ]
    # The resolved incident still lists what it affected, at the status it held.
    assert sorted((h.component_id, h.status, h.released_at is not None) for h in held) == [
        ("docs", "partial_outage", True), ("gerrit", "major_outage", True),
        ("zuul", "partial_outage", True)]


@pytest.mark.parametrize("first", [1, 2])
async def test_two_incidents_hold_one_component_worst_wins(rig: Rig, first: int) -> None:
    await rig.say("#incident open Gerrit slow")
    await rig.say("#incident open Gerrit down")
    await rig.say("#incident 1 affects gerrit degraded")
    assert (await rig.statuses())["gerrit"] == "degraded_performance"
    await rig.say("#incident 2 affects gerrit major")
    assert (await rig.statuses())["gerrit"] == "major_outage"
    # Lowering one hold does not lower the component below another's.
    await rig.say("#incident 1 affects gerrit partial")
    assert (await rig.statuses())["gerrit"] == "major_outage"
    second = 3 - first
    replies = await rig.say(f"#incident {first} resolved")
    left = {1: "partial outage", 2: "major outage"}[second]
    if first == 2:
        assert f"Incident #2 resolved: Gerrit stays {left} (held by #1)." in replies
        assert (await rig.statuses())["gerrit"] == "partial_outage"
    else:
        assert f"Incident #1 resolved: Gerrit stays {left} (held by #2)." in replies
        assert (await rig.statuses())["gerrit"] == "major_outage"
    await rig.say(f"#incident {second} resolved")
    assert (await rig.statuses())["gerrit"] == "operational"
    async with rig.store.reading() as tx:
        assert await tx.components.live_holds() == []


async def test_status_ok_releases_the_alert_incidents_components(rig: Rig) -> None:
    await rig.say("#status alert Zuul is down")
    await rig.say("#incident 1 affects zuul major")
    assert (await rig.statuses())["zuul"] == "major_outage"
    replies = await rig.say("#status ok back")
    assert "Incident #1 resolved: Zuul operational again." in replies
    assert (await rig.statuses())["zuul"] == "operational"


async def test_operator_word_overrides_the_holds(rig: Rig) -> None:
    await rig.say("#incident open Gerrit down")
    await rig.say("#incident 1 affects gerrit major")
    assert await rig.say("#component gerrit degraded recovering") == [
        "Gerrit: degraded performance (was major outage)."]
    async with rig.store.reading() as tx:
        entries = [e.text for e in await tx.timeline.entries(1) if e.kind == "component"]
        holds = await tx.components.live_holds(["gerrit"])
    assert entries[-1] == "Gerrit: degraded performance (was major outage). recovering"
    assert [h.status for h in holds] == ["degraded_performance"]
    await rig.say("#incident 1 resolved")
    assert (await rig.statuses())["gerrit"] == "operational"


async def test_now_and_list_name_the_components(rig: Rig) -> None:
    assert await rig.say("#now", nick="mallory") == [
        "All clear: no alert and no open incidents.", "Status page: https://status.test"]
    await rig.say("#component zuul partial")
    now = await rig.say("#now", nick="mallory")
    assert "Components: Zuul partial outage" in now
    assert "All clear: no alert and no open incidents." not in now
    listing = ["Gerrit [Code review]: operational · Zuul [CI]: partial outage · Docs: "
               "operational"]
    assert await rig.say("#components", nick="mallory") == listing
    assert await rig.say("#component list", nick="mallory") == listing


async def test_bad_input_gets_a_usage_line_and_changes_nothing(rig: Rig) -> None:
    unknown = await rig.say("#component gerit major")
    assert unknown == ["No component 'gerit'. Components: Gerrit (gerrit), Zuul (zuul), "
                       "Docs (docs)."]
    bad = await rig.say("#component gerrit broken")
    assert bad[0].startswith("no status word after the name (one of operational (ok), ")
    assert "major_outage (major)" in bad[0]
    await rig.say("#incident open x")
    assert await rig.say("#incident 1 affects gerrit, nope major") == [
        "No component 'nope'. Components: Gerrit (gerrit), Zuul (zuul), Docs (docs)."]
    assert await rig.say("#incident 7 affects gerrit") == ["There is no incident #7."]
    assert await rig.say("#incident 1 affects") == [
        "usage: #incident ID affects NAME[,NAME...] [STATUS] — link components to the "
        "incident (default partial_outage); they return to operational when it resolves"]
    await rig.say("#incident 1 resolved")
    assert await rig.say("#incident 1 affects gerrit") == [
        "Incident #1 is resolved: it cannot hold components any more."]
    # Roles: #component needs status, affects needs incident.
    assert await rig.say("#component gerrit major", nick="ivan") == [
        "you are not authorized to use #component"]
    await rig.say("#incident open z")
    assert await rig.say("#incident 2 affects gerrit", nick="mallory") == [
        "you are not authorized to use #incident ID affects"]
    assert await rig.statuses() == {"gerrit": "operational", "zuul": "operational",
                                    "docs": "operational"}
    assert rig.changes() == []


async def test_sync_follows_the_configuration(store: Store) -> None:
    clock = Clock()
    async with store.transaction() as tx:
        await tx.components.sync([DeclaredComponent("gerrit", "Gerrit", "Code review"),
                                  DeclaredComponent("zuul", "Zuul")], clock.now)
        gerrit = await tx.components.get("gerrit", for_update=True)
        assert gerrit is not None
        await tx.components.set_status(gerrit, "major_outage", clock.now, actor="alice")
    clock.advance(hours=1)
    async with store.transaction() as tx:
        await tx.components.sync([DeclaredComponent("zuul", "Zuul CI", "CI"),
                                  DeclaredComponent("gerrit", "Gerrit", None, "review")],
                                 clock.now)
    async with store.reading() as tx:
        shown = [(c.id, c.name, c.group_name, c.description, c.position, c.status)
                 for c in await tx.components.all()]
        assert shown == [("zuul", "Zuul CI", "CI", None, 1, "operational"),
                         ("gerrit", "Gerrit", None, "review", 2, "major_outage")]
    async with store.transaction() as tx:
        await tx.components.sync([DeclaredComponent("zuul", "Zuul")], clock.now)
    async with store.reading() as tx:
        assert [c.id for c in await tx.components.all()] == ["zuul"]
        everything = await tx.components.all(include_undeclared=True)
        assert sorted(c.id for c in everything) == ["gerrit", "zuul"]
        before = await tx.components.status_before(clock.now)
        assert before == {"gerrit": "major_outage", "zuul": "operational"}
        since = await tx.components.changes(since=clock.now - timedelta(minutes=1))
        assert since == []


async def test_page_and_statuspage_documents_show_components(db_url: str,
                                                             tmp_path: Path) -> None:
    async with run_app(db_url, tmp_path, COMPONENTS) as running:
        await running.settled()
        status, _, body = await running.get("/api/v2/components.json")
        assert status == 200
        document = json.loads(body)
        ids = [(c["id"], c["group"], c["status"]) for c in document["components"]]
        assert ids == [("group-code-review", True, "operational"),
                       ("gerrit", False, "operational"),
                       ("group-ci", True, "operational"),
                       ("zuul", False, "operational"),
                       ("docs", False, "operational")]
        await running.say("#incident open sev3 Gerrit down")
        await running.say("#incident 1 affects gerrit major")
        await running.settled()
        _, _, body = await running.get("/api/v2/summary.json")
        summary = json.loads(body)
        assert summary["status"]["indicator"] == "critical"  # a major outage anywhere
        gerrit = next(c for c in summary["components"] if c["id"] == "gerrit")
        assert gerrit["status"] == "major_outage"
        assert gerrit["group_id"] == "group-code-review"
        group = next(c for c in summary["components"] if c["id"] == "group-code-review")
        assert group["components"] == ["gerrit"] and group["status"] == "major_outage"
        assert [c["id"] for c in summary["incidents"][0]["components"]] == ["gerrit"]
        _, _, page = await running.get("/")
        html = page.decode()
        assert "Gerrit" in html and "Major outage" in html
        await running.say("#incident 1 resolved")
        await running.settled()
        _, _, body = await running.get("/api/v2/summary.json")
        summary = json.loads(body)
        assert summary["status"]["indicator"] == "none"
        _, _, body = await running.get("/api/v2/incidents.json")
        resolved = json.loads(body)["incidents"][0]
        assert [c["id"] for c in resolved["components"]] == ["gerrit"]


async def test_migration_0008_rolls_back_and_forward(store: Store) -> None:
    def tables(connection: object) -> set[str]:
        return set(inspect(connection).get_table_names())

    def down(connection: object) -> None:
        command.downgrade(_alembic_config(connection), "0007_leader_lease")  # type: ignore[arg-type]

    async with store.engine.begin() as connection:
        await connection.run_sync(down)
        assert not {"components", "component_changes", "incident_components"} & \
            await connection.run_sync(tables)
    await upgrade(store.engine)
    async with store.engine.connect() as connection:
        assert {"components", "component_changes", "incident_components"} <= \
            await connection.run_sync(tables)
    current, head = await revisions(store.engine)
    assert current == head


async def test_board_holds_for_anything_with_an_incident_id(rig: Rig) -> None:
    """What a maintenance window does (an incident of kind maintenance): hold components at
    under_maintenance through the board, and let go; an outage during it wins."""
    board = ComponentBoard(lambda: [Channel("console", "console", "console")])
    bot = Where(actor="statusdesk")
    await rig.say("#incident open Maintenance window")
    async with rig.store.transaction() as tx:
        zuul = await tx.components.get("zuul", for_update=True)
        assert zuul is not None
        applied = await board.link(tx, 1, [zuul], "under_maintenance", bot, rig.clock.now)
    assert [(e.component_id, e.old, e.new, e.incident_id) for e in applied.events] == [
        ("zuul", "operational", "under_maintenance", 1)]
    assert not applied.queued  # maintenance is not worse than degraded: no broadcast
    await rig.say("#incident open Zuul down")
    await rig.say("#incident 2 affects zuul major")
    assert (await rig.statuses())["zuul"] == "major_outage"
    await rig.say("#incident 2 resolved")
    assert (await rig.statuses())["zuul"] == "under_maintenance"  # still held by 1
    async with rig.store.transaction() as tx:
        applied = await board.release(tx, 1, bot, rig.clock.now)
    assert applied.released == [("Zuul", "operational", [])]
    assert (await rig.statuses())["zuul"] == "operational"
