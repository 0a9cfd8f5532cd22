"""What paging says: `#page`, `#ack`, `#oncall`, escalations and failed deliveries, built from
plain values (names, numbers, times already formatted), no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from commands.replies import refusal

PAGE_USAGE = "#page #ID [TEXT]"
ACK_USAGE = "#ack #ID"

# --- #page ---------------------------------------------------------------------------------------


def automatic_page_text(severity: int) -> str:
    """The text of a page asked for by the incident's severity, not by a person."""
    return f"automatic page for sev{severity}"


def step_text(step: int, steps: int, via: Sequence[str], text: str | None) -> str:
    """`step 1 of 2 via pagerduty: TEXT`: one step of the escalation chain."""
    line = f"step {step} of {steps}"
    line += f" via {', '.join(via)}" if via else ", no provider reaches them"
    if text:
        line += f": {text}"
    return line


def paging(manager: str, incident_id: int, step: str) -> str:
    return f"Paging {manager} for incident #{incident_id} ({step})."


def already_paging(manager: str, incident_id: int, step: int, steps: int,
                   since: datetime) -> str:
    return (f"Already paging {manager} for incident #{incident_id} (step {step} of {steps}, "
            f"since {since:%H:%M} UTC); #ack stops it.")


def resolved_nobody_to_page(incident_id: int) -> str:
    return f"Incident #{incident_id} is resolved: there is nobody to page for it."


def pages_resolved(incident_id: int) -> str:
    return f"Resolved the page(s) of incident #{incident_id}."


# --- escalating ----------------------------------------------------------------------------------


def not_acknowledged_reason(unreachable: bool, ack_timeout: str) -> str:
    """Why the page goes on: the manager `could not be reached` or did not acknowledge."""
    return ("could not be reached" if unreachable else
            f"did not acknowledge within {ack_timeout}")


def unanswered(incident_id: int, manager: str, reason: str, chain: Sequence[str]) -> str:
    return (f"Nobody has acknowledged the page for incident #{incident_id}: "
            f"{manager} {reason}, and all {len(chain)} escalation "
            f"managers have been paged ({', '.join(chain)}). Any of them can "
            f"still #ack {incident_id}.")


def escalated(manager: str, reason: str, incident_id: int, next_manager: str,
              step: str) -> str:
    return (f"{manager} {reason} for incident #{incident_id}: escalating to "
            f"{next_manager} ({step}).")


def escalated_entry(manager: str, reason: str, step: str) -> str:
    """The timeline's text of an escalation."""
    return f"{manager} {reason}; {step}"


# --- delivering ----------------------------------------------------------------------------------


def delivery_failed(action: str, incident_id: int, manager: str, provider: str, reason: str,
                    *, no_way_left: bool = False, escalating: bool = False) -> str:
    """A provider refused a page, acknowledgement or resolution (`action`: trigger,
    acknowledge, resolve). `no_way_left`: it was the manager's last way to be reached;
    `escalating`: so the page goes to the next manager now."""
    what = {"trigger": "page", "acknowledge": "acknowledgement",
            "resolve": "resolution"}.get(action, action)
    text = (f"Could not send the {what} for incident #{incident_id} to "
            f"{manager} via {provider}: {reason}")
    if no_way_left:
        text += f" — no way left to reach {manager}"
        if escalating:
            text += ": escalating now"
    return text + "."


def acknowledged_in_pagerduty(agent: str, incident_id: int) -> str:
    return (f"{agent} acknowledged the page for incident #{incident_id} in PagerDuty: "
            "escalation stopped.")


# --- #ack ----------------------------------------------------------------------------------------


def nobody_paged_for(incident_id: int) -> str:
    return f"Nobody is being paged for incident #{incident_id}."


def nobody_paged() -> str:
    return "Nobody is being paged right now."


def several_paged(incident_ids: Sequence[int]) -> str:
    """`#ack` without an id while pages go on for more than one incident."""
    ordered = sorted(incident_ids)
    ids = ", ".join(f"#{i}" for i in ordered)
    return (f"Pages are going on for several incidents ({ids}): say which one, "
            f"e.g. #ack {ordered[0]}.")


def ack_refusal_reason(incident_id: int, unverified: str | None = None) -> str:
    """Why `#ack` was refused, for the audit log."""
    reason = f"not paged for incident #{incident_id}"
    return f"{reason}; account not verified: {unverified}" if unverified else reason


def ack_refused(incident_id: int, paged: Sequence[str]) -> str:
    # The refusal every command gives (DESIGN §1.4), then why.
    return (f"{refusal('#ack')}: you were not paged for incident "
            f"#{incident_id} (paged: {', '.join(dict.fromkeys(paged))}); only they or an "
            "admin may acknowledge.")


def acknowledged(who: str, incident_id: int) -> str:
    return f"Acknowledged: {who} is on incident #{incident_id}; escalation stopped."


# --- #oncall -------------------------------------------------------------------------------------


def on_call(manager: str, *, override: bool = False, until: str | None = None,
            next_manager: str | None = None, next_from: str | None = None,
            rotation: bool = True, chain: Sequence[str] = ()) -> str:
    """`On call now: bob until Mon ...; next: carol. Escalation order: bob → carol.`

    `until`, `next_from`: local times (None: not said); `rotation`: one is configured (else,
    without a next shift, the answer says so)."""
    line = f"On call now: {manager}"
    if override:
        line += " (override)"
    if until is not None:
        line += f" until {until}"
    if next_manager is not None:
        line += f"; next: {next_manager}"
        if next_from is not None:
            line += f" from {next_from}"
    elif not rotation:
        line += " (no rotation configured)"
    if len(chain) > 1:
        line += f". Escalation order: {' → '.join(chain)}"
    return line + "."


def not_a_manager(nick: str, known: Sequence[str]) -> str:
    return (f"{nick} is not an escalation manager (paging.escalation_managers: "
            f"{', '.join(known)}).")


def time_passed(when: str) -> str:
    return f"{when} has passed already: give a time to come."


def override_set(manager: str, until: str, instead_of: str | None = None) -> str:
    """`instead_of`: who would have been on call (None: the same manager)."""
    instead = f" instead of {instead_of}" if instead_of is not None else ""
    return f"{manager} is on call{instead} until {until}."
