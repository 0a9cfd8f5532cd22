"""Milestone metrics and how durations read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.incidents.metrics import Aggregate, IncidentTimes, format_duration
from storage.models import Incident


@pytest.mark.parametrize(("span", "text"), [
    (timedelta(0), "0s"),
    (timedelta(seconds=45), "45s"),
    (timedelta(minutes=45, seconds=59), "45m"),
    (timedelta(hours=2), "2h"),
    (timedelta(hours=2, minutes=10, seconds=5), "2h 10m"),
    (timedelta(days=1, hours=3, minutes=59), "1d 3h"),
    (timedelta(days=2, minutes=5), "2d"),
    (timedelta(seconds=-5), "0s"),
])
def test_format_duration(span: timedelta, text: str) -> None:
    assert format_duration(span) == text



def test_none_reads_as_a_dash() -> None:
    assert format_duration(None) == "-"


def test_times_come_from_milestones_not_updated_at() -> None:
    opened = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    incident = Incident(opened_at=opened, updated_at=opened + timedelta(days=3),
                        acknowledged_at=None, identified_at=opened + timedelta(minutes=20),
                        monitoring_at=None, resolved_at=opened + timedelta(hours=2))
    times = IncidentTimes.of(incident)
    assert times.to_acknowledge is None
    assert times.to_identify == timedelta(minutes=20)
    assert times.to_resolve == timedelta(hours=2)


def test_aggregate_median_over_known_values() -> None:
    aggregate = Aggregate.of([timedelta(minutes=10), None, timedelta(minutes=30),
                              timedelta(minutes=20)])
    assert (aggregate.count, aggregate.median) == (3, timedelta(minutes=20))
    assert Aggregate.of([None]).median is None
