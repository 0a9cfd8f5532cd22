"""What a ticket filing carries: the marker, the installation tag, the body, the payload."""

from __future__ import annotations

from bot.tickets.filing_request import (
    FilingRequest,
    installation_tag,
    lane_of,
    marker_of,
    request_for,
    ticket_body,
)
from commands.filing_targets import FilingTarget


def test_the_marker_names_the_item_and_the_installation() -> None:
    tag = installation_tag("https://status.example.org|postgresql://u:pw@db/statusdesk")
    assert len(tag) == 8 and "pw" not in tag and tag.isalnum()
    assert tag == installation_tag("https://status.example.org|postgresql://u:pw@db/statusdesk")
    assert tag != installation_tag("https://status.other.org|postgresql://u:pw@db/statusdesk")
    assert marker_of(7, tag) == f"statusdesk-action-A7-{tag}"


def test_the_body_leads_back_to_the_incident() -> None:
    body = ticket_body(action_id=7, incident_id=3, incident_title="Database full",
                       incident_url="https://status.example.org/incidents/3",
                       text="Alert on disk usage", owner="alice", due="2026-12-24",
                       requested_by="bob")
    assert body.splitlines() == [
        "Alert on disk usage", "", "Action item A7 of incident #3 (Database full).",
        "Incident: https://status.example.org/incidents/3", "Owner: alice",
        "Due: 2026-12-24", "Filed by statusdesk for bob."]
    bare = ticket_body(action_id=1, incident_id=1, incident_title=None, incident_url=None,
                       text="x" * 10_000, owner=None, due=None, requested_by="op")
    assert bare.splitlines()[0] == "x" * 4000
    assert "Incident:" not in bare and "Owner" not in bare


def test_the_payload_round_trips_and_keys_are_per_request() -> None:
    request = request_for(FilingTarget("jira", "OPS"), action_id=12, incident_id=4,
                          title="T", body="B", installation="abcd1234")
    assert FilingRequest.from_payload(request.payload()) == request
    assert request.lane == lane_of(12) == "tickets/A12"
    assert request.key("2026-12-06T03:00:00+00:00") != request.key("2026-12-06T03:00:01+00:00")
    assert request.marker in request.key("t")
