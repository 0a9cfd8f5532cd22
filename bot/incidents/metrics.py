"""Time to acknowledge, identify and resolve: from the milestone stamps, never `updated_at`
(which moves with every note and would make a chatty incident look slow)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from storage.incidents import Milestones
from storage.models import Incident


@dataclass(frozen=True, slots=True)
class IncidentTimes:
    to_acknowledge: timedelta | None
    to_identify: timedelta | None
    to_mitigate: timedelta | None
    to_resolve: timedelta | None

    @classmethod
    def of(cls, incident: Incident | Milestones) -> IncidentTimes:
        opened = incident.opened_at

        def since_opened(moment: datetime | None) -> timedelta | None:
            return None if moment is None else max(moment - opened, timedelta(0))

        return cls(
            to_acknowledge=since_opened(incident.acknowledged_at),
            to_identify=since_opened(incident.identified_at),
            to_mitigate=since_opened(incident.monitoring_at),
            to_resolve=since_opened(incident.resolved_at),
        )


def format_duration(value: timedelta | None) -> str:
    """`45s`, `12m`, `3h 5m`, `2d 4h`: the two largest units; `-` when unknown."""
    if value is None:
        return "-"
    seconds = max(0, int(value.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes = seconds // 60
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{n}{unit}" for n, unit in parts[:2] if n)


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Count and median of one measure over many incidents."""

    count: int
    median: timedelta | None
    total: timedelta

    @classmethod
    def of(cls, values: list[timedelta | None]) -> Aggregate:
        known = [v for v in values if v is not None]
        if not known:
            return cls(0, None, timedelta(0))
        middle = timedelta(seconds=median(v.total_seconds() for v in known))
        return cls(len(known), middle, sum(known, timedelta(0)))
