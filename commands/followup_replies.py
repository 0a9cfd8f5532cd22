"""What the bot says about Five Whys, action items and incident roles (DESIGN §1.7), built
from plain values, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WHY_USAGE = "#why #ID TEXT"
ACTION_USAGE = "#action #ID TEXT"

NO_TRACKER = "no tracker configured (postmortem.file_actions_in)"

MAX_LISTED_ACTIONS = 10
"""Action items listed in one `#actions` answer; the rest are counted."""

MAX_LISTED_TEXT = 100
"""An item's text in a listing is cut here: one item, one chat line (the export has it all)."""


def _short(text: str) -> str:
    return text if len(text) <= MAX_LISTED_TEXT else text[:MAX_LISTED_TEXT - 1] + "…"


def action_name(action_id: int) -> str:
    return f"A{action_id}"


# --- Five Whys -----------------------------------------------------------------------------------


def why_recorded(incident_id: int, number: int) -> str:
    return f"Why {number} recorded on incident #{incident_id}."


def why_replaced(incident_id: int, number: int) -> str:
    return f"Why {number} of incident #{incident_id} replaced."


def no_such_why(incident_id: int, number: int, count: int) -> str:
    has = f"it has {count}" if count else "it has none yet"
    return (f"Incident #{incident_id} has no why {number} ({has}); "
            f"#why {incident_id} TEXT adds the next one.")


def why_timeline_text(number: int, text: str) -> str:
    return f"{number}. {text}"


# --- action items --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionLine:
    """An action item as `#actions` shows it."""

    id: int
    incident_id: int
    text: str
    owner: str | None
    due: date | None
    ticket_url: str | None = None
    ticket_state: str | None = None


def _details(owner: str | None, due: date | None, today: date | None = None) -> list[str]:
    parts = []
    if owner:
        parts.append(f"owner {owner}")
    if due:
        late = " (overdue)" if today is not None and due < today else ""
        parts.append(f"due {due.isoformat()}{late}")
    return parts


def action_added(action_id: int, incident_id: int, owner: str | None, due: date | None) -> str:
    details = _details(owner, due)
    extra = f" ({', '.join(details)})" if details else ""
    return f"Action {action_name(action_id)} added to incident #{incident_id}{extra}."


def no_such_action(action_id: int) -> str:
    return f"There is no action item {action_name(action_id)}."


def action_closed(action_id: int, state: str) -> str:
    return f"Action {action_name(action_id)} is {state}."


def action_already_closed(action_id: int, state: str) -> str:
    return f"Action {action_name(action_id)} is already {state}."


def action_not_open(action_id: int, state: str) -> str:
    return f"Action {action_name(action_id)} is {state}: only open items are filed."


def action_already_filed(action_id: int, url: str) -> str:
    return f"Action {action_name(action_id)} is already filed: {url}"


def action_filing(action_id: int, tracker: str) -> str:
    return (f"Filing action {action_name(action_id)} in {tracker}; the ticket will be linked "
            "on the incident's timeline.")


def filing_unavailable(action_id: int) -> str:
    return (f"Cannot file action {action_name(action_id)}: this statusdesk cannot file "
            "tickets yet.")


def action_line(item: ActionLine, today: date) -> str:
    parts = _details(item.owner, item.due, today)
    if item.ticket_url:
        state = f" ({item.ticket_state})" if item.ticket_state else ""
        parts.append(f"ticket {item.ticket_url}{state}")
    else:
        parts.append("no ticket")
    return (f"{action_name(item.id)} #{item.incident_id} {_short(item.text)} — "
            f"{', '.join(parts)}")


def action_list(items: Sequence[ActionLine], today: date, incident_id: int | None,
                more: int = 0) -> list[str]:
    if not items:
        if incident_id is not None:
            return [f"Incident #{incident_id} has no open action items."]
        return ["No open action items."]
    where = f" of incident #{incident_id}" if incident_id is not None else ""
    head = f"{len(items) + more} open action item{'s' if len(items) + more != 1 else ''}{where}:"
    lines = [head, *(action_line(item, today) for item in items)]
    if more > 0:
        lines.append(f"…and {more} more: #actions ID lists one incident's.")
    return lines


def overdue_reminder(action_id: int, incident_id: int, text: str, owner: str | None,
                     due: date) -> str:
    who = f"{owner}: " if owner else ""
    return (f"{who}action {action_name(action_id)} of incident #{incident_id} was due "
            f"{due.isoformat()}: {_short(text)} — #action {action_name(action_id)} done|drop when "
            "it is settled.")


# --- roles ---------------------------------------------------------------------------------------


def unknown_role(role: str, roles: Sequence[str]) -> str:
    return (f"{role} is not a role here (the roles are {', '.join(roles)}). Usage: "
            "#incident ID role ROLE NICK")


def role_unchanged(incident_id: int, role: str, nick: str) -> str:
    return f"Incident #{incident_id}: {role} is already {nick}."


def role_changed(incident_id: int, role: str, nick: str) -> str:
    return f"Incident #{incident_id}: {role} is now {nick}."


def em_prompt(incident_id: int, severity: int, waited: str, on_call: str | None) -> str:
    who = (f"{on_call} is on call: take it with" if on_call
           else "nobody is on call through statusdesk; name one with")
    return (f"Incident #{incident_id} (sev{severity}) has had no escalation manager for "
            f"{waited}: {who} \"#incident {incident_id} em NICK\".")
