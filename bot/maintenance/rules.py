"""The rules of scheduled maintenance, decided without I/O: reading a typed time in the
configured zone, checking a new window, which operator steps a phase allows, which timers
are due, and how a window reads on the page. Every function takes `now`; none reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from commands import maintenance_replies as say
from commands.component_names import slug
from commands.model import MaintenanceSchedule, MaintenanceStep
from storage.maintenance import CANCELLED, COMPLETED, IN_PROGRESS, SCHEDULED


def wall_clock_in(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant a naive wall-clock time stands for in `zone`; None when that time
    does not exist there (skipped when the clocks go forward). A time that happens twice
    (clocks going back) is its first occurrence, the earlier instant."""
    local = wall.replace(tzinfo=zone, fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone)


def window_text(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    return say.when(local(starts_at, zone), local(ends_at, zone), str(zone))


@dataclass(frozen=True, slots=True)
class Plan:
    """A window that may be scheduled: its times in UTC and its components' ids."""

    starts_at: datetime
    ends_at: datetime
    components: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    """Not scheduled: the reason, answered with the usage line."""

    reason: str


def plan(command: MaintenanceSchedule, zone: ZoneInfo, now: datetime,
         known: Mapping[str, str] | None) -> Plan | Refused:
    """Check `#maintenance schedule`. `known` maps each configured component's id and name
    (lower case) to its id; None when no components are configured (then the names typed
    are kept as ids)."""
    starts_at = wall_clock_in(command.start, zone)
    if starts_at is None:
        return Refused(say.no_such_time(f"{command.start:%Y-%m-%d %H:%M}", str(zone)))
    ends_at = starts_at + command.duration
    if ends_at <= starts_at:
        return Refused(say.end_before_start())
    if starts_at <= now:
        return Refused(say.start_passed(f"{command.start:%Y-%m-%d %H:%M} {zone}"))
    components: list[str] = []
    unknown: list[str] = []
    for name in command.components:
        if known is None:
            found: str | None = slug(name) or None
        else:
            found = known.get(name.lower()) or known.get(slug(name))
        if found is None:
            unknown.append(name)
        elif found not in components:
            components.append(found)
    if unknown:
        ids = sorted(set((known or {}).values()))
        return Refused(say.unknown_components(unknown, ids))
    return Plan(starts_at, ends_at, tuple(components))


def known_components(components: Sequence[tuple[str, str]] | None) -> dict[str, str] | None:
    """`known` for `plan` from (id, name) pairs; None for no components configured."""
    if components is None:
        return None
    known: dict[str, str] = {}
    for component_id, name in components:
        known[component_id.lower()] = component_id
        known[name.lower()] = component_id
    return known


# --- operator steps ------------------------------------------------------------------------------

NEXT_PHASE = {
    MaintenanceStep.START: (SCHEDULED, IN_PROGRESS),
    MaintenanceStep.COMPLETE: (IN_PROGRESS, COMPLETED),
    MaintenanceStep.CANCEL: (SCHEDULED, CANCELLED),
}
"""step -> (the phase it applies to, the phase it leads to)."""


def step_refusal(maintenance_id: int, step: MaintenanceStep, phase: str) -> str | None:
    """Why `#maintenance ID STEP` cannot apply in `phase` (None: it can)."""
    before, _ = NEXT_PHASE[step]
    return None if phase == before else say.wrong_phase(maintenance_id, step.value, phase)


# --- timers --------------------------------------------------------------------------------------


class Timer(StrEnum):
    HEADS_UP = "heads_up"
    START = "start"
    ASK_END = "ask_end"


@dataclass(frozen=True, slots=True)
class WindowMarks:
    """What the timers need of a window."""

    phase: str
    starts_at: datetime
    ends_at: datetime
    heads_up_at: datetime | None
    end_asked_at: datetime | None


def timers_due(window: WindowMarks, now: datetime,
               announce_before: timedelta | None) -> list[Timer]:
    """The timers to fire now, in order. A heads-up whose start is due as well is not sent
    (after downtime the start says it all); the end question follows a late start."""
    due: list[Timer] = []
    if window.phase == SCHEDULED:
        if now >= window.starts_at:
            due.append(Timer.START)
        elif (announce_before is not None and window.heads_up_at is None
              and now >= window.starts_at - announce_before):
            return [Timer.HEADS_UP]
        else:
            return []
    if (window.phase in (SCHEDULED, IN_PROGRESS) and window.end_asked_at is None
            and now >= window.ends_at):
        due.append(Timer.ASK_END)
    return due


def next_timer(window: WindowMarks, announce_before: timedelta | None) -> datetime | None:
    """When the window's next timer falls due (None: it has none left)."""
    if window.phase == SCHEDULED:
        if announce_before is not None and window.heads_up_at is None:
            return window.starts_at - announce_before
        return window.starts_at
    if window.phase == IN_PROGRESS and window.end_asked_at is None:
        return window.ends_at
    return None


# --- how a window reads --------------------------------------------------------------------------


def overrun(window: WindowMarks, now: datetime) -> timedelta | None:
    """How long an in-progress window has run past its planned end (None: it has not)."""
    if window.phase != IN_PROGRESS or now <= window.ends_at:
        return None
    return now - window.ends_at


def state_text(window: WindowMarks, zone: ZoneInfo, now: datetime) -> str:
    """`scheduled`, `in progress, planned to end 11:00, overrunning by 40 min`,
    `completed`, `cancelled`."""
    if window.phase == IN_PROGRESS:
        return say.overrun_text(local(window.ends_at, zone),
                                overrun(window, now) or timedelta(0))
    return window.phase.replace("_", " ")


def overrun_minutes(window: WindowMarks, now: datetime) -> int:
    """Whole minutes of overrun: the page is rebuilt when this changes."""
    late = overrun(window, now)
    return int(late.total_seconds() // 60) if late is not None else -1


def statuspage_status(window: WindowMarks, now: datetime) -> str:
    """Statuspage's scheduled-maintenance status: scheduled, in_progress, verifying (past
    its planned end, the channels asked whether it is complete), completed (or cancelled,
    which Statuspage shows as completed)."""
    if window.phase == SCHEDULED:
        return "scheduled"
    if window.phase == IN_PROGRESS:
        return "verifying" if window.end_asked_at is not None else "in_progress"
    return "completed"
