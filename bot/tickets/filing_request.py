"""What one ticket filing carries through the outbox: built inside the command's
transaction, read back by the deliverer (plain JSON, as every effect payload)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from commands.filing_targets import FilingTarget

KIND = "ticket.file"

MAX_TEXT = 4000
"""Action item text put in a ticket (chat caps it far lower; a bound all the same)."""


def lane_of(action_id: int) -> str:
    """Each item its own outbox lane: a tracker refusing one item holds up no other, and
    two requests for one item go one after the other."""
    return f"tickets/A{action_id}"


def marker_of(action_id: int, installation: str) -> str:
    """`statusdesk-action-A7-1a2b3c4d`: searched for in the tracker before creating, so a
    retry finds what an earlier attempt made. The tail tells two statusdesk databases
    filing into one tracker apart (both have an A7)."""
    return f"statusdesk-action-A{action_id}-{installation}"


def installation_tag(identity: str) -> str:
    """A short, stable, non-reversible tag of this installation (its database URL or page
    URL): never the URL itself, which may carry a password."""
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class FilingRequest:
    action_id: int
    incident_id: int
    tracker: str
    project: str
    title: str
    body: str
    marker: str

    def key(self, asked_at: str) -> str:
        """The outbox idempotency key of one request to file (asked at `asked_at`): while
        one is pending no other is queued (`extension`), and after one was given up (the
        tracker refused) asking again queues a new one. Either way the marker keeps the
        ticket single."""
        return f"{KIND}:{self.marker}:{asked_at}"

    @property
    def lane(self) -> str:
        return lane_of(self.action_id)

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> FilingRequest:
        return cls(int(payload["action_id"]), int(payload["incident_id"]),
                   str(payload["tracker"]), str(payload["project"]), str(payload["title"]),
                   str(payload["body"]), str(payload["marker"]))


def ticket_body(*, action_id: int, incident_id: int, incident_title: str | None,
                incident_url: str | None, text: str, owner: str | None, due: str | None,
                requested_by: str) -> str:
    """The ticket's description: the action text, where it comes from (with the incident's
    link, so the ticket leads back), owner and due date. Plain text: every tracker renders
    it readably (Markdown on GitHub/GitLab/Redmine, wiki text on Jira, text on Launchpad)."""
    about = f"incident #{incident_id}" + (f" ({incident_title})" if incident_title else "")
    lines = [text[:MAX_TEXT], "", f"Action item A{action_id} of {about}."]
    if incident_url:
        lines.append(f"Incident: {incident_url}")
    if owner:
        lines.append(f"Owner: {owner}")
    if due:
        lines.append(f"Due: {due}")
    lines.append(f"Filed by statusdesk for {requested_by}.")
    return "\n".join(lines)


def request_for(target: FilingTarget, *, action_id: int, incident_id: int, title: str,
                body: str, installation: str) -> FilingRequest:
    return FilingRequest(action_id, incident_id, target.tracker, target.project, title, body,
                         marker_of(action_id, installation))
