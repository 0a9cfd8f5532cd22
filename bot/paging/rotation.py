"""Who is on call: a weekly rotation through the escalation managers, plus overrides.

The rotation hands off once a week at a local wall-clock time (`monday 09:00` in
`Europe/Berlin`). Shifts are counted in local calendar weeks, so a handoff stays at 09:00 local
time across daylight-saving changes: the week that contains the change is an hour shorter or
longer in real time. A handoff time that does not exist on the day the clocks go forward
(02:30 in Berlin on the last Sunday of March) happens at the instant the clock would have
shown it with the old offset, i.e. 03:30 of the new offset (zoneinfo's `fold=0` rule).

Everything here is pure: instants in, instants out, always timezone-aware.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot.config.models import PagingConfig

__all__ = ["EPOCH", "Override", "Rotation", "Shift"]

EPOCH = date(2024, 1, 1)
"""Shifts are counted from the first handoff on or after this date unless the rotation names
its own `start`: the first manager's shift begins there."""

MAX_LOOKAHEAD = 64
"""How many shifts `next_shift` looks through for someone other than the current person."""


@dataclass(frozen=True, slots=True)
class Override:
    """Someone on call instead of the rotation, from `starts_at` until `ends_at`."""

    manager: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Shift:
    """Who is on call, since when and until when (None: no end, no rotation)."""

    manager: str
    starts_at: datetime | None
    ends_at: datetime | None
    override: bool = False


class Rotation:
    """The escalation managers in rotation order, handing off weekly (or never)."""

    def __init__(
        self,
        managers: Sequence[str],
        *,
        handoff: tuple[int, time] | None = None,
        zone: tzinfo = UTC,
        start: date = EPOCH,
    ) -> None:
        if not managers:
            raise ValueError("a rotation needs at least one escalation manager")
        self.managers = tuple(managers)
        self.zone = zone
        self._handoff = handoff
        if handoff is not None:
            weekday, _ = handoff
            self._first = start + timedelta(days=(weekday - start.weekday()) % 7)

    @classmethod
    def from_config(cls, paging: PagingConfig) -> Rotation:
        names = [manager.name for manager in paging.escalation_managers]
        rotation = paging.rotation
        if rotation is None:
            return cls(names)
        return cls(
            names,
            handoff=(rotation.handoff_weekday, rotation.handoff_time),
            zone=rotation.zone,
            start=rotation.start or EPOCH,
        )

    # --- the rotation alone ---------------------------------------------------------------

    def scheduled(self, at: datetime) -> Shift:
        """Who the rotation puts on call at `at`, overrides aside."""
        if self._handoff is None:
            return Shift(self.managers[0], None, None)
        day = self._handoff_day(at)
        weeks = (day - self._first).days // 7
        manager = self.managers[weeks % len(self.managers)]
        return Shift(manager, self._handoff_at(day), self._handoff_at(day + timedelta(days=7)))

    def _handoff_at(self, day: date) -> datetime:
        assert self._handoff is not None
        local = datetime.combine(day, self._handoff[1], tzinfo=self.zone)
        return local.astimezone(UTC)

    def _handoff_day(self, at: datetime) -> date:
        """The local date of the last handoff at or before `at`."""
        assert self._handoff is not None
        weekday = self._handoff[0]
        local = at.astimezone(self.zone)
        day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
        # Compare in UTC: two datetimes with the same tzinfo compare as wall times, which
        # is wrong in the repeated hour when the clocks go back.
        if self._handoff_at(day) > at.astimezone(UTC):
            day -= timedelta(days=7)
        return day

    # --- with overrides ---------------------------------------------------------------------

    def on_call(self, at: datetime, overrides: Sequence[Override] = ()) -> Shift:
        """Who is on call at `at`: the most recently set override in force, else the rotation.

        An override that ends while the rotation's shift goes on hands back to the rotation;
        the shift returned ends at whichever comes first.
        """
        for override in reversed(overrides):
            if override.starts_at <= at < override.ends_at:
                return Shift(override.manager, override.starts_at, override.ends_at,
                             override=True)
        shift = self.scheduled(at)
        ends = shift.ends_at
        for override in overrides:
            if at < override.starts_at and (ends is None or override.starts_at < ends):
                ends = override.starts_at
        return Shift(shift.manager, shift.starts_at, ends)

    def next_shift(self, at: datetime, overrides: Sequence[Override] = ()) -> Shift | None:
        """The next shift of someone other than whoever is on call at `at` (None: nobody
        else ever takes over)."""
        current = self.on_call(at, overrides)
        shift = current
        for _ in range(MAX_LOOKAHEAD):
            if shift.ends_at is None:
                return None
            shift = self.on_call(shift.ends_at, overrides)
            if shift.manager != current.manager:
                return shift
        return None

    def chain(self, at: datetime, overrides: Sequence[Override] = ()) -> list[str]:
        """The escalation order at `at`: whoever is on call, then the managers after the
        rotation's current one, in rotation order, each once."""
        scheduled = self.scheduled(at).manager
        start = self.managers.index(scheduled)
        order = [self.managers[(start + k) % len(self.managers)]
                 for k in range(len(self.managers))]
        first = self.on_call(at, overrides).manager
        return [first, *(name for name in order if name != first)]


def local_time(at: datetime, zone: tzinfo) -> str:
    """`Mon 2026-03-30 09:00 CEST`: an instant as the rotation's people read it."""
    local = at.astimezone(zone)
    return f"{local:%a %Y-%m-%d %H:%M} {local.tzname()}"
