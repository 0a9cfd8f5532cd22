"""Domain events: what changed, published after the change is committed.

A closed set of frozen dataclasses; subscribers match on their types, never on strings.
`kind` (a class attribute) is the name the outside sees (server-sent events, the relay
between instances). Publishers (status page, SSE, pager, ...) subscribe to the `EventBus`;
a subscriber must not block, and one that raises is logged and never stops the others or
the desk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, TypeAlias

log = logging.getLogger("statusdesk.events")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSet:
    kind: ClassVar[str] = "alert.set"
    at: datetime
    incident_id: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertCleared:
    kind: ClassVar[str] = "alert.cleared"
    at: datetime
    incident_id: int | None
    text: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusPosted:
    """A `#status notice` or `#status log` (`post` says which)."""

    kind: ClassVar[str] = "status.posted"
    at: datetime
    incident_id: int | None
    post: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KudosRecorded:
    kind: ClassVar[str] = "kudos.recorded"
    at: datetime
    incident_id: None = None
    list: str
    """`success` or `thanks`."""
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentOpened:
    kind: ClassVar[str] = "incident.opened"
    at: datetime
    incident_id: int
    title: str
    severity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    kind: ClassVar[str] = "incident.changed"
    at: datetime
    incident_id: int
    old: str
    new: str
    text: str | None = None

    @property
    def resolved(self) -> bool:
        return self.new == "resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class SeverityChanged:
    kind: ClassVar[str] = "incident.changed"
    at: datetime
    incident_id: int
    old: int | None
    new: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleAssigned:
    """The incident lead or the escalation manager named (`role`: `lead` or `manager`)."""

    kind: ClassVar[str] = "incident.changed"
    at: datetime
    incident_id: int
    role: str
    old: str | None
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BugLinked:
    kind: ClassVar[str] = "incident.changed"
    at: datetime
    incident_id: int
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteAdded:
    kind: ClassVar[str] = "incident.note"
    at: datetime
    incident_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentChanged:
    """A component's status changed (DESIGN §1.6): set from chat (`incident_id` None, or
    the incident whose link or resolution changed it)."""

    kind: ClassVar[str] = "component.changed"
    at: datetime
    incident_id: int | None
    component_id: str
    name: str
    old: str
    new: str
    text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WhyRecorded:
    """A Five-Whys entry added or replaced (`#why`; private, like a note)."""

    kind: ClassVar[str] = "incident.note"
    at: datetime
    incident_id: int
    number: int
    replaced: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionChanged:
    """An action item added, done or dropped (`change`: `added`, `done`, `dropped`)."""

    kind: ClassVar[str] = "incident.note"
    at: datetime
    incident_id: int
    action_id: int
    change: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionFilingRequested:
    """`#action A7 file` was accepted: the item is to become a ticket in `tracker`
    (`postmortem.file_actions_in`). Extensions see it inside the command's transaction
    (`DeskExtension.on_change`): the one that files tickets queues its outbox effect there,
    so the request commits, or rolls back, with the timeline entry that records it."""

    kind: ClassVar[str] = "incident.note"
    at: datetime
    incident_id: int
    action_id: int
    tracker: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintenanceChanged:
    """A maintenance window was scheduled, announced (the heads-up), started, ran past its
    planned end (`overrunning`: the channels were asked whether it is complete), completed
    or cancelled. `incident_id` is its id (maintenance shares the incident id space);
    `components` are the ids of the components it holds."""

    kind: ClassVar[str] = "maintenance.changed"
    at: datetime
    incident_id: int
    title: str
    phase: str
    """scheduled | announced | started | overrunning | completed | cancelled"""
    starts_at: datetime
    ends_at: datetime
    components: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Relayed between instances as JSON: times come back as text, tuples as lists.
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, datetime.fromisoformat(value))
        if not isinstance(self.components, tuple):
            object.__setattr__(self, "components", tuple(self.components))


MAINTENANCE_PHASES = ("scheduled", "announced", "started", "overrunning", "completed",
                      "cancelled")


# The names the outside sees (server-sent events, the relay), for those that match on them.
ALERT_SET = AlertSet.kind
ALERT_CLEARED = AlertCleared.kind
STATUS_POSTED = StatusPosted.kind
KUDOS_RECORDED = KudosRecorded.kind
INCIDENT_OPENED = IncidentOpened.kind
INCIDENT_CHANGED = StateChanged.kind
TIMELINE_NOTE = NoteAdded.kind
COMPONENT_CHANGED = ComponentChanged.kind
MAINTENANCE_CHANGED = MaintenanceChanged.kind

DeskEvent: TypeAlias = (
    AlertSet | AlertCleared | StatusPosted | KudosRecorded | IncidentOpened | StateChanged
    | SeverityChanged | RoleAssigned | BugLinked | NoteAdded | ComponentChanged
    | MaintenanceChanged | WhyRecorded | ActionChanged | ActionFilingRequested
)
"""Every committed change the desk announces."""

EVENT_TYPES: tuple[type[DeskEvent], ...] = (
    AlertSet, AlertCleared, StatusPosted, KudosRecorded, IncidentOpened, StateChanged,
    SeverityChanged, RoleAssigned, BugLinked, NoteAdded, ComponentChanged, MaintenanceChanged,
    WhyRecorded, ActionChanged, ActionFilingRequested,
)
_BY_NAME: dict[str, type[DeskEvent]] = {t.__name__: t for t in EVENT_TYPES}


def event_fields(event: DeskEvent) -> dict[str, Any]:
    """The event's own data (everything but `at` and `incident_id`), for the relay."""
    data = asdict(event)
    data.pop("at")
    data.pop("incident_id")
    return data


def event_from(type_name: str, at: datetime, incident_id: int | None,
               data: Mapping[str, Any]) -> DeskEvent | None:
    """The event `event_fields` described, or None for one this version does not know."""
    cls = _BY_NAME.get(type_name)
    if cls is None:
        return None
    names = {f.name for f in fields(cls)} - {"at", "incident_id"}
    if set(data) != names:
        return None
    try:
        return cls(at=at, incident_id=incident_id, **data)  # type: ignore[arg-type]
    except TypeError:
        return None


Subscriber = Callable[[DeskEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: DeskEvent) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber, event.kind)
