"""Reminders on SQLite and PostgreSQL: nudges queued by the scheduler, opened and updated
through the real desk, delivered through the real outbox into the console transport."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import IncidentsConfig, QuietHours
from bot.core.desk import Desk
from bot.core.ports import Channel, Identity, Message
from bot.core.transport_state import StoredTransportState
from bot.delivery.outbox import OutboxWorker
from bot.incidents.reminders import (
    REMINDER_IDENTITY,
    ReminderScheduler,
    held_by_quiet_hours,
    in_quiet_hours,
    missing_roles,
    roles_key,
    roles_text,
    stale_key,
    stale_period,
)
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from bot.wiring import build_core
from commands.auth import Whitelist
from storage.timeline import Where
from storage.unit_of_work import Store
from tests.clock import Clock
from tests.harness import delivered_lines

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietHours.model_validate(
    {"from": "22:00", "to": "07:00", "timezone": "Europe/Berlin", "below_severity": 2}
)


def stale(n: int, sev: int, state: str, quiet_for: str) -> str:
    return (f'-statusdesk- Incident #{n} (sev{sev}, {state}) has had no update for {quiet_for}: '
            f'post one with "#incident {n} STATE TEXT", "#status notice TEXT" or '
            f'"#log {n} TEXT".')


# --- pure helpers --------------------------------------------------------------------------------


def test_stale_period() -> None:
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    every = timedelta(minutes=30)
    assert stale_period(t0, t0, every) == 0
    assert stale_period(t0, t0 + timedelta(minutes=29, seconds=59), every) == 0
    assert stale_period(t0, t0 + every, every) == 1
    assert stale_period(t0, t0 + timedelta(minutes=89), every) == 2
    assert stale_period(t0, t0 - timedelta(minutes=5), every) == 0  # clock skew


def test_stale_key_names_the_update_and_the_period() -> None:
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert stale_key(12, t0, 3) == "remind:stale:12:20260101T120000.000000Z:3"
    # The same instant in another zone is the same key; a later update is another.
    assert stale_key(12, t0.astimezone(BERLIN), 3) == stale_key(12, t0, 3)
    assert stale_key(12, t0 + timedelta(minutes=1), 1) != stale_key(12, t0, 1)


def test_missing_roles_and_their_text() -> None:
    assert missing_roles("bob", "carol") is None
    assert missing_roles(None, "carol") == "lead"
    assert missing_roles("bob", None) == "em"
    assert missing_roles(None, "") == "lead+em"
    assert roles_key(12, "lead+em") == "remind:roles:12:lead+em"
    assert roles_text(12, "lead+em") == (
        'Incident #12 has no incident lead and no escalation manager: set them with '
        '"#incident 12 lead NICK" / "#incident 12 em NICK".')
    assert roles_text(12, "lead") == (
        'Incident #12 has no incident lead: set one with "#incident 12 lead NICK".')
    assert roles_text(12, "em") == (
        'Incident #12 has no escalation manager: set one with "#incident 12 em NICK".')


def test_quiet_hours_window() -> None:
    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 1, 1, hour, minute, tzinfo=UTC)

    # Across midnight, in UTC.
    night = (time(22, 0), time(7, 0), UTC)
    assert not in_quiet_hours(at(21, 59), *night)
    assert in_quiet_hours(at(22, 0), *night)
    assert in_quiet_hours(at(0, 0), *night)
    assert in_quiet_hours(at(6, 59), *night)
    assert not in_quiet_hours(at(7, 0), *night)
    # Within one day.
    lunch = (time(12, 0), time(13, 0), UTC)
    assert in_quiet_hours(at(12, 30), *lunch)
    assert not in_quiet_hours(at(13, 0), *lunch)
    assert not in_quiet_hours(at(11, 59), *lunch)
    # Local time: 21:30 UTC is 22:30 in Berlin in winter, 23:30 in summer.
    berlin = (time(22, 0), time(7, 0), BERLIN)
    assert in_quiet_hours(at(21, 30), *berlin)
    assert not in_quiet_hours(at(20, 30), *berlin)
    assert in_quiet_hours(datetime(2026, 7, 1, 20, 30, tzinfo=UTC), *berlin)
    assert not in_quiet_hours(at(6, 0), *berlin)  # 07:00 in Berlin


def test_quiet_hours_hold_only_milder_incidents() -> None:
    night = datetime(2026, 1, 1, 23, 0, tzinfo=UTC)  # 00:00 in Berlin
    day = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert [held_by_quiet_hours(sev, night, NIGHT) for sev in (1, 2, 3, 4)] == [
        False, False, True, True]
    assert not any(held_by_quiet_hours(sev, day, NIGHT) for sev in (1, 2, 3, 4))
    assert not held_by_quiet_hours(4, night, None)


# --- the scheduler -------------------------------------------------------------------------------


@dataclass
class Rig:
    desk: Desk
    store: Store
    worker: OutboxWorker
    scheduler: ReminderScheduler
    out: io.StringIO
    clock: Clock
    config: IncidentsConfig
    wakes: list[None]

    async def say(self, text: str) -> list[str]:
        identity = Identity(transport="console", nick="op", network="console",
                            local_operator=True)
        message = Message("console", "console", "console", "op", identity, text, addressed=True)
        return [r.text for r in await self.desk.handle(message)]

    async def check(self) -> int:
        return await self.scheduler.check()

    async def deliver(self) -> list[str]:
        return await delivered_lines(self.worker, self.out)

    def another_scheduler(self) -> ReminderScheduler:
        return ReminderScheduler(self.store, self.config, bot_nick="statusdesk",
                                 clock=self.clock)


async def make_rig(store: Store, config: IncidentsConfig, start: datetime) -> Rig:
    out = io.StringIO()
    console = ConsoleTransport(StoredTransportState(store, "console"), bot_nick="statusdesk",
                               stdin=io.StringIO(""), stdout=out)
    transports = Transports([console])
    clock = Clock(start)
    core = build_core(store, transports, Whitelist([]), bot_nick="statusdesk", clock=clock)
    desk, worker = core.desk, core.outbox
    wakes: list[None] = []
    scheduler = ReminderScheduler(store, config, bot_nick="statusdesk", clock=clock,
                                  on_queued=lambda: wakes.append(None),
                                  fallback=transports.channels)
    return Rig(desk, store, worker, scheduler, out, clock, config, wakes)


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    config = IncidentsConfig.model_validate({"remind_after": "30m"})
    yield await make_rig(store, config, datetime(2026, 11, 21, 12, 0, tzinfo=UTC))


async def open_owned(rig: Rig, text: str) -> None:
    """Open an incident with lead and EM set, so only staleness can nudge it."""
    reply = await rig.say(f"#incident open {text}")
    number = reply[0].split("#", 1)[1].split(" ", 1)[0]
    await rig.say(f"#incident {number} lead bob")
    await rig.say(f"#incident {number} em carol")


async def test_a_quiet_incident_is_nudged_once_per_period(rig: Rig) -> None:
    await open_owned(rig, "sev2 Database down")
    rig.clock.advance(minutes=29)
    assert await rig.check() == 0
    assert await rig.deliver() == []
    assert rig.wakes == []

    rig.clock.advance(minutes=1)
    assert await rig.check() == 1
    assert rig.wakes == [None]
    for _ in range(5):
        assert await rig.check() == 0
    assert rig.wakes == [None]
    assert await rig.deliver() == [stale(1, 2, "investigating", "30m")]

    rig.clock.advance(minutes=29)
    assert await rig.check() == 0
    rig.clock.advance(minutes=1)
    assert await rig.check() == 1
    assert await rig.check() == 0
    assert await rig.deliver() == [stale(1, 2, "investigating", "1h")]

    rig.clock.advance(hours=1, minutes=10)
    assert await rig.check() == 1
    assert await rig.deliver() == [stale(1, 2, "investigating", "2h 10m")]


async def test_an_update_restarts_the_count(rig: Rig) -> None:
    await open_owned(rig, "sev2 Database down")
    rig.clock.advance(minutes=30)
    assert await rig.check() == 1
    assert await rig.deliver() == [stale(1, 2, "investigating", "30m")]

    rig.clock.advance(minutes=10)
    assert await rig.say("#log 1 restarted the primary") == ["Noted on incident #1."]
    rig.clock.advance(minutes=29)
    assert await rig.check() == 0
    rig.clock.advance(minutes=1)
    # The first period of a new silence: its own nudge, not the earlier one's key.
    assert await rig.check() == 1
    assert await rig.deliver() == [stale(1, 2, "investigating", "30m")]

    rig.clock.advance(minutes=5)
    assert await rig.say("#incident 1 identified bad index") == [
        "Incident #1 is now identified."]
    rig.clock.advance(minutes=29)
    assert await rig.check() == 0
    rig.clock.advance(minutes=1)
    assert await rig.check() == 1
    assert await rig.deliver() == [stale(1, 2, "identified", "30m")]


async def test_resolved_incidents_are_left_alone(rig: Rig) -> None:
    await rig.say("#incident open sev1 Database down")
    await rig.say("#incident 1 resolved")
    rig.clock.advance(hours=5)
    assert await rig.check() == 0
    assert await rig.deliver() == []


async def test_unowned_incidents_are_nudged_once_per_missing_combination(rig: Rig) -> None:
    await rig.say("#incident open sev2 Both missing")
    await rig.say("#incident open sev2 No lead")
    await rig.say("#incident 2 em carol")
    await rig.say("#incident open sev2 No em")
    await rig.say("#incident 3 lead bob")
    rig.clock.advance(minutes=29)
    assert await rig.check() == 0

    # Keep them fresh so only the roles nudge is due.
    for n in (1, 2, 3):
        await rig.say(f"#log {n} still looking")
    rig.clock.advance(minutes=1)
    assert await rig.check() == 3
    assert await rig.deliver() == [
        '-statusdesk- Incident #1 has no incident lead and no escalation manager: set them '
        'with "#incident 1 lead NICK" / "#incident 1 em NICK".',
        '-statusdesk- Incident #2 has no incident lead: set one with "#incident 2 lead NICK".',
        '-statusdesk- Incident #3 has no escalation manager: set one with '
        '"#incident 3 em NICK".',
    ]
    for _ in range(3):
        assert await rig.check() == 0

    # Half the roles filled: what is still missing is a new combination, told once.
    await rig.say("#incident 1 lead bob")
    assert await rig.check() == 1
    assert await rig.check() == 0
    assert await rig.deliver() == [
        '-statusdesk- Incident #1 has no escalation manager: set one with '
        '"#incident 1 em NICK".']
    await rig.say("#incident 1 em carol")
    assert await rig.check() == 0


async def test_both_nudges_in_one_pass(rig: Rig) -> None:
    await rig.say("#incident open sev3 Mirror slow")
    rig.clock.advance(minutes=45)
    assert await rig.check() == 2
    assert await rig.deliver() == [
        stale(1, 3, "investigating", "45m"),
        '-statusdesk- Incident #1 has no incident lead and no escalation manager: set them '
        'with "#incident 1 lead NICK" / "#incident 1 em NICK".',
    ]


async def test_a_nudge_is_a_private_reminder_on_the_timeline(rig: Rig) -> None:
    await open_owned(rig, "sev2 Database down")
    rig.clock.advance(minutes=30)
    assert await rig.check() == 1
    assert await rig.check() == 0
    async with rig.store.reading() as tx:
        reminders = [e for e in await tx.timeline.entries(1) if e.kind == "reminder"]
        assert len(reminders) == 1
        entry = reminders[0]
        assert (entry.actor, entry.identity, entry.public) == (
            "statusdesk", REMINDER_IDENTITY, False)
        assert (entry.transport, entry.network, entry.channel) == (
            "console", "console", "console")
        assert entry.at == rig.clock.now
        assert f"-statusdesk- {entry.text}" == stale(1, 2, "investigating", "30m")
        # Not an update: the reminder leaves updated_at alone, and the page shows no entry.
        incident = await tx.incidents.get(1)
        assert incident is not None
        assert incident.updated_at == rig.clock.now - timedelta(minutes=30)
        latest = await tx.timeline.latest_of([1])
        assert latest[1].kind != "reminder"


async def test_a_restart_does_not_nudge_twice(rig: Rig) -> None:
    await open_owned(rig, "sev2 Database down")
    rig.clock.advance(minutes=30)
    assert await rig.check() == 1
    restarted = rig.another_scheduler()
    assert await restarted.check() == 0
    assert await rig.deliver() == [stale(1, 2, "investigating", "30m")]
    rig.clock.advance(minutes=30)
    assert await restarted.check() == 1
    assert await rig.check() == 0
    assert await rig.deliver() == [stale(1, 2, "investigating", "1h")]
    async with rig.store.reading() as tx:
        kinds = [e.kind for e in await tx.timeline.entries(1)]
        assert kinds.count("reminder") == 2


async def test_quiet_hours_hold_milder_incidents_until_morning(store: Store) -> None:
    config = IncidentsConfig.model_validate({"remind_after": "30m", "quiet_hours": {
        "from": "22:00", "to": "07:00", "timezone": "Europe/Berlin", "below_severity": 2}})
    # 20:40 UTC on a winter evening: 21:40 in Berlin.
    rig = await make_rig(store, config, datetime(2026, 11, 21, 20, 40, tzinfo=UTC))
    await open_owned(rig, "sev1 Database down")
    await open_owned(rig, "sev3 Docs build slow")

    rig.clock.advance(minutes=30)  # 22:10 in Berlin
    assert await rig.check() == 1
    assert await rig.deliver() == [stale(1, 1, "investigating", "30m")]

    rig.clock.now = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    assert await rig.check() == 1
    assert await rig.deliver() == [stale(1, 1, "investigating", "2h 50m")]

    rig.clock.now = datetime(2026, 11, 22, 5, 59, tzinfo=UTC)  # 06:59 in Berlin
    assert await rig.check() == 1
    assert await rig.deliver() == [stale(1, 1, "investigating", "9h 19m")]

    rig.clock.now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)  # 07:00 in Berlin: over
    assert await rig.check() == 1
    assert await rig.deliver() == [stale(2, 3, "investigating", "9h 20m")]
    assert await rig.check() == 0
    async with rig.store.reading() as tx:
        kinds = [e.kind for e in await tx.timeline.entries(2)]
        assert kinds.count("reminder") == 1


async def test_held_roles_nudge_goes_out_after_the_window(store: Store) -> None:
    config = IncidentsConfig.model_validate({"remind_after": "30m", "quiet_hours": {
        "from": "22:00", "to": "07:00", "timezone": "Europe/Berlin", "below_severity": 2}})
    rig = await make_rig(store, config, datetime(2026, 11, 21, 22, 0, tzinfo=UTC))
    await rig.say("#incident open sev4 Typo on the status page")
    rig.clock.advance(hours=3)
    assert await rig.check() == 0
    rig.clock.now = datetime(2026, 11, 22, 6, 5, tzinfo=UTC)
    assert await rig.check() == 2
    lines = await rig.deliver()
    assert lines[0] == stale(1, 4, "investigating", "8h 5m")
    assert "has no incident lead and no escalation manager" in lines[1]


async def test_an_incident_without_a_channel_goes_to_every_broadcast_channel(
    store: Store,
) -> None:
    config = IncidentsConfig.model_validate({"remind_after": "30m"})
    rig = await make_rig(store, config, datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    start = rig.clock.now
    async with store.transaction() as tx:
        # Opened with no chat provenance (as an import or the API might).
        incident = await tx.incidents.open(title="Imported", severity=2, opened_by="api",
                                           at=start)
        incident.lead, incident.manager = "bob", "carol"
        await tx.timeline.append(incident.id, "opened", Where(actor="api"), start)
    extra = Channel("irc", "oftc", "#infra")
    rig.scheduler = ReminderScheduler(
        store, config, bot_nick="statusdesk", clock=rig.clock,
        fallback=lambda: [Channel("console", "console", "console"), extra])
    rig.clock.advance(minutes=30)
    assert await rig.check() == 1
    assert await rig.check() == 0
    async with store.reading() as tx:
        lanes = sorted(e.lane for e in await tx.outbox.pending())
        assert lanes == ["console/console/console", "irc/oftc/#infra"]
        (entry,) = [e for e in await tx.timeline.entries(1) if e.kind == "reminder"]
        assert entry.channel is None
    # The console gets it; the unknown network is given up on, not retried.
    assert await rig.deliver() == [stale(1, 2, "investigating", "30m")]


async def test_run_survives_a_failed_pass(store: Store) -> None:
    config = IncidentsConfig.model_validate({"remind_after": "30m"})
    scheduler = ReminderScheduler(store, config, bot_nick="statusdesk")
    calls: list[int] = []
    done = asyncio.Event()

    async def check() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        done.set()
        return 0

    scheduler.check = check  # type: ignore[method-assign]
    task = asyncio.create_task(scheduler.run(interval=0.01))
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 2
