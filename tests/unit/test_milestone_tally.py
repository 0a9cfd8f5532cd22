"""The running tallies /metrics reports agree with a recount over every incident."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bot.incidents.metrics import Aggregate, IncidentTimes
from bot.incidents.milestone_tally import MEASURES, MilestoneTally
from storage.incidents import Milestones

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _random_milestones(rng: random.Random) -> Milestones:
    def stamp() -> datetime | None:
        return None if rng.random() < 0.3 else T0 + timedelta(seconds=rng.randint(0, 9000),
                                                               microseconds=rng.randint(0, 9))
    resolved = stamp()
    return Milestones(state="resolved" if resolved else "investigating", opened_at=T0,
                      acknowledged_at=stamp(), identified_at=stamp(), monitoring_at=stamp(),
                      resolved_at=resolved)


def _recount(rows: dict[int, Milestones]) -> dict[str, Aggregate]:
    times = [IncidentTimes.of(m) for m in rows.values()]
    return {name: Aggregate.of([getattr(t, name) for t in times]) for name in MEASURES}


def _close(a: Aggregate, b: Aggregate) -> bool:
    if a.count != b.count or a.total != b.total or (a.median is None) != (b.median is None):
        return False
    # Both medians are whole microseconds; an even count's mean may round either way.
    return a.median is None or b.median is None or abs(a.median - b.median) <= timedelta(
        microseconds=1)


def test_tally_matches_a_recount_through_changes_and_repeats() -> None:
    rng = random.Random(7)
    tally = MilestoneTally()
    truth: dict[int, Milestones] = {}
    for _ in range(300):
        batch = [(rng.randint(1, 120), _random_milestones(rng)) for _ in range(rng.randint(1, 9))]
        # The same rows read twice (two overlapping queries) change nothing.
        tally.update(batch + batch)
        truth.update(batch)
        expected = _recount(truth)
        assert all(_close(tally.aggregates()[n], expected[n]) for n in MEASURES)
        assert tally.incidents_open == sum(1 for m in truth.values() if m.state != "resolved")
        assert tally.open_ids == {i for i, m in truth.items() if m.state != "resolved"}


def test_empty_tally_reports_nothing_known() -> None:
    aggregate = MilestoneTally().aggregates()["to_resolve"]
    assert aggregate == Aggregate(0, None, timedelta(0))


def test_resolutions_are_looked_at_again_for_a_while() -> None:
    tally = MilestoneTally()
    resolved = T0 + timedelta(hours=1)
    tally.update([(1, Milestones("resolved", T0, None, None, None, resolved))])
    assert tally.resolved_since is not None and tally.resolved_since < resolved
    tally.update([(2, Milestones("resolved", T0, None, None, None, T0))])
    assert tally.resolved_since < resolved  # an older resolution does not move it back
