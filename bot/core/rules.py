"""The rules: what each command does, decided without I/O (the h11 `Connection` style).

`needs(command)` says what the applier must read; `decide(command, view, context)` turns the
command, who sent it and that read-only view into a `Decision`. No `await`, no clock but
`context.now`, no database: every rule can be tested with plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.decision import (
    NEW_INCIDENT,
    NEW_POST,
    AddKudos,
    AddPost,
    Append,
    Broadcast,
    ClearAlert,
    Decision,
    OpenIncident,
    SetAlert,
    SetField,
    SetState,
    Touch,
)
from bot.core.effects import (
    EVERYWHERE,
    NOTICE_PREFIX,
    ChannelEffect,
    Notice,
    RestoreTopic,
    SetTopic,
)
from bot.core.events import (
    AlertCleared,
    AlertSet,
    BugLinked,
    IncidentOpened,
    KudosRecorded,
    NoteAdded,
    RoleAssigned,
    SeverityChanged,
    StateChanged,
    StatusPosted,
)
from commands import maintenance_replies, replies
from commands import model as m
from commands.auth import Identity, Principal, required_role
from commands.grammar import command_name
from commands.model import Command
from commands.replies import AlertView, IncidentView, LogLine
from commands.usage import INCIDENT_HELP, STATUS_HELP

ALERT_SEVERITY = 2
"""Severity of the incident that `#status alert` opens (raise it with `#incident ID sev 1`)."""

MAINTENANCE_STATES = ("scheduled", "in_progress", "completed", "cancelled")
"""The states of an incident of kind maintenance (storage.maintenance), which no plain
incident has."""

LOG_ENTRIES_IN_CHAT = 20
"""How many timeline entries `#incident ID log` sends by private message."""

NOTE_USAGE = "#log #ID TEXT"
BUG_USAGE = "#bug #ID BUG-URL"


# --- what a command needs to be decided ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Needs:
    alert: bool = False
    """The current alert."""
    alert_incident: bool = False
    """The open incident the alert opened (the newest, should there be several)."""
    open_incidents: bool = False
    open_incidents_unless_alert_incident: bool = False
    """The open incidents, only when no alert incident is open (with `alert_incident`): one
    indexed read instead of every open incident, for the common case."""
    latest: bool = False
    """The open incidents (or the named one) with their latest public update."""
    incident: int | None = None
    """The incident the command names, read for update."""
    alert_incident_for_update: bool = False
    """The alert's own incident (`View.incident`), read for update."""
    log: int = 0
    """How many of the named incident's last timeline entries."""
    alert_if_alert_incident: bool = False
    """The current alert, only when the named incident is one an alert opened."""
    situation: bool = False
    """Everything `#now` tells: the alert, the open incidents with their latest public
    update and roles, the components not operational, the maintenance in progress; read in
    one statement (storage/situation.py)."""


@dataclass(frozen=True, slots=True)
class AlertFacts:
    text: str
    set_by: str
    set_at: datetime
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class MaintenanceFacts:
    """A window in progress, as `#now` tells it: its planned end in the zone it was typed in."""

    id: int
    title: str
    ends_at: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class View:
    """What is stored, as far as the command needs it (see `Needs`)."""

    alert: AlertFacts | None = None
    alert_incident: IncidentView | None = None
    open_incidents: tuple[IncidentView, ...] = ()
    incident: IncidentView | None = None
    log: tuple[LogLine, ...] = ()
    components: tuple[tuple[str, str], ...] = ()
    """(name, status) of each component not operational, in page order."""
    maintenance: tuple[MaintenanceFacts, ...] = ()
    """The maintenance windows in progress, soonest start first."""


@dataclass(frozen=True, slots=True)
class Context:
    """Who said it, when, and the settings rules depend on."""

    actor: str
    now: datetime
    page_url: str | None = None
    log_api: bool = False
    """Whether `/api/incidents/ID/log.*` answers (status_page.api_token is set)."""

    def incident_url(self, incident_id: int) -> str | None:
        return f"{self.page_url}/incidents/{incident_id}" if self.page_url else None


def needs(command: Command) -> Needs:
    match command:
        case m.StatusAlert():
            return Needs(alert_incident=True)
        case m.StatusNotice():
            return Needs(alert_incident=True, open_incidents_unless_alert_incident=True)
        case m.StatusOk():
            return Needs(alert=True, alert_incident_for_update=True)
        case m.IncidentSetState(incident_id, state, _):
            return Needs(incident=incident_id,
                         alert_if_alert_incident=state is m.IncidentState.RESOLVED)
        case m.IncidentSetSeverity(incident_id) | m.IncidentSetLead(incident_id) | \
                m.IncidentSetManager(incident_id):
            return Needs(incident=incident_id)
        case m.IncidentShow(incident_id):
            return Needs(incident=incident_id, latest=True)
        case m.IncidentLog(incident_id):
            return Needs(incident=incident_id, log=LOG_ENTRIES_IN_CHAT)
        case m.IncidentList():
            return Needs(open_incidents=True, latest=True)
        case m.Now():
            return Needs(situation=True)
        case m.Note(_, incident_id) | m.BugLink(_, incident_id):
            if incident_id is not None:
                return Needs(incident=incident_id)
            return Needs(open_incidents=True)
    return Needs()


# --- who may ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    """For the audit log and the bot's own log."""
    reply: str


def authorize(command: Command, principal: Principal | None, identity: Identity,
              *, accounts_matter: bool) -> Refusal | None:
    """None when the sender may apply `command`. `accounts_matter`: the whitelist names IRC
    services accounts, so an identity whose account could not be verified may be one."""
    role = required_role(command)
    if role is None or (principal is not None and principal.may(role)):
        return None
    name = command_name(command)
    reason = "not on the whitelist" if principal is None else f"lacks role {role}"
    # An account that could not be verified might have been a whitelisted one: say so,
    # and to say it again, rather than "not authorized".
    unverified = identity.unverified if accounts_matter else None
    if unverified:
        return Refusal(f"{reason}; account not verified: {unverified}",
                       replies.unverified(name, unverified))
    return Refusal(reason, replies.refusal(name))


# --- deciding -----------------------------------------------------------------------------


def decide(command: Command, view: View, context: Context) -> Decision:
    """What `command` does, given `view`; the sender is already authorized."""
    out = Decision()
    now = context.now
    match command:
        case m.StatusAlert(text):
            _alert(text, view, context, out)
        case m.StatusNotice(text):
            incident = _current_incident(view)
            incident_id = incident.id if incident else None
            out.changes.append(AddPost("notice", text, context.actor, now, incident_id))
            if incident is not None:
                out.changes += [Append(incident.id, "status.notice", now, text=text),
                                Touch(incident.id, now)]
            out.broadcasts.append(Broadcast(NEW_POST, (_notice(text),)))
            out.events.append(StatusPosted(at=now, incident_id=incident_id, post="notice",
                                           text=text))
            out.say(replies.notice_sent, incident_id)
        case m.StatusLog(text):
            out.changes.append(AddPost("log", text, context.actor, now, None))
            out.events.append(StatusPosted(at=now, incident_id=None, post="log", text=text))
            out.say(replies.status_logged)
        case m.StatusOk(text):
            _ok(text, view, context, out)
        case m.StatusHelp():
            out.tell(*_lines(STATUS_HELP))
        case m.Success(text) | m.Thanks(text):
            kind = "success" if isinstance(command, m.Success) else "thanks"
            out.changes.append(AddKudos(kind, text, context.actor, now))
            out.events.append(KudosRecorded(at=now, list=kind, text=text))
            out.say(replies.kudos_added, kind, context.page_url)
        case m.IncidentOpen(title, severity):
            out.changes += [
                OpenIncident(title, severity, context.actor, now),
                Append(NEW_INCIDENT, "opened", now, text=title, new="investigating"),
                Append(NEW_INCIDENT, "severity", now, new=str(severity)),
            ]
            out.events.append(IncidentOpened(at=now, incident_id=NEW_INCIDENT, title=title,
                                             severity=severity))
            out.say(_opened_reply, NEW_INCIDENT, severity, title, context.page_url)
        case m.IncidentSetState(incident_id, state, text):
            if (incident := _named(incident_id, view, out)) is not None:
                if incident.state in MAINTENANCE_STATES:
                    # A window moves through #maintenance: its timers and holds follow.
                    out.tell(maintenance_replies.use_maintenance(incident_id))
                else:
                    _set_state(incident, state, text, view, now, out)
        case m.IncidentSetSeverity(incident_id, severity):
            if (incident := _named(incident_id, view, out)) is not None:
                if incident.state in MAINTENANCE_STATES:
                    # A window has no severity, and must not page anyone by getting one.
                    out.tell(maintenance_replies.use_maintenance(incident_id))
                else:
                    _set_field(incident, "severity", severity, now, out)
        case m.IncidentSetLead(incident_id, nick):
            if (incident := _named(incident_id, view, out)) is not None:
                _set_field(incident, "lead", nick, now, out)
        case m.IncidentSetManager(incident_id, nick):
            if (incident := _named(incident_id, view, out)) is not None:
                _set_field(incident, "manager", nick, now, out)
        case m.IncidentList():
            out.tell(*replies.incident_list(list(view.open_incidents), now, context.page_url))
        case m.IncidentShow(incident_id):
            if (incident := _named(incident_id, view, out)) is not None:
                out.tell(*replies.incident_summary(incident, now,
                                                   context.incident_url(incident.id)))
        case m.IncidentLog(incident_id):
            if (incident := _named(incident_id, view, out)) is not None:
                log_url = context.page_url if context.log_api else None
                out.tell(*replies.incident_log(incident.id, incident.title, view.log,
                                               log_url), private=True)
                out.say(replies.log_sent, incident.id)
        case m.IncidentHelp():
            out.tell(*_lines(INCIDENT_HELP))
        case m.Note(text, incident_id):
            if (incident := target(incident_id, view, NOTE_USAGE, out)) is not None:
                # Notes are the responders' working log: private to the export, not the page.
                out.changes += [Append(incident.id, "note", now, text=text, public=False),
                                Touch(incident.id, now)]
                out.events.append(NoteAdded(at=now, incident_id=incident.id))
                out.say(replies.noted, incident.id)
        case m.BugLink(url, incident_id):
            if (incident := target(incident_id, view, BUG_USAGE, out)) is not None:
                out.changes += [Append(incident.id, "bug", now, new=url),
                                Touch(incident.id, now)]
                out.events.append(BugLinked(at=now, incident_id=incident.id, url=url))
                out.say(replies.bug_linked, url, incident.id)
        case m.Page() | m.Ack() | m.OnCall() | m.OnCallOverride():
            _not_configured(command, "paging", out)
        case m.PlaybookShow() | m.PlaybookLink():
            _not_configured(command, "playbooks", out)
        case m.MaintenanceSchedule() | m.MaintenanceAct() | m.MaintenanceList():
            # Applied by bot/maintenance's extension, which the app always plugs in.
            _not_configured(command, "maintenance", out)
        case m.ComponentSet() | m.ComponentList() | m.IncidentAffects():
            # The components extension applies these; a desk without it has none.
            _not_configured(command, "components", out)
        case m.Why() | m.ActionAdd() | m.ActionClose() | m.ActionFile() | m.ActionList() | \
                m.IncidentSetRole():
            # The follow-up extension (bot/followup) applies these.
            _not_configured(command, "incidents", out)
        case m.Now():
            alert = view.alert
            alert_view = (AlertView(alert.text, alert.set_by, alert.set_at)
                          if alert is not None else None)
            out.tell(*replies.now_answer(alert_view, list(view.open_incidents), now,
                                         context.page_url, components=view.components,
                                         maintenance=[(w.id, w.title, w.ends_at, w.timezone)
                                                      for w in view.maintenance]))
    return out


def _not_configured(command: Command, section: str, out: Decision) -> None:
    out.not_configured = section
    out.say(replies.not_configured, command_name(command), section)


def _alert(text: str, view: View, context: Context, out: Decision) -> None:
    now = context.now
    incident = view.alert_incident
    opened = incident is None
    incident_id: int
    if incident is None:
        title = _title_from(text)
        incident_id = NEW_INCIDENT
        out.changes += [
            OpenIncident(title, ALERT_SEVERITY, context.actor, now, is_alert=True),
            Append(NEW_INCIDENT, "opened", now, text=title, new="investigating"),
        ]
        out.events.append(IncidentOpened(at=now, incident_id=NEW_INCIDENT, title=title,
                                         severity=ALERT_SEVERITY))
    else:
        incident_id = incident.id
    out.changes += [
        AddPost("alert", text, context.actor, now, incident_id),
        SetAlert(text, context.actor, now, incident_id, NEW_POST),
        Append(incident_id, "status.alert", now, text=text),
        Touch(incident_id, now),
    ]
    out.broadcasts.append(Broadcast(NEW_POST, (_notice(text),
                                               SetTopic(EVERYWHERE, text, incident_id))))
    out.events.append(AlertSet(at=now, incident_id=incident_id, text=text))
    out.say(replies.alert_set, incident_id, opened)


def _ok(text: str | None, view: View, context: Context, out: Decision) -> None:
    now = context.now
    alert = view.alert
    if alert is None:
        out.say(replies.no_alert)
        return
    incident_id = alert.incident_id
    out.changes += [ClearAlert(), AddPost("ok", text, context.actor, now, incident_id)]
    incident = view.incident
    if incident is not None:
        out.changes.append(Append(incident.id, "status.ok", now, text=text))
        if incident.state != "resolved":
            out.changes += [SetState(incident.id, "resolved", now),
                            Append(incident.id, "state", now, old=incident.state,
                                   new="resolved", text=text)]
            out.events.append(StateChanged(at=now, incident_id=incident.id,
                                           old=incident.state, new="resolved"))
    effects: list[ChannelEffect] = [RestoreTopic(EVERYWHERE, incident_id)]
    if text:
        effects.append(_notice(text))
    out.broadcasts.append(Broadcast(NEW_POST, tuple(effects)))
    out.events.append(AlertCleared(at=now, incident_id=incident_id, text=text))
    out.say(replies.alert_cleared, incident_id)


def _set_state(incident: IncidentView, state: m.IncidentState, text: str | None, view: View,
               now: datetime, out: Decision) -> None:
    old = incident.state
    if old == state.value and text is None:
        out.say(replies.already_in_state, incident.id, old)
        return
    out.changes += [SetState(incident.id, state.value, now),
                    Append(incident.id, "state", now, old=old, new=state.value, text=text)]
    out.events.append(StateChanged(at=now, incident_id=incident.id, old=old, new=state.value,
                                   text=text))
    still_alerting = (state is m.IncidentState.RESOLVED and incident.is_alert
                      and view.alert is not None)
    out.say(_state_reply, incident.id, state.value, still_alerting)


def _set_field(incident: IncidentView, name: str, value: int | str, now: datetime,
               out: Decision) -> None:
    old: int | str | None = getattr(incident, name)
    if old == value:
        out.say(replies.field_unchanged, incident.id, name, value)
        return
    out.changes += [SetField(incident.id, name, value, now),
                    Append(incident.id, name, now, old=None if old is None else str(old),
                           new=str(value))]
    if name == "severity":
        assert isinstance(value, int) and not isinstance(old, str)
        out.events.append(SeverityChanged(at=now, incident_id=incident.id, old=old,
                                          new=value))
    else:
        assert isinstance(value, str) and not isinstance(old, int)
        out.events.append(RoleAssigned(at=now, incident_id=incident.id, role=name, old=old,
                                       new=value))
    out.say(replies.field_changed, incident.id, name, value)


def _named(incident_id: int, view: View, out: Decision) -> IncidentView | None:
    if view.incident is None or view.incident.id != incident_id:
        out.say(replies.no_such_incident, incident_id)
        return None
    return view.incident


def target(incident_id: int | None, view: View, usage: str,
            out: Decision) -> IncidentView | None:
    """The incident named, else the only open one; says why not in the reply."""
    if incident_id is not None:
        return _named(incident_id, view, out)
    if len(view.open_incidents) == 1:
        return view.open_incidents[0]
    if not view.open_incidents:
        out.say(replies.none_open, usage)
    else:
        out.say(replies.several_open, [i.id for i in view.open_incidents], usage)
    return None


def _current_incident(view: View) -> IncidentView | None:
    """The incident a `#status notice` belongs to: the alert's (the newest open incident an
    alert opened), else the only open one."""
    if view.alert_incident is not None:
        return view.alert_incident
    alerts = [i for i in view.open_incidents if i.is_alert]
    if alerts:
        return max(alerts, key=lambda i: i.id)
    return view.open_incidents[0] if len(view.open_incidents) == 1 else None


def _notice(text: str) -> Notice:
    return Notice(EVERYWHERE, NOTICE_PREFIX + text)


def _opened_reply(incident_id: int, severity: int, title: str, page_url: str | None) -> str:
    url = f"{page_url}/incidents/{incident_id}" if page_url else None
    return replies.incident_opened(incident_id, severity, title, url)


def _state_reply(incident_id: int, state: str, still_alerting: bool) -> str:
    return replies.state_changed(incident_id, state, alert_still_set=still_alerting)


def _title_from(text: str) -> str:
    """An alert's text as an incident title (the full text stays in the timeline)."""
    if len(text) <= m.MAX_TITLE:
        return text
    return text[: m.MAX_TITLE - 1].rstrip() + "…"


def _lines(help_text: str | tuple[str, ...]) -> Sequence[str]:
    return (help_text,) if isinstance(help_text, str) else help_text
