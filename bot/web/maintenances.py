"""Scheduled maintenance on the page: the Statuspage documents, the iCalendar feed, the
words an active window reads with, and the ticker that rebuilds the page while a window
overruns (its "overrunning by N min" changes every minute with no event to say so).

`/api/v2/scheduled-maintenances.json`, `.../upcoming.json` and `.../active.json` follow
Statuspage's public API v2 (`scheduled_for`, `scheduled_until`, `impact: maintenance`,
statuses scheduled / in_progress / verifying / completed); `/maintenances.ics` is RFC 5545.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from icalendar import Calendar, Event

from bot.web import statuspage
from bot.web.state import PAGE_ID, MaintenanceView, PageState, UpdateView
from bot.web.statuspage import delivery, iso, page, update_body
from commands import maintenance_replies as say
from storage.models import utcnow

log = logging.getLogger("statusdesk.web")

Json = dict[str, Any]

MAINTENANCES_LIMIT = 50
"""Statuspage's scheduled-maintenances.json lists the 50 most recent."""

ComponentObjects = Callable[[Sequence[str]], list[Json]]
"""The Statuspage component objects of a window's component ids (the components feature)."""


def of_state(state: PageState) -> ComponentObjects:
    """The page's components as Statuspage objects, as they are now (ones no longer
    configured are left out)."""
    by_id = {c.id: c for c in state.components}
    if not by_id:
        return lambda ids: []
    positions = {c["id"]: c["position"] for c in statuspage.components(state)}
    return lambda ids: [statuspage.component(by_id[i], state, position=positions[i])
                        for i in ids if i in by_id]


# --- words ---------------------------------------------------------------------------------------


def status(view: MaintenanceView) -> str:
    """Statuspage's status: scheduled, in_progress, verifying (past its planned end, the
    channels asked whether it is complete), completed (cancelled ones too)."""
    if view.phase == "scheduled":
        return "scheduled"
    if view.phase == "in_progress":
        return "verifying" if view.end_asked_at is not None else "in_progress"
    return "completed"


def _update_status(phase: str | None) -> str:
    return {"scheduled": "scheduled", "in_progress": "in_progress"}.get(phase or "", "completed")


def window_text(view: MaintenanceView) -> str:
    """`2026-12-06 10:00–11:00 UTC` in the zone the window was scheduled in."""
    zone = view.zone
    return say.when(view.starts_at.astimezone(zone), view.ends_at.astimezone(zone),
                    view.timezone)


def state_text(view: MaintenanceView, now: datetime) -> str:
    """`scheduled`, `in progress, planned to end 11:00, overrunning by 40 min`, `completed`,
    `cancelled`."""
    if view.phase == "in_progress":
        return say.overrun_text(view.ends_at.astimezone(view.zone),
                                view.overrun(now) or timedelta(0))
    return view.phase.replace("_", " ")


def body(update: UpdateView) -> str:
    if update.kind == "opened" and update.text:
        return f"Scheduled: {update.text}"
    return update_body(update)


# --- Statuspage ----------------------------------------------------------------------------------


def _update(update: UpdateView, view: MaintenanceView, state: PageState) -> Json:
    at = iso(update.at)
    return {
        "id": str(update.id),
        "status": _update_status(update.state),
        "body": body(update),
        "incident_id": str(view.id),
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": None,
        **delivery(update, state),
    }


def scheduled_maintenance(view: MaintenanceView, state: PageState,
                          components: ComponentObjects | None = None) -> Json:
    components = components or of_state(state)
    updates = sorted(view.updates, key=lambda u: (u.at, u.id), reverse=True)
    return {
        "id": str(view.id),
        "name": view.title,
        "status": status(view),
        "created_at": iso(view.created_at),
        "updated_at": iso(view.updated_at),
        "monitoring_at": None,
        "resolved_at": iso(view.finished_at) if view.finished_at else None,
        "impact": "maintenance",
        "shortlink": f"{state.url.rstrip('/')}/incidents/{view.id}",
        "started_at": iso(view.started_at or view.created_at),
        "page_id": PAGE_ID,
        "incident_updates": [_update(u, view, state) for u in updates],
        "components": components(view.components),
        "scheduled_for": iso(view.starts_at),
        "scheduled_until": iso(view.ends_at),
    }


def upcoming(state: PageState) -> list[MaintenanceView]:
    return sorted(state.upcoming_maintenances, key=lambda m: (m.starts_at, m.id))


def active(state: PageState) -> list[MaintenanceView]:
    return sorted(state.active_maintenances, key=lambda m: (m.starts_at, m.id))


def _listed(views: Sequence[MaintenanceView], state: PageState,
            components: ComponentObjects | None) -> Json:
    components = components or of_state(state)
    return {"page": page(state),
            "scheduled_maintenances": [scheduled_maintenance(v, state, components)
                                       for v in views]}


def all_document(state: PageState, components: ComponentObjects | None = None) -> Json:
    """The 50 most recent windows, the latest start first."""
    newest = sorted(state.maintenances, key=lambda m: (m.starts_at, m.id), reverse=True)
    return _listed(newest[:MAINTENANCES_LIMIT], state, components)


def upcoming_document(state: PageState, components: ComponentObjects | None = None) -> Json:
    return _listed(upcoming(state), state, components)


def active_document(state: PageState, components: ComponentObjects | None = None) -> Json:
    return _listed(active(state), state, components)


def for_summary(state: PageState, components: ComponentObjects | None = None) -> list[Json]:
    """`summary.json`'s `scheduled_maintenances`: those in progress, then those to come."""
    components = components or of_state(state)
    return [scheduled_maintenance(v, state, components) for v in (*active(state),
                                                                  *upcoming(state))]


# --- iCalendar -----------------------------------------------------------------------------------


def ics(state: PageState) -> bytes:
    """Every window the page knows (to come, going on, and finished in the last 30 days) as
    VEVENTs. The UID is the window's id at the page's host, so a calendar that subscribed
    updates the event in place when the window moves, starts, ends or is cancelled."""
    host = urlsplit(state.url).hostname or "statusdesk"
    calendar = Calendar()
    calendar.add("prodid", "-//statusdesk//scheduled maintenance//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{state.title}: scheduled maintenance")
    for view in sorted(state.maintenances, key=lambda m: (m.starts_at, m.id)):
        event = Event()
        event.add("uid", f"maintenance-{view.id}@{host}")
        event.add("dtstamp", view.updated_at)
        event.add("last-modified", view.updated_at)
        event.add("created", view.created_at)
        event.add("dtstart", view.starts_at)
        event.add("dtend", view.ends_at)
        event.add("summary", f"Maintenance: {view.title}")
        url = f"{state.url.rstrip('/')}/incidents/{view.id}"
        lines = [f"{state_text(view, state.now).capitalize()}."]
        if view.components:
            lines.append(f"Components: {', '.join(state.component_names(view.components))}.")
        lines.append(url)
        event.add("description", "\n".join(lines))
        event.add("url", url)
        event.add("status", "CANCELLED" if view.phase == "cancelled" else "CONFIRMED")
        event.add("transp", "TRANSPARENT")
        # Each change of phase is a new revision of the event for the calendars.
        event.add("sequence", len([u for u in view.updates if u.kind == "state"]))
        calendar.add_component(event)
    return bytes(calendar.to_ical())


# --- the overrun ticker --------------------------------------------------------------------------


def next_change(state: PageState | None, now: datetime) -> datetime | None:
    """When an active window's words next change (its planned end passes, or its overrun
    reaches one more minute); None when none is active."""
    if state is None:
        return None
    times = []
    for view in state.active_maintenances:
        if now < view.ends_at:
            times.append(view.ends_at + timedelta(minutes=1))
        else:
            minutes = (now - view.ends_at) // timedelta(minutes=1)
            times.append(view.ends_at + timedelta(minutes=minutes + 1))
    return min(times, default=None)


class OverrunTicker:
    """Rebuilds the page when an active window's words change with time alone. Every
    instance runs one: a standby serves the page too."""

    def __init__(self, state: Callable[[], PageState | None], refresh: Callable[[], None],
                 *, clock: Callable[[], datetime] = utcnow, idle_wait: float = 30.0) -> None:
        self._state = state
        self._refresh = refresh
        self._clock = clock
        self._idle_wait = idle_wait
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="maintenance overrun ticker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            now = self._clock()
            due = next_change(self._state(), now)
            if due is None:
                await asyncio.sleep(self._idle_wait)
                continue
            await asyncio.sleep(max(0.05, min(self._idle_wait, (due - now).total_seconds())))
            if self._clock() >= due:
                self._refresh()
