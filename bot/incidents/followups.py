"""What happened after the fire was out, as the exports see it: Five Whys, action items, roles.

Plain values, read once per export (a few dozen rows at most, unlike the timeline): the
postmortem template, the JSON log and the bundle all render from one `Followups`. Where they
come from (the whys/actions/roles tables, the tracker cache for ticket states) is the
loader's business; an incident without any renders empty sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Why:
    n: int
    """1 for the first why; `#why ID N TEXT` replaces entry N."""
    text: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Ticket:
    """A filed action item's ticket, with its last known state (never fetched by an export)."""

    url: str
    state: str | None = None
    checked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ActionItem:
    id: str
    """Written `A7`: one sequence for all incidents."""
    text: str
    state: str
    """open | done | dropped"""
    created_by: str
    created_at: datetime
    owner: str | None = None
    due: date | None = None
    ticket: Ticket | None = None


@dataclass(frozen=True, slots=True)
class RoleHolder:
    role: str
    nick: str
    public: bool
    """lead and comms show on the status page; the others only in private views."""


@dataclass(frozen=True, slots=True)
class Followups:
    whys: list[Why] = field(default_factory=list)
    actions: list[ActionItem] = field(default_factory=list)
    roles: list[RoleHolder] = field(default_factory=list)


NONE = Followups()
