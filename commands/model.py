"""Typed chat commands: what a line of chat means once parsed.

Every class here is an immutable value. `commands.grammar.parse` builds them from text and
`commands.grammar.render` turns them back into canonical text; the desk applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    """What a whitelisted user may do. `admin` may do everything."""

    STATUS = "status"
    INCIDENT = "incident"
    ESCALATION = "escalation"
    ADMIN = "admin"


class IncidentState(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


SEVERITIES = (1, 2, 3, 4)
"""Severity 1 is the worst (everything down), 4 the mildest."""

DEFAULT_SEVERITY = 3
"""Severity of `#incident open` when none is given."""

MAX_TEXT = 1000
"""Longest free text accepted in a command (characters). Longer text is refused, not cut."""

MAX_TITLE = 200
"""Longest incident title."""

MAX_INCIDENT_ID = 2_147_483_647
"""Incident ids are positive integers; chat refuses larger ones (a signed 32-bit value)."""

MAX_TOPIC = 100
"""Longest playbook topic."""

MAX_URL = 2000
"""Longest bug URL."""

MAX_NICK = 64
"""Longest IRC nick (Matrix user ids may have up to 255 characters)."""


# --- #status ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusAlert:
    text: str


@dataclass(frozen=True, slots=True)
class StatusNotice:
    text: str


@dataclass(frozen=True, slots=True)
class StatusLog:
    text: str


@dataclass(frozen=True, slots=True)
class StatusOk:
    text: str | None = None


@dataclass(frozen=True, slots=True)
class StatusHelp:
    pass


# --- #success / #thanks ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Success:
    text: str


@dataclass(frozen=True, slots=True)
class Thanks:
    text: str


# --- #incident -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentOpen:
    title: str
    severity: int = DEFAULT_SEVERITY


@dataclass(frozen=True, slots=True)
class IncidentSetState:
    incident_id: int
    state: IncidentState
    text: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentSetSeverity:
    incident_id: int
    severity: int


@dataclass(frozen=True, slots=True)
class IncidentSetLead:
    incident_id: int
    nick: str


@dataclass(frozen=True, slots=True)
class IncidentSetManager:
    incident_id: int
    nick: str


@dataclass(frozen=True, slots=True)
class IncidentList:
    pass


@dataclass(frozen=True, slots=True)
class IncidentShow:
    incident_id: int


@dataclass(frozen=True, slots=True)
class IncidentLog:
    """`#incident ID log`: the escalation manager pulls the full log."""

    incident_id: int


@dataclass(frozen=True, slots=True)
class IncidentHelp:
    pass


@dataclass(frozen=True, slots=True)
class Note:
    """`#log [ID] TEXT`: a timeline note."""

    text: str
    incident_id: int | None = None


# --- paging ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    incident_id: int | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    incident_id: int | None = None


@dataclass(frozen=True, slots=True)
class OnCall:
    pass


@dataclass(frozen=True, slots=True)
class OnCallOverride:
    """`#oncall override NICK until 2026-12-01 09:00`: NICK is on call from now until then.

    `until` is a naive wall-clock time to the minute: the desk reads it in the rotation's
    time zone (chat has no business knowing about zones).
    """

    nick: str
    until: datetime


# --- playbooks and bugs ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaybookShow:
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class PlaybookLink:
    topic: str
    url: str


@dataclass(frozen=True, slots=True)
class BugLink:
    url: str
    incident_id: int | None = None


# --- components (DESIGN §1.6) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentSet:
    """`#component NAME STATUS [TEXT]`: `name` as typed (a name or an id), `status` already a
    Statuspage value (`commands.component_status`)."""

    name: str
    status: str
    text: str | None = None


@dataclass(frozen=True, slots=True)
class ComponentList:
    """`#component list`, `#components`."""


@dataclass(frozen=True, slots=True)
class IncidentAffects:
    """`#incident ID affects NAME[,NAME...] [STATUS]` (STATUS defaults to partial_outage)."""

    incident_id: int
    names: tuple[str, ...]
    status: str = "partial_outage"


# --- scheduled maintenance -------------------------------------------------------------------

MAX_MAINTENANCE = timedelta(days=30)
"""Longest maintenance window `#maintenance schedule` accepts."""

MAX_COMPONENTS = 50
"""Most components one window may name."""

class MaintenanceStep(StrEnum):
    """What an operator does to a window: `#maintenance ID start|complete|cancel`."""

    START = "start"
    COMPLETE = "complete"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class MaintenanceSchedule:
    """`#maintenance schedule 2026-12-06 10:00 2h on gerrit,zuul Gerrit upgrade`.

    `start` is a naive wall-clock time to the minute: the desk reads it in
    `maintenance.timezone`. `components` are names or ids as typed (checked by the desk).
    """

    start: datetime
    duration: timedelta
    title: str
    components: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MaintenanceAct:
    maintenance_id: int
    step: MaintenanceStep
    text: str | None = None


@dataclass(frozen=True, slots=True)
class MaintenanceList:
    pass


# --- after the incident (DESIGN §1.7) --------------------------------------------------------

MAX_WHY_NUMBER = 99
"""Highest Five-Whys entry number `#why ID N TEXT` may name."""

MAX_ROLE = 16
"""Longest incident role name (`incidents.roles`)."""


@dataclass(frozen=True, slots=True)
class Why:
    """`#why [ID] TEXT`: the incident's next Five-Whys entry; `#why ID N TEXT` replaces
    entry `number` (the ID is then required: one leading number always names the incident,
    as for `#log`)."""

    text: str
    incident_id: int | None = None
    number: int | None = None


@dataclass(frozen=True, slots=True)
class ActionAdd:
    """`#action [ID] TEXT [owner NICK] [due YYYY-MM-DD]`: a follow-up action item."""

    text: str
    incident_id: int | None = None
    owner: str | None = None
    due: date | None = None


@dataclass(frozen=True, slots=True)
class ActionClose:
    """`#action A7 done|drop [TEXT]`: `outcome` is `done` or `drop`."""

    action_id: int
    outcome: str
    text: str | None = None


@dataclass(frozen=True, slots=True)
class ActionFile:
    """`#action A7 file`: file the item as a ticket in `postmortem.file_actions_in`."""

    action_id: int


@dataclass(frozen=True, slots=True)
class ActionList:
    """`#actions [ID]`: open action items, all or one incident's."""

    incident_id: int | None = None


@dataclass(frozen=True, slots=True)
class IncidentSetRole:
    """`#incident ID role ROLE NICK` for a role other than `lead` and `em` (those parse to
    `IncidentSetLead` / `IncidentSetManager`). `role` is lowercase; whether it is one of
    `incidents.roles` is the desk's to say."""

    incident_id: int
    role: str
    nick: str


# --- questions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Now:
    """`#now`, `what's happening?`, `status?` addressed to the bot."""


Command = (
    StatusAlert
    | StatusNotice
    | StatusLog
    | StatusOk
    | StatusHelp
    | Success
    | Thanks
    | IncidentOpen
    | IncidentSetState
    | IncidentSetSeverity
    | IncidentSetLead
    | IncidentSetManager
    | IncidentList
    | IncidentShow
    | IncidentLog
    | IncidentHelp
    | Note
    | Page
    | Ack
    | OnCall
    | OnCallOverride
    | PlaybookShow
    | PlaybookLink
    | BugLink
    | Now
    | MaintenanceSchedule
    | MaintenanceAct
    | MaintenanceList
    | ComponentSet
    | ComponentList
    | IncidentAffects
    | Why
    | ActionAdd
    | ActionClose
    | ActionFile
    | ActionList
    | IncidentSetRole
)


@dataclass(frozen=True, slots=True)
class ParseError:
    """A message meant for the bot that does not parse: answer with `usage`.

    `command` names the command as the user would (`#status alert`) and `usage` is the whole
    usage line; `reason` says what was wrong when there is more to say than the usage.
    """

    command: str
    usage: str
    reason: str | None = None
