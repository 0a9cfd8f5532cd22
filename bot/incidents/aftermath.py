"""What an export shows of the work after an incident: its Five Whys, its action items and
who held which role (DESIGN §1.7), read in one go before the timeline streams.

STAND-IN on branch i20-bundle: the same names and shapes as i20-actions' module of this
name (which reads the whys, action_items and incident_roles tables); at the merge, take
that branch's file. Until then `load_aftermath` knows only the lead and the escalation
manager, and the exports show empty Five Whys and action items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from storage.models import Incident
from storage.unit_of_work import Transaction


@dataclass(frozen=True, slots=True)
class WhyItem:
    number: int
    text: str
    author: str
    """Who wrote the current text (the last to replace it)."""
    at: datetime


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: int
    text: str
    owner: str | None
    due: date | None
    state: str
    created_by: str
    created_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    ticket_url: str | None
    ticket_state: str | None
    ticket_checked_at: datetime | None

    @property
    def name(self) -> str:
        return f"A{self.id}"


@dataclass(frozen=True, slots=True)
class Aftermath:
    whys: tuple[WhyItem, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    roles: dict[str, str] = field(default_factory=dict)
    """role -> nick, `lead` and `em` first, then in `incidents.roles` order."""

    def document(self) -> dict[str, Any]:
        """`whys`, `actions` and `roles` as the JSON export carries them."""
        return {
            "whys": [{"number": w.number, "text": w.text, "author": w.author,
                      "at": _iso(w.at)} for w in self.whys],
            "actions": [{"id": a.name, "text": a.text, "owner": a.owner,
                         "due": a.due.isoformat() if a.due else None, "state": a.state,
                         "created_by": a.created_by, "created_at": _iso(a.created_at),
                         "closed_by": a.closed_by, "closed_at": _iso(a.closed_at),
                         "ticket": ({"url": a.ticket_url, "state": a.ticket_state,
                                     "checked_at": _iso(a.ticket_checked_at)}
                                    if a.ticket_url else None)}
                        for a in self.actions],
            "roles": dict(self.roles),
        }


async def load_aftermath(tx: Transaction, incident: Incident,
                         role_order: Sequence[str] = ()) -> Aftermath:
    """The incident's whys, action items and roles (stand-in: roles from the incident row)."""
    held = {"lead": incident.lead, "em": incident.manager}
    return Aftermath(roles={name: nick for name, nick in held.items() if nick})


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
