"""Scheduled maintenance on SQLite and PostgreSQL: a desk with the maintenance extension and
its timers, delivering through the real outbox into the console transport (the channel),
time moved by hand; a restart is a new rig on the same database."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.components.board import ComponentBoard
from bot.components.extension import ComponentsExtension
from bot.components.sync import sync_components
from bot.config.models import ComponentEntry, MaintenanceConfig
from bot.core.desk import Desk
from bot.core.events import ComponentChanged, DeskEvent, IncidentOpened, MaintenanceChanged
from bot.core.ports import Identity, Message
from bot.core.transport_state import StoredTransportState
from bot.delivery.outbox import OutboxWorker
from bot.ha.leadership import asyncpg_dsn
from bot.maintenance.assembly import Maintenance
from bot.maintenance.holds import BoardHolds
from bot.maintenance.rules import known_components
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from bot.wiring import build_core
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.db import upgrade
from storage.leases import FENCING_TERM, LeaseLost, LeaseSession
from storage.unit_of_work import Store
from tests.clock import Clock
from tests.harness import delivered_lines, opened_store, run_app

WHITELIST = Whitelist([
    Principal("alice", frozenset({Role.STATUS}), irc_account="alice"),
    Principal("bob", frozenset({Role.INCIDENT}), irc_account="bob"),
])

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@dataclass
class Rig:
    desk: Desk
    store: Store
    worker: OutboxWorker
    maintenance: Maintenance
    out: io.StringIO
    clock: Clock
    events: list[DeskEvent] = field(default_factory=list)

    async def say(self, text: str, *, nick: str = "alice") -> list[str]:
        identity = Identity(transport="irc", nick=nick, network="oftc", account=nick)
        message = Message("irc", "oftc", "#infra", nick, identity, text)
        return [r.text for r in await self.desk.handle(message)]

    async def tick(self) -> list[str]:
        """One pass of the timers, then the outbox; what the channel saw."""
        await self.maintenance.timers.check()
        return await self.deliver()

    async def deliver(self) -> list[str]:
        return await delivered_lines(self.worker, self.out)

    def phases(self) -> list[str]:
        return [e.phase for e in self.events if isinstance(e, MaintenanceChanged)]


@asynccontextmanager
async def rig_on(store: Store, clock: Clock, config: MaintenanceConfig | None = None,
                 components: Sequence[str] = ()) -> AsyncIterator[Rig]:
    """`components`: names of configured components (then held through the board)."""
    out = io.StringIO()
    console = ConsoleTransport(StoredTransportState(store, "console"), bot_nick="statusdesk",
                               stdin=io.StringIO(""), stdout=out)
    transports = Transports([console])
    core = build_core(store, transports, WHITELIST, bot_nick="statusdesk",
                      page_url="https://status.test", clock=clock)
    holds = None
    known = None
    if components:
        entries = [ComponentEntry(name=name) for name in components]
        await sync_components(store, entries, clock=clock)
        board = ComponentBoard(transports.channels)
        core.desk.add_extension(ComponentsExtension(board))
        holds = BoardHolds(board)
        known = known_components([(e.id, e.name) for e in entries])
    maintenance = Maintenance(config or MaintenanceConfig(), store, core.bus,
                              transports.channels, bot_nick="statusdesk", clock=clock,
                              components=lambda: known, holds=holds)
    maintenance.connect(core.outbox.wake)
    core.desk.add_extension(maintenance.extension)
    rig = Rig(core.desk, store, core.outbox, maintenance, out, clock)
    core.bus.subscribe(rig.events.append)
    yield rig


async def test_a_window_from_schedule_to_complete(store: Store) -> None:
    clock = Clock(T0)
    async with rig_on(store, clock) as rig:
        assert await rig.say("#maintenance schedule 2026-12-06 10:00 1h on Gerrit,zuul "
                             "Gerrit upgrade") == [
            "Scheduled maintenance #1: Gerrit upgrade (2026-12-06 10:00–11:00 UTC on gerrit, "
            "zuul). I will announce it 1 h before the start and at the start."]
        assert rig.phases() == ["scheduled"]
        assert not any(isinstance(e, IncidentOpened) for e in rig.events)  # nobody paged
        assert await rig.tick() == []  # 2 h before: nothing yet
        assert await rig.say("#maintenance list", nick="carol") == [
            "#1 [scheduled] Gerrit upgrade (2026-12-06 10:00–11:00 UTC on gerrit, zuul)"]
        # Not an open incident: #incident list does not show it, #incident 1 does.
        assert await rig.say("#incident list", nick="carol") == ["No open incidents."]
        assert (await rig.say("#incident 1", nick="carol"))[0].startswith("#1 [sev4 scheduled]")

        clock.now = T0 + timedelta(hours=1)
        assert await rig.tick() == [
            "-statusdesk- Maintenance #1 starts in 1 h: Gerrit upgrade "
            "(2026-12-06 10:00–11:00 UTC on gerrit, zuul)."]
        assert await rig.tick() == []  # once
        clock.now = T0 + timedelta(hours=2)
        assert await rig.tick() == [
            "-statusdesk- Maintenance #1 has started: Gerrit upgrade "
            "(2026-12-06 10:00–11:00 UTC on gerrit, zuul)."]
        assert await rig.tick() == []
        clock.now = T0 + timedelta(hours=3)
        asked = await rig.tick()
        assert asked == [
            "-statusdesk- Maintenance #1 (Gerrit upgrade) was planned to end at "
            "11:00 UTC: is it complete? Say #maintenance 1 complete when it is; until then it "
            "shows as overrunning."]
        clock.now = T0 + timedelta(hours=3, minutes=40)
        assert await rig.tick() == []  # asked once; it stays in progress
        assert await rig.say("#maintenance list") == [
            "#1 [in progress, planned to end 11:00, overrunning by 40 min] Gerrit upgrade "
            "(2026-12-06 10:00–11:00 UTC on gerrit, zuul)"]
        now = await rig.say("#now", nick="carol")
        assert ("Maintenance #1 Gerrit upgrade: in progress, planned to end 11:00 (UTC), "
                "overrunning by 40 min") in now
        assert not any(line.startswith("All clear") for line in now)
        assert await rig.say("#maintenance 1 complete", nick="bob") == [
            "you are not authorized to use #maintenance ID"]
        assert await rig.say("#maintenance 1 complete all done") == [
            "Completed maintenance #1; announced in every channel."]
        assert await rig.deliver() == [
            "-statusdesk- Maintenance #1 is complete: Gerrit upgrade. all done"]
        assert await rig.say("#maintenance 1 complete") == [
            "Cannot complete maintenance #1: it is completed."]
        assert await rig.say("#maintenance list") == [
            "No maintenance scheduled or in progress."]
        assert not any("Maintenance" in line for line in await rig.say("#now", nick="carol"))
    assert rig.phases() == ["scheduled", "announced", "started", "overrunning", "completed"]
    changed = [e for e in rig.events if isinstance(e, MaintenanceChanged)]
    assert changed[0].components == ("gerrit", "zuul")
    async with store.reading() as tx:
        found = await tx.maintenance.get(1)
        assert found is not None and found.incident.kind == "maintenance"
        assert found.incident.state == "completed"
        entries = await tx.timeline.entries_of([1])
        kinds = [e.kind for e in entries[1]]
        assert kinds == ["opened", "maintenance.heads_up", "state", "maintenance.end_asked",
                         "state"]


async def test_start_early_cancel_and_refusals(store: Store) -> None:
    clock = Clock(T0)
    async with rig_on(store, clock, MaintenanceConfig(announce_before=None,
                                                      timezone="Europe/Berlin")) as rig:
        assert await rig.say("#maintenance schedule 2026-12-06 08:00 1h x") == [
            "2026-12-06 08:00 Europe/Berlin has passed already: a maintenance window starts "
            "in the future. Usage: #maintenance schedule YYYY-MM-DD HH:MM DURATION "
            "[on NAME[,NAME...]] TITLE — schedule a maintenance window (time in "
            "maintenance.timezone, DURATION like 30m, 2h, 1h30m); I answer with its id"]
        assert (await rig.say("#maintenance schedule 2026-12-06 12:00 30m Zuul restart"))[0] \
            .endswith("I will announce it at the start.")
        assert await rig.say("#maintenance schedule 2026-12-07 12:00 30m DB") != []
        assert await rig.say("#incident open sev2 real trouble", nick="bob") != []
        assert await rig.say("#incident 1 resolved", nick="bob") == [
            "#1 is a maintenance window: use #maintenance 1 start|complete|cancel."]
        assert await rig.say("#incident 1 sev1", nick="bob") == [
            "#1 is a maintenance window: use #maintenance 1 start|complete|cancel."]
        assert await rig.say("#maintenance 3 start") == [
            "#3 is not a maintenance window (#maintenance list shows them)."]
        assert await rig.say("#maintenance 9 start") == [
            "#9 is not a maintenance window (#maintenance list shows them)."]
        assert await rig.say("#maintenance 1 start starting early") == [
            "Started maintenance #1; announced in every channel."]
        assert await rig.deliver() == [
            "-statusdesk- Maintenance #1 has started: Zuul restart "
            "(2026-12-06 12:00–12:30 Europe/Berlin). starting early"]
        clock.now = T0 + timedelta(hours=3)  # 12:00 Berlin: the start timer has nothing to do
        assert await rig.tick() == []
        assert await rig.say("#maintenance 2 cancel moved to next week") == [
            "Cancelled maintenance #2; announced in every channel."]
        assert await rig.deliver() == [
            "-statusdesk- Maintenance #2 is cancelled: DB (was 2026-12-07 "
            "12:00–12:30 Europe/Berlin). moved to next week"]
        assert await rig.say("#maintenance 1 cancel") == [
            "Cannot cancel maintenance #1: it is in progress: #maintenance 1 complete ends it."]
        clock.now = T0 + timedelta(days=2)
        assert await rig.tick() != []  # #1's end question; #2 never starts
        assert rig.phases() == ["scheduled", "scheduled", "started", "cancelled",
                                "overrunning"]


async def test_restart_neither_repeats_nor_loses_a_timer(db_url: str) -> None:
    clock = Clock(T0)
    async with opened_store(db_url) as store:
        await upgrade(store.engine)
        async with rig_on(store, clock) as rig:
            await rig.say("#maintenance schedule 2026-12-06 10:00 1h Gerrit upgrade")
            clock.now = T0 + timedelta(hours=1, minutes=1)
            heads_up = await rig.tick()
            assert heads_up == [
                "-statusdesk- Maintenance #1 starts in 59 min: Gerrit upgrade "
                "(2026-12-06 10:00–11:00 UTC)."]
    # The bot is down over the start; it comes back at 10:20.
    clock.now = T0 + timedelta(hours=2, minutes=20)
    async with opened_store(db_url) as store, rig_on(store, clock) as rig:
        first = await rig.tick()
        assert first == [
            "-statusdesk- Maintenance #1 has started: Gerrit upgrade "
            "(2026-12-06 10:00–11:00 UTC)."]  # caught up once, no second heads-up
        assert await rig.tick() == []
        assert rig.phases() == ["started"]
    # And once more: nothing to repeat.
    async with opened_store(db_url) as store, rig_on(store, clock) as rig:
        assert await rig.tick() == []
        clock.now = T0 + timedelta(hours=3)
        assert len(await rig.tick()) == 1  # the end question
        assert rig.phases() == ["overrunning"]


# --- components held by a window ----------------------------------------------------------------


async def statuses(store: Store) -> dict[str, str]:
    async with store.reading() as tx:
        return {c.id: c.status for c in await tx.components.all()}


async def test_a_window_holds_its_components_and_worst_wins(store: Store) -> None:
    clock = Clock(T0)
    async with rig_on(store, clock, components=["Gerrit", "Code review", "Zuul"]) as rig:
        assert (await rig.say("#maintenance schedule 2026-12-06 10:00 1h on jenkins x"))[0] \
            .startswith("unknown component(s) jenkins (components: code-review, gerrit, zuul)")
        assert (await rig.say("#maintenance schedule 2026-12-06 10:00 1h on GERRIT,code-review "
                              "Gerrit upgrade"))[0].startswith(
            "Scheduled maintenance #1: Gerrit upgrade (2026-12-06 10:00–11:00 UTC on gerrit, "
            "code-review)")
        assert set((await statuses(store)).values()) == {"operational"}
        clock.now = T0 + timedelta(hours=2)
        await rig.tick()
        assert await statuses(store) == {"gerrit": "under_maintenance",
                                         "code-review": "under_maintenance",
                                         "zuul": "operational"}
        # An outage during the window: worse than maintenance, so it shows.
        assert await rig.say("#incident open sev2 Gerrit down", nick="bob") != []
        assert await rig.say("#incident 2 affects gerrit major_outage", nick="bob") != []
        assert (await statuses(store))["gerrit"] == "major_outage"
        assert await rig.say("#maintenance 1 complete") != []
        # The window lets go: code-review returns to operational, gerrit stays held.
        assert await statuses(store) == {"gerrit": "major_outage",
                                         "code-review": "operational",
                                         "zuul": "operational"}
        assert await rig.say("#incident 2 resolved", nick="bob") != []
        assert set((await statuses(store)).values()) == {"operational"}
    changed = [(e.component_id, e.new) for e in rig.events
               if isinstance(e, ComponentChanged)]
    assert ("gerrit", "under_maintenance") in changed
    assert ("code-review", "operational") in changed


# --- the whole app over HTTP ---------------------------------------------------------------------


async def test_the_page_and_the_documents_over_http(db_url: str, tmp_path: Path) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    async with run_app(db_url, tmp_path) as running:
        answer = await running.say(
            f"#maintenance schedule {start:%Y-%m-%d %H:%M} 2h on gerrit Gerrit <b>upgrade</b>")
        assert answer[0].startswith("Scheduled maintenance #1: Gerrit <b>upgrade</b>")
        await running.say("#incident open sev2 Zuul is slow")
        await running.settled()
        status, headers, body = await running.get("/api/v2/scheduled-maintenances/upcoming.json")
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
        (upcoming,) = json.loads(body)["scheduled_maintenances"]
        assert (upcoming["id"], upcoming["status"], upcoming["name"]) == \
            ("1", "scheduled", "Gerrit <b>upgrade</b>")
        assert upcoming["scheduled_for"] == f"{start:%Y-%m-%dT%H:%M}:00.000Z"
        summary = json.loads((await running.get("/api/v2/summary.json"))[2])
        assert [m["id"] for m in summary["scheduled_maintenances"]] == ["1"]
        assert [i["id"] for i in summary["incidents"]] == ["2"]  # the window is no incident
        status, headers, body = await running.get("/maintenances.ics")
        assert status == 200 and headers["Content-Type"].startswith("text/calendar")
        assert b"UID:maintenance-1@status.example.org" in body
        html = (await running.get("/"))[2].decode()
        assert "Gerrit &lt;b&gt;upgrade&lt;/b&gt;" in html and "<b>upgrade" not in html
        assert (await running.get("/incidents/1"))[0] == 200

        assert await running.say("#maintenance 1 start early") == [
            "Started maintenance #1; announced in every channel."]
        await running.settled()
        (active,) = json.loads((await running.get(
            "/api/v2/scheduled-maintenances/active.json"))[2])["scheduled_maintenances"]
        assert active["status"] == "in_progress"
        html = (await running.get("/"))[2].decode()
        assert f"In progress, planned to end {start + timedelta(hours=2):%H:%M}" in html
        assert await running.say("#maintenance 1 complete") == [
            "Completed maintenance #1; announced in every channel."]
        await running.settled()
        assert json.loads((await running.get(
            "/api/v2/scheduled-maintenances/active.json"))[2])["scheduled_maintenances"] == []
        (done,) = json.loads((await running.get(
            "/api/v2/scheduled-maintenances.json"))[2])["scheduled_maintenances"]
        assert done["status"] == "completed" and done["resolved_at"] is not None
        atom = (await running.get("/feed.atom"))[2].decode()
        assert "Maintenance #1 Gerrit &lt;b&gt;upgrade&lt;/b&gt; — completed" in atom
        assert (running.export_dir / "maintenances.ics").exists()


# --- failover (PostgreSQL) -----------------------------------------------------------------------


async def test_after_failover_the_new_leader_fires_the_pending_timer_once(pg_url: str) -> None:
    """Two instances on one PostgreSQL database, each with its own timers and channel. The
    leader schedules a window and gives the heads-up, then loses the lease before the start;
    the new leader fires the start once, the deposed one can fire nothing."""
    dsn = asyncpg_dsn(pg_url)
    clock = Clock(T0)
    old_session, new_session = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        async with opened_store(pg_url) as old_store, opened_store(pg_url) as new_store:
            await upgrade(old_store.engine)
            async with rig_on(old_store, clock) as old, rig_on(new_store, clock) as new:
                old_grant = await LeaseSession(old_session).take("old", 30.0, None)
                assert old_grant is not None
                fencing = FENCING_TERM.set(old_grant.term)
                try:
                    await old.say("#maintenance schedule 2026-12-06 10:00 1h Gerrit upgrade")
                    clock.now = T0 + timedelta(hours=1)
                    assert len(await old.tick()) == 1  # the heads-up
                finally:
                    FENCING_TERM.reset(fencing)

                # The old leader's session dies; the standby takes over. The start falls due.
                await old_session.close()
                new_grant = await LeaseSession(new_session).take("new", 30.0, None)
                assert new_grant is not None and new_grant.term == old_grant.term + 1
                clock.now = T0 + timedelta(hours=2, minutes=1)

                fencing = FENCING_TERM.set(old_grant.term)
                try:
                    with pytest.raises(LeaseLost):
                        await old.maintenance.timers.check()
                finally:
                    FENCING_TERM.reset(fencing)
                assert old.phases() == ["scheduled", "announced"]

                fencing = FENCING_TERM.set(new_grant.term)
                try:
                    await new.worker.take_over()
                    assert await new.maintenance.timers.check() == 1
                    assert await new.maintenance.timers.check() == 0
                    # Both consoles are the same channel name: the new leader delivers.
                    assert await new.deliver() == [
                        "-statusdesk- Maintenance #1 has started: Gerrit upgrade "
                        "(2026-12-06 10:00–11:00 UTC)."]
                finally:
                    FENCING_TERM.reset(fencing)
                assert new.phases() == ["started"]
            async with new_store.reading() as tx:
                found = await tx.maintenance.get(1)
                assert found is not None and found.window.phase == "in_progress"
                assert found.window.heads_up_at == T0 + timedelta(hours=1)
    finally:
        for session in (old_session, new_session):
            if not session.is_closed():
                await session.close()
