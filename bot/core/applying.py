"""The I/O side of a decision: reading the view it needs, writing what it decided.

Both run inside the command's one transaction; nothing here decides anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.core.decision import (
    NEW_INCIDENT,
    NEW_POST,
    AddKudos,
    AddPost,
    Append,
    ClearAlert,
    Decision,
    New,
    OpenIncident,
    SetAlert,
    SetField,
    SetState,
    Touch,
    resolve,
)
from bot.core.effects import broadcast, to_row
from bot.core.ports import Channel
from bot.core.rules import AlertFacts, MaintenanceFacts, Needs, View
from commands.replies import IncidentView, LogLine
from storage.incidents import OpenIncidentSummary
from storage.models import Incident
from storage.timeline import Where
from storage.unit_of_work import Transaction


class Loaded:
    """The view a command needs, and the rows behind it (changed in place when applied)."""

    def __init__(self, view: View, rows: dict[int, Incident]) -> None:
        self.view = view
        self.rows = rows


async def load_view(needs: Needs, tx: Transaction) -> Loaded:
    if needs.situation:
        return Loaded(await _situation(tx), {})
    rows: dict[int, Incident] = {}
    alert = None
    if needs.alert or needs.alert_incident_for_update:
        alert = await _alert(tx)
    alert_incident = None
    if needs.alert_incident:
        found = await tx.incidents.open_alert_incident()
        if found is not None:
            rows[found.id] = found
            alert_incident = _facts(found)
    open_rows: Sequence[Incident | OpenIncidentSummary] = ()
    latest: dict[int, _Update] = {}
    if needs.open_incidents or (needs.open_incidents_unless_alert_incident
                                and alert_incident is None):
        if needs.latest:
            # With their newest public entries, in the same statement, as plain rows: the
            # commands that ask for them (`#now`, `#incident list`) change no incident.
            with_latest = await tx.incidents.list_open_with_latest()
            open_rows = with_latest
            latest = {row.id: row.latest for row in with_latest if row.latest is not None}
        else:
            listed = await tx.incidents.list_open()
            open_rows = listed
            for row in listed:
                rows.setdefault(row.id, row)
    incident = None
    named = needs.incident
    if needs.alert_incident_for_update and alert is not None:
        named = alert.incident_id
    if named is not None:
        found = await tx.incidents.get(named, for_update=True)
        if found is not None:
            rows[found.id] = found
            incident = found
    if needs.alert_if_alert_incident and incident is not None and incident.is_alert:
        alert = await _alert(tx)
    if needs.latest and incident is not None and all(row.id != incident.id
                                                     for row in open_rows):
        latest.update(await tx.timeline.latest_of([incident.id]))
    roles: dict[int, list[tuple[str, str]]] = {}
    if needs.latest:
        ids = [row.id for row in open_rows] + ([incident.id] if incident is not None else [])
        roles = await tx.roles.held_in(ids)
    log: tuple[LogLine, ...] = ()
    if needs.log and incident is not None:
        log = tuple(LogLine(e.at, e.actor, e.kind, e.public, e.text, e.old_value, e.new_value)
                    for e in await tx.timeline.last(incident.id, needs.log))
    view = View(
        alert=alert,
        alert_incident=alert_incident,
        open_incidents=tuple(_facts(row, latest.get(row.id), roles.get(row.id, ()))
                             for row in open_rows),
        incident=_facts(incident, latest.get(incident.id), roles.get(incident.id, ()))
        if incident is not None else None,
        log=log,
    )
    return Loaded(view, rows)


async def _situation(tx: Transaction) -> View:
    """`#now`'s view, from one statement; it changes nothing, so no rows come with it."""
    found = await tx.situation.read()
    alert = found.alert
    return View(
        components=tuple(found.components),
        maintenance=tuple(MaintenanceFacts(w.id, w.title, w.ends_at, w.timezone)
                          for w in found.maintenance),
        alert=AlertFacts(alert.text, alert.set_by, alert.set_at, alert.incident_id)
        if alert is not None else None,
        open_incidents=tuple(_facts(row, row.latest, found.roles.get(row.id, ()))
                             for row in found.open_incidents),
    )


async def _alert(tx: Transaction) -> AlertFacts | None:
    current = await tx.alert.in_force()
    if current is None:
        return None
    return AlertFacts(current.text, current.set_by, current.set_at, current.incident_id)


class _Update(Protocol):
    """A public timeline entry as an answer shows it (`PublicUpdate`, or a stored entry)."""

    @property
    def at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str | None: ...
    @property
    def old_value(self) -> str | None: ...
    @property
    def new_value(self) -> str | None: ...


def _facts(row: Incident | OpenIncidentSummary, entry: _Update | None = None,
           roles: Sequence[tuple[str, str]] = ()) -> IncidentView:
    """An incident as rules and replies see it, with its latest public update if known."""
    text = None
    at = None
    if entry is not None:
        at = entry.at
        text = entry.text or (
            f"{entry.kind} {entry.old_value or '-'} → {entry.new_value}"
            if entry.new_value is not None else entry.kind
        )
    return IncidentView(
        id=row.id, title=row.title, severity=row.severity, state=row.state, lead=row.lead,
        manager=row.manager, opened_at=row.opened_at, latest=text, latest_at=at,
        is_alert=row.is_alert, roles=tuple(roles),
    )


async def write(decision: Decision, loaded: Loaded, tx: Transaction, where: Where,
                channels: Sequence[Channel], now: datetime) -> Decision:
    """Apply the decision's changes and queue its broadcasts; the decision with its
    placeholder ids replaced by the real ones."""
    ids: dict[New, int] = {}
    rows = loaded.rows
    for change in decision.changes:
        change = resolve(change, ids)
        match change:
            case OpenIncident(title, severity, opened_by, at, is_alert):
                row = await tx.incidents.open(title=title, severity=severity,
                                              opened_by=opened_by, at=at, is_alert=is_alert)
                rows[row.id] = row
                ids[NEW_INCIDENT] = row.id
            case AddPost(kind, text, actor, at, incident_id):
                ids[NEW_POST] = await tx.status_posts.add(kind, text, actor, at, incident_id)
            case SetAlert(text, actor, at, incident_id, post_id):
                await tx.alert.set(text, actor, at, incident_id, post_id)
            case ClearAlert():
                await tx.alert.clear()
            case SetState(incident_id, state, at):
                tx.incidents.set_state(rows[incident_id], state, at)
            case SetField(incident_id, name, value, at):
                row = rows[incident_id]
                setattr(row, name, value)
                row.updated_at = at
            case Touch(incident_id, at):
                rows[incident_id].updated_at = at
            case Append(incident_id, kind, at, text, old, new, public):
                await tx.timeline.append(incident_id, kind, where, at, text=text, old=old,
                                         new=new, public=public)
            case AddKudos(kind, text, actor, at):
                await tx.kudos.add(kind, text, actor, at)
    resolved = resolve(decision, ids)
    queued = [queued for b in resolved.broadcasts
              for queued in broadcast(f"post:{b.post_id}", channels, b.effects)]
    if queued:
        await tx.outbox.add_many([to_row(q) for q in queued], now)
    return resolved
