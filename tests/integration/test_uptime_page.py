"""Uptime history on the status page: the history read from storage (SQLite and
PostgreSQL), the bars on `/`, and the rebuild at UTC midnight (a test clock decides `now`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from sqlalchemy import event

from bot.web.snapshot import OUTAGE_REFRESH_SECONDS, Snapshot
from bot.web.state import load_page_state
from bot.web.uptime import MAJOR, NO_DATA, OPERATIONAL, PARTIAL, history_start
from storage.components import DeclaredComponent
from storage.unit_of_work import Store
from tests.clock import Clock

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def _eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.02)


@contextmanager
def counted_statements(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)


async def declare(store: Store, names: list[str], at: datetime) -> None:
    async with store.transaction() as tx:
        await tx.components.sync(
            [DeclaredComponent(n.lower(), n, "Group") for n in names], at)


async def set_status(store: Store, component: str, status: str, at: datetime,
                     incident: int | None = None) -> None:
    async with store.transaction() as tx:
        row = await tx.components.get(component, for_update=True)
        assert row is not None
        await tx.components.set_status(row, status, at, actor="alice", incident_id=incident)


async def incident_holding(store: Store, component: str, title: str, status: str,
                           opened: datetime, resolved: datetime | None = None) -> int:
    """An incident that holds `component` at `status` from `opened` (to `resolved`)."""
    async with store.transaction() as tx:
        incident = await tx.incidents.open(title=title, severity=2, opened_by="alice",
                                           at=opened)
        await tx.components.hold(incident.id, component, status, opened, "alice")
        row = await tx.components.get(component, for_update=True)
        assert row is not None
        await tx.components.set_status(row, status, opened, actor="alice",
                                       incident_id=incident.id)
        incident_id = incident.id
    if resolved is not None:
        async with store.transaction() as tx:
            found = await tx.incidents.get(incident_id, for_update=True)
            assert found is not None
            found.state, found.resolved_at, found.updated_at = "resolved", resolved, resolved
            await tx.components.release(incident_id, resolved)
            row = await tx.components.get(component, for_update=True)
            assert row is not None
            await tx.components.set_status(row, OPERATIONAL, resolved, actor="alice",
                                           incident_id=incident_id)
    return incident_id


async def test_history_is_read_for_the_window_only_and_drawn_per_component(store: Store) -> None:
    start = history_start(NOW)
    await declare(store, ["Gerrit", "Zuul"], NOW - 200 * DAY)
    # Before the window: an outage that must not count, and an incident that must not show.
    await incident_holding(store, "gerrit", "old outage", MAJOR, NOW - 120 * DAY,
                           NOW - 119 * DAY)
    # Inside: a partial outage across a midnight, and Zuul down since an hour, still open.
    three_days_ago = datetime.combine((NOW - 3 * DAY).date(), datetime.min.time(), UTC)
    gerrit = await incident_holding(store, "gerrit", "Gerrit slow <b>clones</b>", PARTIAL,
                                    three_days_ago - timedelta(hours=2),
                                    three_days_ago + timedelta(hours=4))
    zuul = await incident_holding(store, "zuul", "Zuul down", MAJOR, NOW - timedelta(hours=1))

    async with store.reading() as tx:
        rows = await tx.uptime.since(start)
    assert all(c.at.replace(tzinfo=UTC) >= start for c in rows.changes)
    assert [(c.component_id, c.new_status) for c in rows.changes] == [
        ("gerrit", PARTIAL), ("gerrit", OPERATIONAL), ("zuul", MAJOR)]
    assert sorted((h.component_id, h.incident_id, h.end is None) for h in rows.holds) == [
        ("gerrit", gerrit, False), ("zuul", zuul, True)]

    state = await load_page_state(store, title="Status", url="https://status.test", now=NOW)
    bars = state.uptime["gerrit"].bars
    assert len(bars) == 90
    assert [b.status for b in bars[-6:]] == [OPERATIONAL, PARTIAL, PARTIAL, OPERATIONAL,
                                              OPERATIONAL, OPERATIONAL]
    assert [i.title for i in bars[-5].incidents] == ["Gerrit slow <b>clones</b>"]
    assert [i.id for i in bars[-4].incidents] == [gerrit]
    assert bars[-3].incidents == ()
    assert bars[-5].down == 2 * 3600 * 0.5 and bars[-4].down == 4 * 3600 * 0.5
    window = (NOW - start).total_seconds()
    assert state.uptime["gerrit"].uptime == 100 * (1 - 3 * 3600 / window)
    zuul_bars = state.uptime["zuul"].bars
    assert zuul_bars[-1].status == MAJOR and zuul_bars[-1].down == 3600
    assert [i.id for i in zuul_bars[-1].incidents] == [zuul]
    assert {b.status for b in zuul_bars[:-1]} == {OPERATIONAL}


async def test_a_component_declared_lately_has_no_data_before(store: Store) -> None:
    await declare(store, ["Gerrit"], NOW - 10 * DAY + timedelta(hours=6))  # 11-11 18:00
    state = await load_page_state(store, title="Status", url="https://status.test", now=NOW)
    history = state.uptime["gerrit"]
    assert [b.status for b in history.bars].count(NO_DATA) == 79
    assert (history.bars[79].day.isoformat(), history.bars[79].observed) == ("2026-11-11",
                                                                             6 * 3600)
    assert history.uptime == 100.0


async def test_one_read_whatever_the_number_of_components(store: Store) -> None:
    async def statements_for(names: list[str]) -> int:
        await declare(store, names, NOW - 100 * DAY)
        for n, name in enumerate(names):
            await incident_holding(store, name.lower(), f"outage {n}", MAJOR,
                                   NOW - (n + 2) * DAY, NOW - (n + 2) * DAY + timedelta(hours=1))
        with counted_statements(store) as statements:
            state = await load_page_state(store, title="S", url="https://s.test", now=NOW)
        assert len(state.uptime) == len(names)
        return len(statements)

    few = await statements_for(["A", "B"])
    many = await statements_for([f"C{n}" for n in range(12)])
    assert many == few


async def test_no_components_no_history_read(store: Store) -> None:
    with counted_statements(store) as statements:
        state = await load_page_state(store, title="S", url="https://s.test", now=NOW)
    assert state.uptime == {}
    assert not any("component_changes" in s for s in statements)


async def test_the_page_is_rebuilt_at_utc_midnight(store: Store) -> None:
    clock = Clock(datetime(2026, 11, 21, 23, 59, 59, 500000, tzinfo=UTC))
    await declare(store, ["Gerrit"], NOW - 100 * DAY)
    snapshot = Snapshot(store, title="Status", url="https://status.test", clock=clock,
                        day_check=0.1)
    await snapshot.start()
    try:
        assert snapshot.state is not None
        assert snapshot.state.uptime["gerrit"].bars[-1].day.isoformat() == "2026-11-21"
        renders = snapshot.renders
        await asyncio.sleep(0.8)  # still the same day by the clock: nothing to do
        assert snapshot.renders == renders
        clock.advance(seconds=1)
        await _eventually(lambda: snapshot.renders == renders + 1)
        assert snapshot.state.uptime["gerrit"].bars[-1].day.isoformat() == "2026-11-22"
        await asyncio.sleep(0.3)
        assert snapshot.renders == renders + 1  # once per day, not once per look
    finally:
        await snapshot.stop()


class _PageBars(HTMLParser):
    """Each component's bars (`li.day` inside `#uptime-ID`) with their titles."""

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        self.bars: dict[str, list[str]] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "div" and (found.get("id") or "").startswith("uptime-"):
            self.current = (found["id"] or "").removeprefix("uptime-")
            self.bars[self.current] = []
        if tag == "li" and "day" in (found.get("class") or "").split() and self.current:
            self.bars[self.current].append(found.get("title") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


async def test_the_front_page_draws_90_bars_per_component_with_titles(store: Store) -> None:
    await declare(store, ["Gerrit", "Zuul"], NOW - 100 * DAY)
    yesterday = NOW - DAY
    incident = await incident_holding(store, "gerrit", "Gerrit <down>", MAJOR, yesterday,
                                      yesterday + timedelta(hours=2))
    snapshot = Snapshot(store, title="Status", url="https://status.test", clock=Clock(NOW))
    await snapshot.start()
    try:
        document = snapshot.hot("/")
        assert document is not None
        html = document.body.decode()
    finally:
        await snapshot.stop()
    parsed = _PageBars()
    parsed.feed(html)
    assert sorted(parsed.bars) == ["gerrit", "zuul"]
    assert all(len(titles) == 90 and all(titles) for titles in parsed.bars.values())
    assert parsed.bars["gerrit"][-2] == (
        f"2026-11-20 · Major outage · 91.66% uptime · #{incident} Gerrit <down>")
    assert "<down>" not in html  # escaped
    text = " ".join("".join(parsed.text).split())
    window = (NOW - history_start(NOW)).total_seconds()
    expected = f"{int(100 * (1 - 7200 / window) * 100) / 100:.2f}%"
    assert f"{expected} uptime over the last 90 days" in text
    assert "100% uptime over the last 90 days" in text  # Zuul
    assert "1 day with problems on Gerrit" in text


async def test_while_a_component_is_down_the_page_is_rebuilt_every_few_minutes(
        store: Store) -> None:
    clock = Clock(NOW)
    await declare(store, ["Gerrit", "Zuul"], NOW - 100 * DAY)
    snapshot = Snapshot(store, title="Status", url="https://status.test", clock=clock,
                        day_check=0.05)
    await snapshot.start()
    try:
        renders = snapshot.renders
        clock.advance(seconds=OUTAGE_REFRESH_SECONDS + 1)
        await asyncio.sleep(0.5)
        assert snapshot.renders == renders  # all operational: nothing falls, nothing to do

        await set_status(store, "zuul", MAJOR, clock())
        snapshot.refresh()
        await _eventually(lambda: snapshot.renders == renders + 1)
        assert snapshot.state is not None
        assert snapshot.state.uptime["zuul"].bars[-1].down == 0
        clock.advance(seconds=OUTAGE_REFRESH_SECONDS - 10)
        await asyncio.sleep(0.5)
        assert snapshot.renders == renders + 1
        clock.advance(seconds=10)
        await _eventually(lambda: snapshot.renders == renders + 2)
        assert snapshot.state.uptime["zuul"].bars[-1].down == OUTAGE_REFRESH_SECONDS
    finally:
        await snapshot.stop()
