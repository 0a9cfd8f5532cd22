"""The Atlassian Statuspage public API v2 documents, so existing widgets and clients work.

`/api/v2/summary.json`, `/api/v2/status.json`, `/api/v2/incidents.json` and
`/api/v2/incidents/unresolved.json` as pure functions of a `PageState`: each returns a JSON-ready
dict (ids as strings, timestamps as Statuspage writes them: `2026-11-21T14:02:00.000Z`).

Components (DESIGN §1.6) appear as Statuspage writes them: a group is a component with
`group: true` and `components: [ids]`, its members carry its `group_id`.
statusdesk has no scheduled maintenances here: that list is always empty, and
`affected_components` is always null. Keys that only describe Statuspage's own machinery
(`deliver_notifications`, `custom_tweet`, `tweet_id`) are left out.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.web.state import PAGE_ID, ComponentView, IncidentPageView, PageState, UpdateView
from bot.web.view_memo import ViewMemo
from commands.component_names import slug
from commands.component_status import (
    DEGRADED_PERFORMANCE,
    MAJOR_OUTAGE,
    PARTIAL_OUTAGE,
    worst,
)

INCIDENTS_LIMIT = 50
"""Statuspage's incidents.json lists the 50 most recent incidents."""

TIME_ZONE = "Etc/UTC"

INDICATOR_DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major Service Outage",
}
_INDICATOR_RANK = {"none": 0, "minor": 1, "major": 2, "critical": 3}

ALERT_INDICATOR = "major"
"""What a current `#status alert` means when no open incident is worse."""

_ROLE_LABELS = {"lead": "Incident lead", "manager": "Escalation manager",
                "role.comms": "Communications lead"}
_SURROGATES = re.compile("[\ud800-\udfff]")

Json = dict[str, Any]


def impact(severity: int) -> str:
    """Statuspage `impact` of a severity: 1 critical, 2 major, 3 minor, 4 (or milder) none."""
    if severity <= 1:
        return "critical"
    if severity == 2:
        return "major"
    if severity == 3:
        return "minor"
    return "none"


COMPONENT_INDICATORS = {
    DEGRADED_PERFORMANCE: "minor",
    PARTIAL_OUTAGE: "major",
    MAJOR_OUTAGE: "critical",
}
"""What the worst component means for the page (as Statuspage: a major outage anywhere is
critical); operational and under_maintenance mean nothing wrong."""


def indicator(state: PageState) -> tuple[str, str]:
    """`(indicator, description)` of the page: the worst of the open incidents, the
    components and an alert (major)."""
    severity = state.worst_severity
    level = impact(severity) if severity is not None else "none"
    if state.alert is not None and _INDICATOR_RANK[level] < _INDICATOR_RANK[ALERT_INDICATOR]:
        level = ALERT_INDICATOR
    component_level = COMPONENT_INDICATORS.get(state.worst_component_status, "none")
    if _INDICATOR_RANK[component_level] > _INDICATOR_RANK[level]:
        level = component_level
    return level, INDICATOR_DESCRIPTIONS[level]


def update_body(update: UpdateView) -> str:
    """A human sentence for one public timeline entry (shared by the JSON, HTML and Atom)."""
    kind, text, new = update.kind, update.text, update.new
    if kind == "severity":
        sentence = (f"Severity set to {new}." if update.old is None
                    else f"Severity changed from {update.old} to {new}.")
    elif kind in _ROLE_LABELS:
        label = _ROLE_LABELS[kind]
        sentence = f"{label} is now {new}." if new else f"{label} cleared."
    elif kind == "bug":
        # No full stop after the URL: clients that autolink would make it part of the link.
        sentence = f"Linked bug {new}" if new else "Linked a bug."
    else:
        if text:
            return text
        sentence = _FALLBACKS.get(kind) or _generic(update)
    # The structured kinds carry no text today; should one ever do, do not lose it.
    return f"{sentence} {text}" if text else sentence


def _generic(update: UpdateView) -> str:
    if update.kind == "state" and update.new:
        return f"Status changed to {update.new}."
    if update.new is not None:
        return f"{update.kind.capitalize()} changed to {update.new}."
    return "Incident updated."


_FALLBACKS = {
    "opened": "Incident opened.",
    "status.alert": "Alert posted.",
    "status.notice": "Notice posted.",
    "status.ok": "The alert has been cleared.",
}


def iso(at: datetime) -> str:
    """Statuspage's timestamp format: UTC, milliseconds, `Z` (naive times are taken as UTC)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"


def _iso_or_none(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def _text(value: str) -> str:
    """JSON carries any character except lone surrogates (they cannot be encoded as UTF-8)."""
    return _SURROGATES.sub("", value)


def _base(state: PageState) -> str:
    return state.url.rstrip("/")


def page(state: PageState) -> Json:
    return {
        "id": PAGE_ID,
        "name": _text(state.title),
        "url": state.url,
        "time_zone": TIME_ZONE,
        "updated_at": iso(state.updated_at),
    }


def status_object(state: PageState) -> Json:
    level, description = indicator(state)
    return {"indicator": level, "description": description}


NOTIFYING_KINDS = frozenset({"opened", "state", "status.alert", "status.notice", "status.ok"})
"""The entries e-mail subscribers are told of (bot/subscribers/notices.py: an incident or a
window opened, a change of state or phase, an alert or a notice on it; `#status ok` resolves
its incident). Statuspage's `deliver_notifications`, true only when the page takes
subscriptions."""


def delivery(update: UpdateView, state: PageState) -> Json:
    """Statuspage's delivery fields of an update. No Twitter integration: no tweets."""
    return {
        "deliver_notifications": state.subscribe and update.kind in NOTIFYING_KINDS,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident_update(update: UpdateView, incident: IncidentPageView, state: PageState) -> Json:
    at = iso(update.at)
    return {
        "id": str(update.id),
        "status": update.state or incident.state,
        "body": _text(update_body(update)),
        "incident_id": str(incident.id),
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": None,
        **delivery(update, state),
    }


def incident(view: IncidentPageView, state: PageState) -> Json:
    updates = sorted(view.updates, key=lambda u: (u.at, u.id), reverse=True)
    return {
        "id": str(view.id),
        "name": _text(view.title),
        "status": view.state,
        "impact": impact(view.severity),
        "created_at": iso(view.opened_at),
        "updated_at": iso(view.updated_at),
        "monitoring_at": _iso_or_none(view.monitoring_at),
        "resolved_at": _iso_or_none(view.resolved_at),
        "started_at": iso(view.opened_at),
        "page_id": PAGE_ID,
        "shortlink": f"{_base(state)}/incidents/{view.id}",
        "components": _incident_components(view, state),
        "incident_updates": [incident_update(u, view, state) for u in updates],
    }


_INCIDENT_MEMO: ViewMemo[Json] = ViewMemo()


def _incidents(views: Iterable[IncidentPageView], state: PageState) -> list[Json]:
    # An incident's object shows its view, the page's URL, the components' names and
    # whether the page takes subscriptions (its updates' deliver_notifications).
    context = (state.url, state.components, state.subscribe)
    return [_INCIDENT_MEMO.get(view, context, functools.partial(incident, view, state))
            for view in views]


# --- components ----------------------------------------------------------------------------

GROUP_ID_PREFIX = "group-"
"""A group's id: `group-` and the slug of its name (component ids are slugs of names)."""


def group_id(name: str) -> str:
    return GROUP_ID_PREFIX + slug(name)


def component(view: ComponentView, state: PageState, *, position: int) -> Json:
    return {
        "id": view.id,
        "name": _text(view.name),
        "status": view.status,
        "created_at": iso(view.created_at),
        "updated_at": iso(view.updated_at),
        "position": position,
        "description": _text(view.description) if view.description else None,
        "showcase": False,
        "start_date": None,
        "group_id": group_id(view.group) if view.group else None,
        "page_id": PAGE_ID,
        "group": False,
        "only_show_if_degraded": False,
    }


def components(state: PageState) -> list[Json]:
    """Every component and group in page order; a group comes before its members, and
    positions count within the page (top level) or within the group (members)."""
    out: list[Json] = []
    top = 0
    for name, members in state.component_groups:
        if name is None:
            for view in members:
                top += 1
                out.append(component(view, state, position=top))
            continue
        top += 1
        out.append({
            "id": group_id(name),
            "name": _text(name),
            "status": worst(m.status for m in members),
            "created_at": iso(min(m.created_at for m in members)),
            "updated_at": iso(max(m.updated_at for m in members)),
            "position": top,
            "description": None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": PAGE_ID,
            "group": True,
            "only_show_if_degraded": False,
            "components": [m.id for m in members],
        })
        out.extend(component(view, state, position=i)
                   for i, view in enumerate(members, start=1))
    return out


def _incident_components(view: IncidentPageView, state: PageState) -> list[Json]:
    """The components the incident affects or affected, as they are now (Statuspage's
    shape); ones no longer configured are left out."""
    by_id = {c.id: c for c in state.components}
    positions = {c["id"]: c["position"] for c in components(state)} if view.components else {}
    return [component(by_id[cid], state, position=positions[cid])
            for cid, _ in view.components if cid in by_id]


def components_document(state: PageState) -> Json:
    """`/api/v2/components.json`."""
    return {"page": page(state), "components": components(state)}


def summary(state: PageState) -> Json:
    from bot.web import maintenances  # it builds on this module's helpers

    return {
        "page": page(state),
        "status": status_object(state),
        "components": components(state),
        "incidents": _incidents(state.open_incidents, state),
        "scheduled_maintenances": maintenances.for_summary(state),
    }


def status(state: PageState) -> Json:
    return {"page": page(state), "status": status_object(state)}


def incidents(state: PageState) -> Json:
    """Open and recently resolved incidents, newest first (by creation), at most 50."""
    return {"page": page(state), "incidents": _incidents(_newest_incidents(state), state)}


def _newest_incidents(state: PageState) -> list[IncidentPageView]:
    seen: dict[int, IncidentPageView] = {}
    for view in (*state.open_incidents, *state.recent_resolved):
        seen.setdefault(view.id, view)
    newest = sorted(seen.values(), key=lambda v: (v.opened_at, v.id), reverse=True)
    return newest[:INCIDENTS_LIMIT]


def unresolved(state: PageState) -> Json:
    return {"page": page(state), "incidents": _incidents(state.open_incidents, state)}


# --- the documents as bytes, for the snapshot ------------------------------------------------

_INCIDENT_TEXT: ViewMemo[str] = ViewMemo()
_SLOT = "\x00incidents\x00"
"""Stands for the incidents while the rest is serialized; chat text never holds a NUL (IRC
and Matrix carry none), and a string that did would be serialized `\\u0000`-escaped
inside its own quotes, never as this whole JSON string."""


def encode(value: object) -> str:
    """The JSON text of a document (compact, UTF-8 as it is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _with_incidents(document: Json, views: Sequence[IncidentPageView],
                    state: PageState) -> bytes:
    """`encode(document)`, but each incident object is serialized once per change of the
    incident, not once per change of the page: with 1,000 open incidents, serializing them
    all took most of a rebuild of summary.json."""
    context = (state.url, state.components)
    pieces = [_INCIDENT_TEXT.get(view, context, functools.partial(_incident_text, view, state))
              for view in views]
    text = encode({**document, "incidents": _SLOT})
    return text.replace(encode(_SLOT), "[" + ",".join(pieces) + "]", 1).encode()


def _incident_text(view: IncidentPageView, state: PageState) -> str:
    return encode(incident(view, state))


def summary_body(state: PageState) -> bytes:
    """`encode(summary(state))` as bytes."""
    return _with_incidents(summary(state), state.open_incidents, state)


def unresolved_body(state: PageState) -> bytes:
    return _with_incidents({"page": page(state), "incidents": []}, state.open_incidents, state)


def incidents_body(state: PageState) -> bytes:
    return _with_incidents({"page": page(state), "incidents": []}, _newest_incidents(state),
                           state)
