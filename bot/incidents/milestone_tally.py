"""Running tallies of incident times for /metrics: kept up to date from the few incidents
that can have changed, so a scrape costs the same at 100 incidents and at 100,000.

An incident's milestone stamps only change while it is open, or when it is resolved (again):
so a refresh reads the open incidents, those open at the last refresh, the new ones (ids
above the highest seen) and those resolved lately, all by index (storage.incidents), and
moves only their figures. The tallies keep each measure's values sorted, so the median is
an index, not a sort; sums are whole microseconds, so they never drift from a recount.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.incidents.metrics import Aggregate, IncidentTimes
from storage.incidents import Milestones
from storage.unit_of_work import Store, Transaction

MEASURES = ("to_acknowledge", "to_identify", "to_mitigate", "to_resolve")

RESOLVED_LOOKBACK = timedelta(minutes=10)
"""How far before the newest resolution seen a refresh looks for resolutions again: an
incident reopened and resolved between two scrapes is caught by its new `resolved_at`, even
from an instance whose clock is a little behind."""


def _micros(value: timedelta) -> int:
    return value // timedelta(microseconds=1)


@dataclass
class _Measure:
    """One measure's known values, sorted (whole microseconds), and their sum."""

    values: list[int]
    total: int = 0

    def add_many(self, values: list[int]) -> None:
        """Whole microseconds. One sort for many (the first refresh), one insort for few."""
        if len(values) > 16:
            self.values.extend(values)
            self.values.sort()
        else:
            for micros in values:
                insort(self.values, micros)
        self.total += sum(values)

    def remove(self, micros: int | None) -> None:
        if micros is not None:
            del self.values[bisect_left(self.values, micros)]
            self.total -= micros

    def aggregate(self) -> Aggregate:
        count = len(self.values)
        if not count:
            return Aggregate(0, None, timedelta(0))
        middle = count // 2
        if count % 2:
            median = timedelta(microseconds=self.values[middle])
        else:
            # statistics.median's mean of the two middle values, as Aggregate.of takes it.
            median = timedelta(seconds=(self.values[middle - 1] + self.values[middle]) / 2e6)
        return Aggregate(count, median, timedelta(microseconds=self.total))


class MilestoneTally:
    """What /metrics reports of every incident ever opened, updated incrementally."""

    def __init__(self) -> None:
        self._times: dict[int, tuple[int | None, ...]] = {}
        """Per incident, each measure in whole microseconds (None: not reached): tuples of
        plain numbers, which the garbage collector stops tracking, so 100,000 of them do
        not lengthen every full collection."""
        self._open: set[int] = set()
        self._measures = {name: _Measure([]) for name in MEASURES}
        self.highest_id = 0
        """Every incident up to this id has been read: those above are read as new (set by
        the reader, which knows how far its reads were complete)."""
        self.resolved_since: datetime | None = None
        """Resolutions from this moment on are read again at each refresh."""

    @property
    def open_ids(self) -> frozenset[int]:
        """Incidents open at the last refresh: read again, as they may have been resolved."""
        return frozenset(self._open)

    @property
    def incidents_open(self) -> int:
        return len(self._open)

    def __len__(self) -> int:
        return len(self._times)

    def update(self, rows: Iterable[tuple[int, Milestones]]) -> None:
        """Take the current stamps of these incidents (new or already counted; an id given
        twice counts once, with its last stamps)."""
        newest_resolution = self.resolved_since
        added: dict[str, list[int]] = {name: [] for name in MEASURES}
        for incident_id, milestones in dict(rows).items():
            of = IncidentTimes.of(milestones)
            times = tuple(None if (value := getattr(of, name)) is None else _micros(value)
                          for name in MEASURES)
            old = self._times.get(incident_id)
            if old != times:
                for at, (name, measure) in enumerate(self._measures.items()):
                    if old is not None:
                        measure.remove(old[at])
                    if (micros := times[at]) is not None:
                        added[name].append(micros)
                self._times[incident_id] = times
            if milestones.state == "resolved":
                self._open.discard(incident_id)
            else:
                self._open.add(incident_id)
            resolved = milestones.resolved_at
            if resolved is not None and (newest_resolution is None
                                         or resolved - RESOLVED_LOOKBACK > newest_resolution):
                newest_resolution = resolved - RESOLVED_LOOKBACK
        for name, values in added.items():
            self._measures[name].add_many(values)
        self.resolved_since = newest_resolution

    def aggregates(self) -> dict[str, Aggregate]:
        """Count, median and sum of each measure (`to_acknowledge`, ...)."""
        return {name: measure.aggregate() for name, measure in self._measures.items()}


FILL_BATCH = 500
"""Incidents read per query while catching up (the first scrape reads every incident): small
enough that no single read and update holds the event loop for long."""


class TallyReader:
    """Keeps a `MilestoneTally` current from the database, one refresh per scrape."""

    def __init__(self) -> None:
        self.tally = MilestoneTally()
        self._lock = asyncio.Lock()
        self.caught_up = False
        """Every incident has been read once: from here on a refresh reads only what can
        have changed."""
        self.warming = False
        """`warm` is reading every incident in the background; a scrape meanwhile leaves the
        incident figures alone rather than wait for it (or report a part of them)."""

    async def refresh(self, tx: Transaction, *, batches: int | None = None) -> MilestoneTally:
        """Read what can have changed since the last refresh, in `tx`: one statement, more
        only while catching up (the first refresh reads every incident, FILL_BATCH at a
        time; `batches`: at most that many reads, `caught_up` says whether it got there)."""
        # One refresh at a time: two scrapes at once would apply their reads out of order.
        async with self._lock:
            tally = self.tally
            read = 0
            while True:
                highest = tally.highest_id
                rows = await tx.incidents.milestones_of(
                    ids=tally.open_ids, open_now=True, after_id=highest, limit=FILL_BATCH,
                    resolved_since=tally.resolved_since)
                tally.update(rows)
                read += 1
                above = sorted({i for i, _ in rows if i > highest})
                # Open and lately resolved incidents may lie beyond the FILL_BATCH new ones:
                # complete only up to the last of those.
                if len(above) < FILL_BATCH:
                    tally.highest_id = max(above, default=highest)
                    self.caught_up = True
                    return tally
                tally.highest_id = above[FILL_BATCH - 1]
                if batches is not None and read >= batches:
                    return tally
                # Catching up: let chat and the page in between two batches.
                await asyncio.sleep(0)

    async def warm(self, store: Store) -> None:
        """Read every incident once, in the background (the leader starts this): a batch per
        short read-only transaction, the loop free in between, so that the first scrape
        after a start need not do it (7-10 s at 100,000 incidents, longer than a scrape
        may take). Cancelled, it leaves what it read; the next refresh goes on from there."""
        self.warming = True
        try:
            while not self.caught_up:
                async with store.reading() as tx:
                    await self.refresh(tx, batches=1)
                await asyncio.sleep(0)
        finally:
            self.warming = False
