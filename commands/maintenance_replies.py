"""What scheduled maintenance says in chat: answers to `#maintenance` and the announcements
its timers make, built from plain values (times already in the window's zone), no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def when(start: datetime, end: datetime, zone: str) -> str:
    """`2026-12-06 10:00–12:00 UTC`, or with both dates when it ends on another day."""
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} {zone}"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} {zone}"


def on_components(components: Sequence[str]) -> str:
    return f" on {', '.join(components)}" if components else ""


def minutes(length: timedelta) -> str:
    """`40 min`, `2 h`, `1 h 5 min`: a length for people, to the minute."""
    total = max(0, int(length.total_seconds() // 60))
    hours, mins = divmod(total, 60)
    if not hours:
        return f"{mins} min"
    return f"{hours} h" + (f" {mins} min" if mins else "")


def overrun_text(end_local: datetime, overrun: timedelta) -> str:
    """The page's and the list's words for a window still going on: `in progress, planned to
    end 11:00, overrunning by 40 min` (only the first part before its end)."""
    text = f"in progress, planned to end {end_local:%H:%M}"
    if overrun >= timedelta(minutes=1):
        text += f", overrunning by {minutes(overrun)}"
    return text


def scheduled(maintenance_id: int, title: str, window: str, components: Sequence[str],
              heads_up: str | None) -> str:
    line = (f"Scheduled maintenance #{maintenance_id}: {title} ({window}"
            f"{on_components(components)}).")
    if heads_up:
        line += f" I will announce it {heads_up} before the start and at the start."
    else:
        line += " I will announce it at the start."
    return line


def start_passed(start: str) -> str:
    return f"{start} has passed already: a maintenance window starts in the future"


def end_before_start() -> str:
    return "the window must end after it starts"


def no_such_time(local: str, zone: str) -> str:
    return f"{local} does not exist in {zone} (the clocks skip it): pick another time"


def unknown_components(names: Sequence[str], known: Sequence[str]) -> str:
    listed = ", ".join(known) if known else "none are configured"
    return f"unknown component(s) {', '.join(names)} (components: {listed})"


def not_a_maintenance(maintenance_id: int) -> str:
    return (f"#{maintenance_id} is not a maintenance window (#maintenance list shows them).")


def use_maintenance(maintenance_id: int) -> str:
    return (f"#{maintenance_id} is a maintenance window: use #maintenance {maintenance_id} "
            "start|complete|cancel.")


def wrong_phase(maintenance_id: int, step: str, phase: str) -> str:
    hint = {
        ("start", "in_progress"): "it is in progress already",
        ("complete", "scheduled"): f"it has not started: #maintenance {maintenance_id} start "
                                   f"or #maintenance {maintenance_id} cancel",
        ("cancel", "in_progress"): f"it is in progress: #maintenance {maintenance_id} complete "
                                   "ends it",
    }.get((step, phase), f"it is {phase.replace('_', ' ')}")
    return f"Cannot {step} maintenance #{maintenance_id}: {hint}."


def started_reply(maintenance_id: int) -> str:
    return f"Started maintenance #{maintenance_id}; announced in every channel."


def completed_reply(maintenance_id: int) -> str:
    return f"Completed maintenance #{maintenance_id}; announced in every channel."


def cancelled_reply(maintenance_id: int) -> str:
    return f"Cancelled maintenance #{maintenance_id}; announced in every channel."


# --- announcements (every channel) ---------------------------------------------------------------


def heads_up(maintenance_id: int, title: str, window: str, components: Sequence[str],
             starts_in: timedelta) -> str:
    # Rounded up: a heads-up 1 min 59 s ahead says "in 2 min", not "in 1 min".
    whole = -(-int(starts_in.total_seconds()) // 60)
    return (f"Maintenance #{maintenance_id} starts in {minutes(timedelta(minutes=whole))}: "
            f"{title} ({window}{on_components(components)}).")


def started(maintenance_id: int, title: str, window: str, components: Sequence[str],
            text: str | None = None) -> str:
    line = (f"Maintenance #{maintenance_id} has started: {title} ({window}"
            f"{on_components(components)}).")
    return f"{line} {text}" if text else line


def end_question(maintenance_id: int, title: str, end_local: str) -> str:
    return (f"Maintenance #{maintenance_id} ({title}) was planned to end at {end_local}: is it "
            f"complete? Say #maintenance {maintenance_id} complete when it is; until then it "
            "shows as overrunning.")


def completed(maintenance_id: int, title: str, text: str | None = None) -> str:
    line = f"Maintenance #{maintenance_id} is complete: {title}."
    return f"{line} {text}" if text else line


def cancelled(maintenance_id: int, title: str, window: str, text: str | None = None) -> str:
    line = f"Maintenance #{maintenance_id} is cancelled: {title} (was {window})."
    return f"{line} {text}" if text else line


# --- #maintenance list ---------------------------------------------------------------------------


def list_line(maintenance_id: int, title: str, window: str, components: Sequence[str],
              state: str) -> str:
    return f"#{maintenance_id} [{state}] {title} ({window}{on_components(components)})"


def nothing_listed() -> str:
    return "No maintenance scheduled or in progress."



def now_line(maintenance_id: int, title: str, ends_at: datetime, zone: str,
             now: datetime) -> str:
    """`#now`'s line for a window in progress: `Maintenance #3 Gerrit upgrade: in progress,
    planned to end 11:00 (Europe/Berlin), overrunning by 40 min`."""
    end_local = ends_at.astimezone(ZoneInfo(zone))
    words = overrun_text(end_local, max(now - ends_at, timedelta(0)))
    words = words.replace(f"end {end_local:%H:%M}", f"end {end_local:%H:%M} ({zone})", 1)
    return f"Maintenance #{maintenance_id} {title}: {words}"
