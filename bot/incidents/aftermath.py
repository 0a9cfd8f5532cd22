"""What an export shows of the work after an incident: its Five Whys, its action items and
who held which role (DESIGN §1.7), read in one go before the timeline streams.

`load_aftermath` is the data loading the Markdown postmortem, the JSON log and the bundle
share; `Aftermath.document()` is its JSON shape (`whys`, `actions`, `roles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from commands.followup_replies import action_name
from storage.incident_roles import roles_of
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
        return action_name(self.id)


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
    """The incident's whys (in order), action items (in order of their ids, open or not)
    and roles."""
    whys = await tx.whys.of(incident.id)
    actions = await tx.actions.of(incident.id)
    others = await tx.roles.of(incident.id)
    return Aftermath(
        whys=tuple(WhyItem(w.number, w.text, w.author, w.at) for w in whys),
        actions=tuple(ActionRecord(a.id, a.text, a.owner, a.due, a.state, a.created_by,
                                   a.created_at, a.closed_by, a.closed_at, a.ticket_url,
                                   a.ticket_state, a.ticket_checked_at) for a in actions),
        roles=roles_of(incident, others, role_order),
    )


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
