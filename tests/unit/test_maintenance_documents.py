"""Maintenance on the page, as pure functions of a PageState: the Statuspage documents
checked against Statuspage's documented shape (tests/fixtures/statuspage/
scheduled-maintenances.json), the iCalendar feed parsed back, the words and the Atom feed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
from icalendar import Calendar

from bot.web import feed, maintenances, pages, statuspage
from bot.web.document import Document
from bot.web.state import ComponentView, MaintenanceView, PageState, UpdateView

FIXTURE = Path(__file__).parent.parent / "fixtures" / "statuspage" / \
    "scheduled-maintenances.json"
URL = "https://status.example.org"
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
OMITTED: set[str] = set()
"""Keys of the documented updates statusdesk leaves out (none, as in incidents.json)."""


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def window(id: int, phase: str, start: float, end: float, *, title: str = "Gerrit upgrade",
           components: tuple[str, ...] = (), asked: float | None = None,
           finished: float | None = None, timezone: str = "UTC") -> MaintenanceView:
    updates = [UpdateView(id * 10, at(-600), "opened", "alice", "scheduled",
                          f"{title} (window)", None, "scheduled")]
    if phase != "scheduled":
        first = "in_progress" if phase != "cancelled" else "cancelled"
        updates.append(UpdateView(id * 10 + 1, at(start), "state", "statusdesk", first,
                                  "Maintenance has started.", "scheduled", first))
    if phase == "completed":
        updates.append(UpdateView(id * 10 + 2, at(finished or end), "state", "alice",
                                  "completed", "All done.", "in_progress", "completed"))
    return MaintenanceView(
        id=id, title=title, phase=phase, starts_at=at(start), ends_at=at(end),
        timezone=timezone, components=components, created_at=at(-600),
        updated_at=updates[-1].at,
        started_at=at(start) if phase in ("in_progress", "completed") else None,
        end_asked_at=at(asked) if asked is not None else None,
        finished_at=at(finished) if finished is not None else None, updates=tuple(updates))


GRID = (
    ComponentView("gerrit", "Gerrit", "Code review", "review.example.org", "under_maintenance",
                  1, at(-6000), at(60)),
    ComponentView("zuul", "Zuul", None, None, "operational", 2, at(-6000), at(-6000)),
)


def state(*views: MaintenanceView, now: float = 100,
          components: tuple[ComponentView, ...] = ()) -> PageState:
    return PageState(title="Example status", url=URL, updated_at=at(0), alert=None,
                     open_incidents=(), recent_resolved=(), posts=(), success=(), thanks=(),
                     maintenances=tuple(views), rendered_at=at(now), components=components)


def full() -> PageState:
    return state(
        window(1, "completed", -300, -240, finished=-230, title="DNS move"),
        window(2, "in_progress", 60, 120, components=("gerrit", "zuul", "jenkins"), asked=120),
        window(3, "scheduled", 600, 660, title="Zuul restart"),
        window(4, "cancelled", 700, 760, finished=10, title="DB; failover, \\ test"),
        now=160, components=GRID,
    )


def _load() -> dict[str, Any]:
    value = json.loads(FIXTURE.read_text())
    assert isinstance(value, dict)
    return value


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def test_documents_have_the_statuspage_shape() -> None:
    fixture = _load()
    examples = fixture["scheduled_maintenances"]
    object_keys = set().union(*(e.keys() for e in examples))
    component_keys = set().union(*(c.keys() for e in examples for c in e["components"]))
    update_keys = set().union(*(u.keys() for e in examples for u in e["incident_updates"]))
    types: dict[str, set[str]] = {}
    for example in examples:
        for key, value in example.items():
            types.setdefault(key, set()).add(_type(value))
    s = full()
    for document in (maintenances.all_document(s), maintenances.upcoming_document(s),
                     maintenances.active_document(s)):
        assert set(document) == set(fixture)
        assert set(document["page"]) == set(fixture["page"])
        for ours in document["scheduled_maintenances"]:
            assert set(ours) == object_keys
            for key, value in ours.items():
                assert _type(value) in types[key], (key, value)
            assert ours["impact"] == "maintenance"
            for component in ours["components"]:
                assert set(component) == component_keys
            for update in ours["incident_updates"]:
                assert set(update) == update_keys - OMITTED
                assert update["status"] in ("scheduled", "in_progress", "verifying",
                                            "completed")
        assert json.loads(Document.json(document).body) == document


def test_upcoming_active_and_all() -> None:
    s = full()
    assert [m["id"] for m in maintenances.upcoming_document(s)["scheduled_maintenances"]] \
        == ["3"]
    active = maintenances.active_document(s)["scheduled_maintenances"]
    assert [(m["id"], m["status"]) for m in active] == [("2", "verifying")]
    assert active[0]["scheduled_for"] == "2026-12-06T10:00:00.000Z"
    assert active[0]["scheduled_until"] == "2026-12-06T11:00:00.000Z"
    assert active[0]["shortlink"] == f"{URL}/incidents/2"
    # The components it holds, as they are now; one no longer configured is left out.
    assert [(c["id"], c["status"]) for c in active[0]["components"]] == [
        ("gerrit", "under_maintenance"), ("zuul", "operational")]
    listed = maintenances.all_document(s)["scheduled_maintenances"]
    assert [(m["id"], m["status"]) for m in listed] == [
        ("4", "completed"), ("3", "scheduled"), ("2", "verifying"), ("1", "completed")]
    assert listed[-1]["resolved_at"] == "2026-12-06T05:10:00.000Z"
    # Newest update first, each with the status it left the window in.
    assert [u["status"] for u in listed[-1]["incident_updates"]] == [
        "completed", "in_progress", "scheduled"]
    summary = statuspage.summary(s)
    assert [m["id"] for m in summary["scheduled_maintenances"]] == ["2", "3"]
    assert summary["status"]["indicator"] == "none"  # maintenance is no outage


def test_overrun_words() -> None:
    going = window(2, "in_progress", 60, 120, asked=120)
    assert maintenances.state_text(going, at(100)) == "in progress, planned to end 11:00"
    assert maintenances.state_text(going, at(160)) == \
        "in progress, planned to end 11:00, overrunning by 40 min"
    berlin = window(5, "in_progress", 60, 120, timezone="Europe/Berlin")
    assert maintenances.state_text(berlin, at(160)) == \
        "in progress, planned to end 12:00, overrunning by 40 min"
    assert maintenances.window_text(berlin) == "2026-12-06 11:00–12:00 Europe/Berlin"


def test_next_change_of_the_words() -> None:
    s = state(window(2, "in_progress", 60, 120))
    assert maintenances.next_change(s, at(100)) == at(121)
    assert maintenances.next_change(s, at(160.5)) == at(161)
    assert maintenances.next_change(state(window(3, "scheduled", 600, 660)), at(0)) is None


def test_the_page_lists_upcoming_and_active_windows() -> None:
    html = pages.render_index(full())
    assert "Scheduled maintenance" in html
    assert "In progress, planned to end 11:00, overrunning by 40 min" in html
    assert "Zuul restart" in html and "2026-12-06 19:00–20:00 UTC" in html
    assert "DNS move" not in html  # finished
    assert "DB; failover, \\ test" not in html  # cancelled
    assert 'href="/maintenances.ics"' in html
    xss = pages.render_index(state(window(6, "scheduled", 60, 120,
                                          title="<script>alert(1)</script>")))
    assert "<script>alert(1)</script>" not in xss and "&lt;script&gt;" in xss
    assert "Scheduled maintenance" not in pages.render_index(state())


def test_ics() -> None:
    body = maintenances.ics(full())
    assert body.startswith(b"BEGIN:VCALENDAR\r\n")
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))  # folded (RFC 5545 3.1)
    calendar = Calendar.from_ical(body)
    assert calendar["VERSION"] == "2.0" and "statusdesk" in str(calendar["PRODID"])
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert sorted(events) == [f"maintenance-{n}@status.example.org" for n in (1, 2, 3, 4)]
    two = events["maintenance-2@status.example.org"]
    assert two.decoded("DTSTART") == at(60) and two.decoded("DTEND") == at(120)
    assert two.decoded("DTSTAMP") == at(60)
    assert str(two["SUMMARY"]) == "Maintenance: Gerrit upgrade"
    assert str(two["STATUS"]) == "CONFIRMED"
    assert "overrunning by 40 min" in str(two["DESCRIPTION"])
    assert str(two["URL"]) == f"{URL}/incidents/2"
    four = events["maintenance-4@status.example.org"]
    assert str(four["STATUS"]) == "CANCELLED"
    assert str(four["SUMMARY"]) == "Maintenance: DB; failover, \\ test"
    assert b"SUMMARY:Maintenance: DB\\; failover\\, \\\\ test" in body  # escaped (3.3.11)
    # The same window, the same UID: the same bytes when nothing changed.
    assert maintenances.ics(full()) == body


def test_atom_feed_carries_maintenance_updates() -> None:
    parsed = feedparser.parse(feed.atom(full()))
    titles = [e.title for e in parsed.entries]
    assert "Maintenance #2 Gerrit upgrade — in progress" in titles
    assert "Maintenance #1 DNS move — completed" in titles
    assert any(e.summary == "Scheduled: Zuul restart (window)" for e in parsed.entries)
