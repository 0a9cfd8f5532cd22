"""/metrics' incident figures from running tallies stay equal to a recount over every
incident, on SQLite and PostgreSQL, through the changes that move them."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.incidents.metrics import Aggregate, IncidentTimes
from bot.incidents.milestone_tally import MEASURES, TallyReader
from bot.web.app import _read_database_metrics
from bot.web.metrics import MetricSources, render
from storage.db import open_store, upgrade
from storage.unit_of_work import Store
from tests.harness import eventually, run_app

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def _recount(store: Store) -> tuple[int, dict[str, Aggregate]]:
    async with store.reading() as tx:
        rows = await tx.incidents.milestones()
    times = [IncidentTimes.of(m) for m in rows]
    return (sum(1 for m in rows if m.state != "resolved"),
            {name: Aggregate.of([getattr(t, name) for t in times]) for name in MEASURES})


async def _assert_tally_is_a_recount(store: Store, reader: TallyReader) -> None:
    async with store.reading() as tx:
        tally = await reader.refresh(tx)
    open_count, expected = await _recount(store)
    assert tally.incidents_open == open_count
    assert tally.aggregates() == expected


async def _set(store: Store, incident_id: int, state: str, at: datetime) -> None:
    async with store.transaction() as tx:
        incident = await tx.incidents.get(incident_id, for_update=True)
        assert incident is not None
        tx.incidents.set_state(incident, state, at)


async def test_tally_follows_every_change_that_moves_a_figure(store: Store) -> None:
    reader = TallyReader()
    await _assert_tally_is_a_recount(store, reader)  # nothing yet
    ids = []
    async with store.transaction() as tx:
        # More than one batch of the first fill.
        for n in range(1200):
            incident = await tx.incidents.open(title=f"Outage {n}", severity=2,
                                               opened_by="alice", at=T0 + timedelta(hours=n))
            ids.append(incident.id)
            if n % 3:
                tx.incidents.set_state(incident, "identified",
                                       T0 + timedelta(hours=n, minutes=n % 50))
            if n % 2:
                tx.incidents.set_state(incident, "resolved", T0 + timedelta(hours=n, minutes=55))
    await _assert_tally_is_a_recount(store, reader)

    # Open ones move: identified, acknowledged (a page), resolved.
    await _set(store, ids[0], "identified", T0 + timedelta(minutes=7))
    await _set(store, ids[2], "resolved", T0 + timedelta(hours=2, minutes=40))
    async with store.transaction() as tx:
        incident = await tx.incidents.get(ids[4], for_update=True)
        assert incident is not None
        incident.acknowledged_at = incident.opened_at + timedelta(minutes=3)
    await _assert_tally_is_a_recount(store, reader)

    # Reopened and resolved again between two scrapes: a new resolution time.
    await _set(store, ids[1], "investigating", T0 + timedelta(hours=3000))
    await _set(store, ids[1], "resolved", T0 + timedelta(hours=3001))
    # A new incident, and a maintenance window (not an incident: not counted).
    async with store.transaction() as tx:
        await tx.incidents.open(title="New", severity=1, opened_by="bob",
                                at=T0 + timedelta(hours=3002))
        await tx.maintenance.schedule(title="Upgrade", starts_at=T0, ends_at=T0,
                                      timezone="UTC", components=[], scheduled_by="bob",
                                      at=T0 + timedelta(hours=3002))
    await _assert_tally_is_a_recount(store, reader)
    # A fresh reader (a restarted instance) gets the same figures.
    await _assert_tally_is_a_recount(store, TallyReader())


async def test_warm_up_reads_every_incident_and_scrapes_meanwhile_do_not_wait(
        store: Store) -> None:
    """The leader's warm-up (bot/app.py, at the start of a term) reads every incident in
    the background, a batch per transaction; a scrape meanwhile reports the outbox figures
    and leaves the incident ones alone rather than wait or report a part of them."""
    async with store.transaction() as tx:
        for n in range(1200):  # three batches
            incident = await tx.incidents.open(title=f"Outage {n}", severity=2,
                                               opened_by="alice", at=T0 + timedelta(hours=n))
            if n % 2:
                tx.incidents.set_state(incident, "resolved", T0 + timedelta(hours=n, minutes=9))
    reader = TallyReader()
    sources = MetricSources(
        commands=dict, delivered=int, delivery_failures=int, renders=int,
        render_seconds=float, sse_clients=int, sse_dropped=int, transports_connected=dict,
        tally_reader=reader)
    # The reader's lock held, the warm-up stays at its first batch until the scrape is over:
    # without it, three quick batches could all land while the scrape waited for its
    # connection, and it would (rightly) report every figure (seen once under load).
    async with reader._lock:
        warm = asyncio.create_task(reader.warm(store))
        await asyncio.sleep(0)
        assert reader.warming and not reader.caught_up
        await _read_database_metrics(store, sources)
        assert reader.warming and not reader.caught_up
    assert sources.incident_aggregates is None and sources.incidents_open == 0
    # Unknown is absent, not 0: "no open incidents" would be a lie in mid-outage.
    assert b"statusdesk_incidents_open" not in render(sources)
    assert b"statusdesk_incident_time_to_resolve" not in render(sources)
    await warm
    assert reader.caught_up and not reader.warming
    assert len(reader.tally) == 1200
    await _read_database_metrics(store, sources)
    open_count, expected = await _recount(store)
    assert sources.incidents_open == open_count == 600
    assert sources.incident_aggregates == expected
    assert b"\nstatusdesk_incidents_open 600.0\n" in render(sources)
    await _assert_tally_is_a_recount(store, reader)


async def test_a_cancelled_warm_up_leaves_the_catch_up_to_the_next_scrape(
        store: Store) -> None:
    async with store.transaction() as tx:
        for n in range(1200):  # resolved: the first batch reads 500 of them, not all
            incident = await tx.incidents.open(title=f"Outage {n}", severity=2,
                                               opened_by="alice", at=T0 + timedelta(hours=n))
            tx.incidents.set_state(incident, "resolved", T0 + timedelta(hours=n, minutes=9))
    reader = TallyReader()
    warm = asyncio.create_task(reader.warm(store))
    for _ in range(5000):  # until its first batch is in
        if len(reader.tally):
            break
        await asyncio.sleep(0.001)
    assert 0 < len(reader.tally) < 1200
    warm.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await warm
    assert not reader.warming and not reader.caught_up
    await _assert_tally_is_a_recount(store, reader)


async def test_the_leader_warms_the_tally_up_without_a_scrape(db_url: str,
                                                               tmp_path: Path) -> None:
    store = open_store(db_url)
    await upgrade(store.engine)
    async with store.transaction() as tx:
        for n in range(1200):
            incident = await tx.incidents.open(title=f"Outage {n}", severity=2,
                                               opened_by="alice", at=T0 + timedelta(hours=n))
            if n % 4:
                tx.incidents.set_state(incident, "resolved", T0 + timedelta(hours=n, minutes=9))
    await store.close()
    async with run_app(db_url, tmp_path) as running:
        reader = running.app.tally_reader
        await eventually(lambda: reader.caught_up)
        assert len(reader.tally) == 1200 and reader.tally.incidents_open == 300
        status, _, body = await running.get("/metrics")
    assert status == 200
    assert "\nstatusdesk_incidents_open 300.0\n" in body.decode()
