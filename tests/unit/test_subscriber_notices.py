"""What subscribers are told of which event (`notice_for`), who a notice reaches, and the
pure parts of subscribing: addresses, tokens, the throttle, the mails' shape."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from bot.core.events import (
    AlertCleared,
    AlertSet,
    BugLinked,
    ComponentChanged,
    IncidentOpened,
    KudosRecorded,
    MaintenanceChanged,
    NoteAdded,
    SeverityChanged,
    StateChanged,
    StatusPosted,
)
from bot.subscribers.address import network_of, parse_address
from bot.subscribers.mail import Site, message_id, notice_mail
from bot.subscribers.notices import Notice, notice_for, reaches
from bot.subscribers.throttle import Throttle
from bot.subscribers.tokens import CONFIRM, UNSUBSCRIBE, digest, token

AT = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def test_incident_events_become_notices() -> None:
    opened = notice_for(IncidentOpened(at=AT, incident_id=3, title="Gerrit down", severity=2))
    assert opened is not None
    assert (opened.kind, opened.incident_id, opened.title, opened.status) == (
        "incident.opened", 3, "Gerrit down", "investigating")
    update = notice_for(StateChanged(at=AT, incident_id=3, old="investigating",
                                     new="identified", text="disk full"))
    assert update is not None and (update.kind, update.status, update.text) == (
        "incident.updated", "identified", "disk full")
    resolved = notice_for(StateChanged(at=AT, incident_id=3, old="identified",
                                       new="resolved"))
    assert resolved is not None and resolved.kind == "incident.resolved"
    posted = notice_for(StatusPosted(at=AT, incident_id=3, post="notice", text="still on it"))
    assert posted is not None and (posted.kind, posted.text) == ("incident.updated",
                                                                "still on it")
    alert = notice_for(AlertSet(at=AT, incident_id=3, text="Gerrit is down"))
    assert alert is not None and alert.kind == "incident.updated"
    assert len({n.key for n in (opened, update, resolved, posted, alert)}) == 5


def test_component_and_maintenance_events_become_notices() -> None:
    component = notice_for(ComponentChanged(at=AT, incident_id=None, component_id="gerrit",
                                            name="Gerrit", old="operational",
                                            new="major_outage", text="down"))
    assert component is not None
    assert (component.kind, component.title, component.status, component.components) == (
        "component.changed", "Gerrit", "major_outage", ("gerrit",))
    ends = AT.replace(hour=5)
    for phase in ("scheduled", "started", "completed", "cancelled"):
        notice = notice_for(MaintenanceChanged(at=AT, incident_id=7, title="DB upgrade",
                                               phase=phase, starts_at=AT, ends_at=ends,
                                               components=("zuul",)))
        assert notice is not None and notice.kind == f"maintenance.{phase}"
        assert notice.text == "Planned: 2026-12-06 03:00 to 05:00 UTC"
        assert notice.components == ("zuul",) and notice.title == "DB upgrade"
    for phase in ("announced", "overrunning"):  # the channels' business
        assert notice_for(MaintenanceChanged(at=AT, incident_id=7, title="x", phase=phase,
                                             starts_at=AT, ends_at=ends)) is None


@pytest.mark.parametrize("event", [
    StatusPosted(at=AT, incident_id=None, post="notice", text="no incident"),
    StatusPosted(at=AT, incident_id=3, post="log", text="a log line"),
    NoteAdded(at=AT, incident_id=3),
    SeverityChanged(at=AT, incident_id=3, old=2, new=1),
    BugLinked(at=AT, incident_id=3, url="https://bugs.example.org/1"),
    KudosRecorded(at=AT, list="thanks", text="x"),
    AlertCleared(at=AT, incident_id=3, text="ok"),  # its StateChanged says it
])
def test_what_subscribers_do_not_hear_of(event: object) -> None:
    assert notice_for(event) is None  # type: ignore[arg-type]


def test_the_key_is_the_events_own() -> None:
    event = StateChanged(at=AT, incident_id=3, old="investigating", new="monitoring")
    first, second = notice_for(event), notice_for(event)
    assert first is not None and second is not None and first.key == second.key
    assert Notice.from_payload(first.payload()) == first


def test_reaches() -> None:
    assert reaches([], [])
    assert reaches([], ["gerrit"])  # a notice touching no component concerns everyone
    assert reaches(["gerrit"], [])  # nothing chosen: everything
    assert reaches(["gerrit", "zuul"], ["zuul"])
    assert not reaches(["gerrit"], ["zuul"])


@pytest.mark.parametrize(("text", "expected"), [
    ("Alice@Example.ORG", "alice@example.org"),
    ("  bob+status@mail.example.co.uk ", "bob+status@mail.example.co.uk"),
    ("x@bücher.example", "x@xn--bcher-kva.example"),
])
def test_addresses(text: str, expected: str) -> None:
    assert parse_address(text) == (expected, None)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "email: an address is required"),
    ("alice", "email: not an address (expected name@example.org)"),
    ("alice@", "email: not an address (expected name@example.org)"),
    ("alice@localhost", "email: the domain is not a valid name"),
    ("alice@-x.org", "email: the domain is not a valid name"),
    ("a..b@example.org", "email: the part before @ has characters an address cannot have"),
    ("a\r\nBcc: x@example.org", "email: the part before @ has characters an address "
                                "cannot have"),
    ("<a@example.org>", "email: the part before @ has characters an address cannot have"),
    ("a" * 65 + "@example.org", "email: the part before @ is longer than 64 characters"),
])
def test_malformed_addresses(text: str, reason: str) -> None:
    assert parse_address(text) == (None, reason)


def test_network_of() -> None:
    assert network_of("192.0.2.77") == "192.0.2.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("not-an-ip") is None and network_of(None) is None


def test_tokens() -> None:
    key = b"k" * 32
    assert token(key, CONFIRM, "n1") == token(key, CONFIRM, "n1")
    assert token(key, CONFIRM, "n1") != token(key, UNSUBSCRIBE, "n1")
    assert token(key, CONFIRM, "n1") != token(b"j" * 32, CONFIRM, "n1")
    assert len(digest(token(key, CONFIRM, "n1"))) == 64


def test_throttle() -> None:
    now = [0.0]
    throttle = Throttle(2, 60.0, clock=lambda: now[0])
    assert throttle.allow("a") is None and throttle.allow("a") is None
    assert throttle.allow("a") == pytest.approx(60.0)
    assert throttle.allow("b") is None
    now[0] = 60.5
    assert throttle.allow("a") is None


def test_a_notice_mail_escapes_chat_text() -> None:
    site = Site("Example <Status>", "https://status.example.org", "status@example.org")
    notice = Notice("incident.updated", "k", AT, 4, title="<script>x</script>",
                    text="a\r\nBcc: evil@example.org <b>bold</b>", status="identified")
    message = notice_mail(site, "a@example.org", notice,
                          "https://status.example.org/subscriptions/unsubscribe?token=T",
                          message_id("k", 1))
    message = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert "\n" not in message["Subject"] and message["Bcc"] is None
    html = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
    assert html is not None
    content = html.get_content()
    assert "<script>" not in content and "&lt;script&gt;" in content
    assert "<b>bold</b>" not in content
    assert message["Message-ID"] == message_id("k", 1)


def test_every_event_type_was_decided_on() -> None:
    """A new kind of desk event makes this fail until someone decides whether subscribers
    hear of it (one `case` in `notice_for`) or not (the list below)."""
    from bot.core.events import EVENT_TYPES

    heard = {"AlertSet", "StatusPosted", "IncidentOpened", "StateChanged", "ComponentChanged",
             "MaintenanceChanged"}
    not_heard = {"AlertCleared", "KudosRecorded", "SeverityChanged", "RoleAssigned",
                 "BugLinked", "NoteAdded",
                 # After the incident: private (whys, action items, filing requests).
                 "WhyRecorded", "ActionChanged", "ActionFilingRequested"}
    assert {t.__name__ for t in EVENT_TYPES} == heard | not_heard
