"""A component's uptime history: daily bars and a weighted uptime percentage (pure).

Given the component's status changes, the incidents that touched it, `now` and a number of
days, this answers the bars the status page draws (one per UTC day, the worst status that
held during the day, the incidents open that day) and the uptime over the window. No I/O and
no clock of its own: the caller passes `now`, so a test or the midnight rebuild decides it.

The uptime weighs the time spent in each status: `major_outage` counts as down, a
`partial_outage` as half down, `degraded_performance` as up (slow is not down), and time
`under_maintenance` is left out of the count altogether (planned, announced work is not an
outage). uptime = 1 - (major + partial / 2) / (observed time - maintenance time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal

from commands import component_status

OPERATIONAL = component_status.OPERATIONAL
DEGRADED = component_status.DEGRADED_PERFORMANCE
PARTIAL = component_status.PARTIAL_OUTAGE
MAJOR = component_status.MAJOR_OUTAGE
MAINTENANCE = component_status.UNDER_MAINTENANCE
NO_DATA = "no_data"
"""A day before the component's history starts (see `since`): not counted, drawn apart."""

DAYS = 90
"""Bars on the page: Statuspage, GitHub and Uptime Kuma all show 90 days."""

RANK = {s: component_status.rank(s) for s in component_status.COMPONENT_STATUSES}
"""Which status a day's bar shows when several held: the worst, as for the grid (maintenance
ranks above operational, the day was not ordinary, but below every unplanned problem)."""

DOWN_WEIGHT = {OPERATIONAL: 0.0, DEGRADED: 0.0, PARTIAL: 0.5, MAJOR: 1.0}
"""The share of an hour in each status that counts as down. `under_maintenance` is absent:
its time is excluded from the denominator instead."""

LABELS = {
    OPERATIONAL: "Operational",
    DEGRADED: "Degraded performance",
    PARTIAL: "Partial outage",
    MAJOR: "Major outage",
    MAINTENANCE: "Under maintenance",
    NO_DATA: "No data",
}

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One row of a component's history: from `at` on, the component is `new`."""

    at: datetime
    old: str
    new: str
    incident_id: int | None = None


@dataclass(frozen=True, slots=True)
class IncidentSpan:
    """An incident that touched the component, open from `start` to `end` (None: still open)."""

    id: int
    title: str
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class DayBar:
    """One UTC day of a component's history."""

    day: date
    status: str
    """The worst status that held for some time during the day (`no_data` before `since`)."""
    incidents: tuple[IncidentSpan, ...]
    """Incidents open at some moment of the day, oldest first."""
    observed: float
    """Seconds of the day that are history (a whole day, less for today and the first day)."""
    maintenance: float
    """Seconds of it under maintenance."""
    down: float
    """Weighted seconds down: major counts whole, partial half."""

    @property
    def uptime(self) -> float | None:
        """The day's uptime in percent; None when nothing of it counts (no data, or all of
        it maintenance)."""
        return _percent(self.observed - self.maintenance, self.down)


@dataclass(frozen=True, slots=True)
class UptimeHistory:
    bars: tuple[DayBar, ...]
    """Oldest first; the last is today (up to `now`)."""

    @property
    def counted(self) -> float:
        """Seconds that count toward the uptime: observed, less maintenance."""
        return sum(b.observed - b.maintenance for b in self.bars)

    @property
    def down(self) -> float:
        return sum(b.down for b in self.bars)

    @property
    def uptime(self) -> float | None:
        """Uptime over the whole window in percent; None when no time counts."""
        return _percent(self.counted, self.down)

    @property
    def since(self) -> date | None:
        """The first day with data when the history starts inside the window (a component
        declared lately), else None: the uptime is over that shorter span."""
        if not self.bars or self.bars[0].status != NO_DATA:
            return None
        return next((b.day for b in self.bars if b.status != NO_DATA), None)

    @property
    def problem_days(self) -> tuple[DayBar, ...]:
        """Days with something else than `operational` (or no data), newest first: what the
        page lists as the text alternative to the bars."""
        return tuple(b for b in reversed(self.bars) if b.status not in (OPERATIONAL, NO_DATA))


def uptime_history(
    changes: Iterable[StatusChange],
    incidents: Iterable[IncidentSpan] = (),
    *,
    now: datetime,
    days: int = DAYS,
    current: str = OPERATIONAL,
    since: datetime | None = None,
) -> UptimeHistory:
    """The component's `days` daily bars ending with today (UTC) and the data for its uptime.

    `changes` may start before the window (the last one before it gives the status at its
    start) and need not be sorted. With none before the window, the status at its start is
    the first change's `old`; with no change at all it is `current` (the component's status
    now). Changes after `now` are ignored. Days or parts of days before `since` (when the
    component's history begins) are `no_data` and do not count.
    """
    now = _utc(now)
    window_start = history_start(now, days)
    first_day = window_start.date()
    counted_from = max(window_start, _utc(since)) if since is not None else window_start

    segments, status_now = _segments(changes, current, window_start=counted_from, now=now)
    # One pass over the segments and one over the incidents, each cut at the midnights it
    # spans: a component that flapped a thousand times costs a thousand steps, not 90 000.
    worst: list[str | None] = [None] * days
    observed, maintenance, down = [0.0] * days, [0.0] * days, [0.0] * days
    for seg_start, seg_end, status in segments:
        index = (seg_start.date() - first_day).days
        cursor = seg_start
        while cursor < seg_end:
            day_end = window_start + _DAY * (index + 1)
            upto = min(seg_end, day_end)
            seconds = (upto - cursor).total_seconds()
            observed[index] += seconds
            if status == MAINTENANCE:
                maintenance[index] += seconds
            else:
                # A word added later counts as operational, never as down.
                down[index] += seconds * DOWN_WEIGHT.get(status, 0.0)
            held = worst[index]
            if held is None or RANK.get(status, 0) > RANK.get(held, 0):
                worst[index] = status
            cursor, index = upto, index + 1

    touching: list[list[IncidentSpan]] = [[] for _ in range(days)]
    for span in sorted(incidents, key=lambda i: (_utc(i.start), i.id)):
        first, last = _day_range(span, now)
        for index in range((max(first, first_day) - first_day).days,
                           min((last - first_day).days, days - 1) + 1):
            touching[index].append(span)

    bars = []
    for index in range(days):
        day = first_day + timedelta(days=index)
        found = worst[index]
        if found is not None:
            status = found
        else:
            # Nothing of the day is history: it is before `since`, or it is today and `now`
            # is its very first instant (then the bar shows the status the day starts with).
            day_start = window_start + _DAY * index
            status = NO_DATA if day_start < counted_from else status_now
        bars.append(DayBar(day, status, tuple(touching[index]), observed[index],
                           maintenance[index], down[index]))
    return UptimeHistory(tuple(bars))


def history_start(now: datetime, days: int = DAYS) -> datetime:
    """Midnight UTC of the first of the `days` days that end with `now`'s: what must be
    read to draw them (with the status each component had then)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    first_day = _utc(now).date() - timedelta(days=days - 1)
    return datetime.combine(first_day, time(), UTC)


def _segments(
    changes: Iterable[StatusChange], current: str, *, window_start: datetime, now: datetime
) -> tuple[list[tuple[datetime, datetime, str]], str]:
    """(start, end, status) covering window_start..now without gaps, in order; and the
    status at `now`."""
    ordered = sorted((c for c in changes if _utc(c.at) <= now), key=lambda c: _utc(c.at))
    before = [c for c in ordered if _utc(c.at) <= window_start]
    inside = [c for c in ordered if _utc(c.at) > window_start]
    if before:
        status = before[-1].new
    elif inside:
        status = inside[0].old
    else:
        status = current
    segments = []
    cursor = window_start
    for change in inside:
        at = _utc(change.at)
        if at > cursor:
            segments.append((cursor, at, status))
        cursor, status = at, change.new
    if now > cursor:
        segments.append((cursor, now, status))
    return segments, status


def _day_range(incident: IncidentSpan, now: datetime) -> tuple[date, date]:
    """The first and last UTC day the incident was open at some instant of. One resolved at
    midnight sharp ends the day before; one opened and resolved at once is on its day."""
    opened = _utc(incident.start)
    closed = _utc(incident.end) if incident.end is not None else max(now, opened)
    last = closed.date()
    if closed.time() == time() and closed > opened:
        last -= _DAY
    return opened.date(), max(last, opened.date())


def _percent(counted: float, down: float) -> float | None:
    if counted <= 0:
        return None
    return max(0.0, 100.0 * (1.0 - down / counted))


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# --- text for the page --------------------------------------------------------------------


def format_uptime(percent: float | None) -> str:
    """`100%`, `99.98%` (rounded down: a minute of outage never shows as 100%), `no data`."""
    if percent is None:
        return "no data"
    if percent >= 100.0:
        return "100%"
    floored = Decimal(repr(percent)).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    return f"{floored}%"


def status_label(status: str) -> str:
    return LABELS.get(status, status.replace("_", " ").capitalize())


def bar_title(bar: DayBar, *, max_incidents: int = 5, max_title: int = 80) -> str:
    """The bar's tooltip: `2026-11-21 · Major outage · 97.91% uptime · #3 Gerrit down`.

    Plain text (the template escapes it); incident titles come from chat, so each is cut to
    `max_title` characters and at most `max_incidents` are named.
    """
    parts = [bar.day.isoformat(), status_label(bar.status)]
    if bar.status != NO_DATA:
        parts.append(f"{format_uptime(bar.uptime)} uptime")
    if bar.incidents:
        named = [f"#{i.id} {_cut(i.title, max_title)}".rstrip()
                 for i in bar.incidents[:max_incidents]]
        more = len(bar.incidents) - max_incidents
        if more > 0:
            named.append(f"and {more} more")
        parts.append("; ".join(named))
    return " · ".join(parts)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())  # no line breaks or tabs in a title attribute
    return text if len(text) <= limit else text[: limit - 1] + "…"
