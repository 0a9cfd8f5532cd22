"""The Statuspage API v2 documents: shapes checked against documented examples, values by hand."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.web import statuspage
from bot.web.document import Document
from bot.web.state import (
    PAGE_ID,
    AlertState,
    ComponentView,
    IncidentPageView,
    PageState,
    PostView,
    UpdateView,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "statuspage"
URL = "https://status.example.org"
T0 = datetime(2026, 11, 21, 14, 2, tzinfo=UTC)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

XSS_CORPUS = [
    "<script>alert(1)</script>",
    "]]><injected/>",
    "&amp; literal &lt;b&gt;",
    "\"double\" and 'single' quotes, `backticks`",
    "</content><entry><id>evil</id></entry>",
    "Ünïcødé — 日本語 🚨 \u202ertl override",
    "<![CDATA[x]]>",
    "\\u003cscript\\u003e and \\\" escapes",
    "{{ 7*7 }} ${7*7}",
    "line one\nline two\ttabbed",
]


# --- a hand-built PageState ----------------------------------------------------------------


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def update(
    id: int,
    kind: str,
    minutes: float = 0,
    *,
    state: str | None = "investigating",
    text: str | None = None,
    old: str | None = None,
    new: str | None = None,
    actor: str = "alice",
) -> UpdateView:
    return UpdateView(id, at(minutes), kind, actor, state, text, old, new)


def incident(
    id: int,
    severity: int = 3,
    state: str = "investigating",
    *,
    opened: float = 0,
    updates: Iterable[UpdateView] | None = None,
    title: str | None = None,
    is_alert: bool = False,
    monitoring: float | None = None,
    resolved: float | None = None,
    updated: float | None = None,
    components: Iterable[tuple[str, str]] = (),
) -> IncidentPageView:
    title = title if title is not None else f"Incident {id}"
    if updates is None:
        updates = [update(id * 100, "opened", opened, text=title, new="investigating")]
    updates = tuple(updates)
    return IncidentPageView(
        id=id, title=title, severity=severity, state=state, is_alert=is_alert,
        opened_at=at(opened),
        updated_at=at(updated) if updated is not None else max([at(opened),
                                                                *(u.at for u in updates)]),
        identified_at=None,
        monitoring_at=at(monitoring) if monitoring is not None else None,
        resolved_at=at(resolved) if resolved is not None else None,
        updates=updates,
        components=tuple(components),
    )


def component(id: str, name: str, status: str = "operational", group: str | None = None,
              description: str | None = None, position: int = 1,
              updated: float = 0) -> ComponentView:
    return ComponentView(id, name, group, description, status, position, at(-1000),
                         at(updated))


def page_state(
    *,
    open: Iterable[IncidentPageView] = (),
    resolved: Iterable[IncidentPageView] = (),
    posts: Iterable[PostView] = (),
    alert: str | None = None,
    title: str = "Example status",
    url: str = URL,
    updated: float = 60,
    components: Iterable[ComponentView] = (),
) -> PageState:
    return PageState(
        title=title, url=url, updated_at=at(updated),
        alert=AlertState(alert, "alice", at(0), None) if alert is not None else None,
        open_incidents=tuple(open), recent_resolved=tuple(resolved), posts=tuple(posts),
        success=(), thanks=(), components=tuple(components),
    )


GRID = (
    component("gerrit", "Gerrit", "degraded_performance", "Code review",
              "review.example.org", 1, updated=45),
    component("zuul", "Zuul", "major_outage", "CI", None, 2, updated=50),
    component("nodepool", "Nodepool", "operational", "CI", None, 3),
    component("docs", "Docs", "under_maintenance", None, "docs.example.org", 4),
)


def full_state() -> PageState:
    """Every optional field both present and absent somewhere."""
    alert_incident = incident(
        7, 3, "monitoring", opened=10, is_alert=True, monitoring=30, title="Gerrit is down",
        updates=[
            update(701, "opened", 10, text="Gerrit is down", new="investigating"),
            update(702, "status.alert", 10, text="Gerrit is down"),
            update(703, "state", 20, state="identified", old="investigating", new="identified"),
            update(704, "state", 30, state="monitoring", old="identified", new="monitoring",
                   text="Fix deployed"),
        ],
    )
    fresh = incident(8, 2, opened=40, components=[("zuul", "major_outage")], updates=[
        update(801, "opened", 40, text="Zuul queue stuck", new="investigating"),
        update(802, "severity", 40, new="2"),
        update(803, "lead", 41, new="bob"),
    ])
    done = incident(5, 1, "resolved", opened=-600, monitoring=-560, resolved=-550, updates=[
        update(501, "opened", -600, text="DNS outage", new="investigating"),
        update(502, "state", -550, state="resolved", old="monitoring", new="resolved"),
    ])
    return page_state(open=[fresh, alert_incident], resolved=[done], alert="Gerrit is down",
                      components=GRID)


# --- the documented shape ------------------------------------------------------------------

OMITTED: dict[str, str] = {}
"""Keys the documented responses have that statusdesk deliberately leaves out (none: clients
may read every key of an update, `deliver_notifications` and the tweet fields included)."""

DOCUMENTED_EXTRA = {
    "components[].components":
        "a group component lists its members' ids (Statuspage API docs); the fixtures have "
        "no group",
}
"""Keys Statuspage documents that the fixtures happen not to show."""

DOCUMENTED_TYPES = {
    "components[].description": (
        "null", "null for a component without one, and for groups (Statuspage API docs)"),
    "components[].group_id": (
        "string", "a member of a group carries the group's id (Statuspage API docs)"),
}
"""JSON types Statuspage documents for a value where the fixtures only show another."""

UNSUPPORTED = {
    "incidents[].incident_updates[].affected_components[]": "no components: always null",
}
"""Levels whose objects we never produce, so their keys are not compared."""


def _load(name: str) -> dict[str, Any]:
    value = json.loads((FIXTURES / name).read_text())
    assert isinstance(value, dict)
    return value


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise AssertionError(f"not a JSON value: {value!r}")


def _pool(value: object, path: str, into: dict[str, list[object]]) -> None:
    """Every example value of the fixtures by path (`incidents[].incident_updates[]`, ...)."""
    into.setdefault(path, []).append(value)
    if isinstance(value, dict):
        for key, child in value.items():
            _pool(child, f"{path}.{key}" if path else key, into)
    elif isinstance(value, list):
        for item in value:
            _pool(item, f"{path}[]", into)


def _examples() -> dict[str, list[object]]:
    pool: dict[str, list[object]] = {}
    for name in ("summary.json", "incidents.json"):
        for key, value in _load(name).items():
            _pool(value, key, pool)
    return pool


EXAMPLES = _examples()


def assert_conforms(ours: object, path: str) -> None:
    examples = EXAMPLES[path]
    types = {json_type(e) for e in examples}
    documented = DOCUMENTED_TYPES.get(path.removeprefix("incidents[]."))
    if documented is not None:  # incidents[].components[] are the same objects
        types.add(documented[0])
    assert json_type(ours) in types, f"{path}: {json_type(ours)} where Statuspage has {types}"
    if isinstance(ours, dict):
        objects = [e for e in examples if isinstance(e, dict)]
        keys = set().union(*(o.keys() for o in objects))
        extra = {k for k in set(ours) - keys if f"{path}.{k}" not in DOCUMENTED_EXTRA}
        assert not extra, f"{path}: keys Statuspage does not have: {extra}"
        for key in sorted(keys):
            where = f"{path}.{key}"
            if where in OMITTED:
                assert key not in ours, where
                continue
            assert key in ours, f"missing {where}"
            assert_conforms(ours[key], where)
    elif isinstance(ours, list):
        if ours:
            assert f"{path}[]" not in UNSUPPORTED, f"{path}: {UNSUPPORTED[f'{path}[]']}"
        for item in ours:
            assert_conforms(item, f"{path}[]")


def assert_document(ours: dict[str, Any], fixture_keys: Iterable[str]) -> None:
    assert set(ours) == set(fixture_keys)
    for key, value in ours.items():
        assert_conforms(value, key)


def test_fixtures_cover_the_documented_objects() -> None:
    # The comparison is only as good as the examples: make sure both nullable forms are there.
    assert {json_type(v) for v in EXAMPLES["incidents[].monitoring_at"]} == {"string", "null"}
    assert {json_type(v) for v in EXAMPLES["incidents[].resolved_at"]} == {"string", "null"}
    assert {json_type(v) for v in EXAMPLES["incidents[].incident_updates[].affected_components"]
            } == {"array", "null"}
    page = EXAMPLES["page"][0]
    assert isinstance(page, dict)
    assert set(page) == {"id", "name", "url", "time_zone", "updated_at"}
    for path in OMITTED:
        assert path in EXAMPLES, path


@pytest.mark.parametrize("state", [full_state(), page_state()], ids=["full", "empty"])
def test_documents_have_the_statuspage_shape(state: PageState) -> None:
    summary_keys = _load("summary.json").keys()
    incidents_keys = _load("incidents.json").keys()
    assert_document(statuspage.summary(state), summary_keys)
    assert_document(statuspage.status(state), {"page", "status"})
    assert_document(statuspage.incidents(state), incidents_keys)
    assert_document(statuspage.unresolved(state), incidents_keys)


def test_values_serialize_to_json() -> None:
    state = full_state()
    for document in (statuspage.summary(state), statuspage.status(state),
                     statuspage.incidents(state), statuspage.unresolved(state)):
        assert json.loads(Document.json(document).body) == document


# --- status indicator ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severities", "alert", "expected"),
    [
        ((), False, ("none", "All Systems Operational")),
        ((), True, ("major", "Partial System Outage")),
        ((4,), False, ("none", "All Systems Operational")),
        ((3,), False, ("minor", "Minor Service Outage")),
        ((2,), False, ("major", "Partial System Outage")),
        ((1,), False, ("critical", "Major Service Outage")),
        ((4, 3), False, ("minor", "Minor Service Outage")),
        ((3, 1, 4), False, ("critical", "Major Service Outage")),
        ((4, 2, 3), False, ("major", "Partial System Outage")),
        ((4,), True, ("major", "Partial System Outage")),
        ((3,), True, ("major", "Partial System Outage")),
        ((3, 1), True, ("critical", "Major Service Outage")),
    ],
)
def test_indicator(severities: tuple[int, ...], alert: bool, expected: tuple[str, str]) -> None:
    state = page_state(open=[incident(i + 1, s) for i, s in enumerate(severities)],
                       alert="Gerrit is down" if alert else None)
    assert statuspage.indicator(state) == expected
    level, description = expected
    assert statuspage.status(state)["status"] == {"indicator": level, "description": description}
    assert statuspage.summary(state)["status"] == statuspage.status(state)["status"]


@pytest.mark.parametrize(
    ("statuses", "severities", "expected"),
    [
        (("operational", "under_maintenance"), (), "none"),
        (("operational", "degraded_performance"), (), "minor"),
        (("partial_outage", "degraded_performance"), (), "major"),
        (("major_outage", "operational"), (), "critical"),
        (("degraded_performance",), (2,), "major"),  # the incident is worse
        (("major_outage",), (4,), "critical"),  # the component is worse
    ],
)
def test_indicator_follows_the_worst_component(statuses: tuple[str, ...],
                                               severities: tuple[int, ...],
                                               expected: str) -> None:
    state = page_state(open=[incident(i + 1, s) for i, s in enumerate(severities)],
                       components=[component(f"c{i}", f"C{i}", s, position=i)
                                   for i, s in enumerate(statuses)])
    assert statuspage.indicator(state)[0] == expected


def test_component_and_group_objects() -> None:
    document = statuspage.components_document(page_state(components=GRID))
    assert set(document) == {"page", "components"}
    listed = document["components"]
    assert [(c["id"], c["position"], c["group_id"], c["group"]) for c in listed] == [
        ("group-code-review", 1, None, True),
        ("gerrit", 1, "group-code-review", False),
        ("group-ci", 2, None, True),
        ("zuul", 1, "group-ci", False),
        ("nodepool", 2, "group-ci", False),
        ("docs", 3, None, False),
    ]
    assert listed[1] == {
        "id": "gerrit", "name": "Gerrit", "status": "degraded_performance",
        "created_at": "2026-11-20T21:22:00.000Z", "updated_at": "2026-11-21T14:47:00.000Z",
        "position": 1, "description": "review.example.org", "showcase": False,
        "start_date": None, "group_id": "group-code-review", "page_id": PAGE_ID,
        "group": False, "only_show_if_degraded": False,
    }
    ci = listed[2]
    assert ci["components"] == ["zuul", "nodepool"]
    assert ci["status"] == "major_outage"  # its worst member
    assert ci["updated_at"] == "2026-11-21T14:52:00.000Z"
    for item in listed:
        assert_conforms(item, "components[]")


def test_incident_components_are_the_ones_it_holds() -> None:
    state = full_state()
    (fresh, alert) = statuspage.unresolved(state)["incidents"]
    assert [c["id"] for c in fresh["components"]] == ["zuul"]
    assert fresh["components"][0]["status"] == "major_outage"
    assert alert["components"] == []
    # A component no longer configured is left out rather than invented.
    gone = page_state(open=[incident(1, components=[("gone", "major_outage")])])
    assert statuspage.summary(gone)["incidents"][0]["components"] == []


def test_no_components_means_empty_lists() -> None:
    state = page_state(open=[incident(1)])
    assert statuspage.summary(state)["components"] == []
    assert statuspage.components_document(state)["components"] == []


def test_resolved_incidents_do_not_count_toward_the_indicator() -> None:
    state = page_state(resolved=[incident(1, 1, "resolved", resolved=5)])
    assert statuspage.indicator(state)[0] == "none"


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(0, "critical"), (1, "critical"), (2, "major"), (3, "minor"), (4, "none"), (5, "none")],
)
def test_impact(severity: int, expected: str) -> None:
    assert statuspage.impact(severity) == expected


# --- incidents -----------------------------------------------------------------------------


def test_incident_object() -> None:
    state = full_state()
    (first, second) = statuspage.unresolved(state)["incidents"]
    assert first["id"] == "8" and second["id"] == "7"
    assert second == {
        "id": "7",
        "name": "Gerrit is down",
        "status": "monitoring",
        "impact": "minor",
        "created_at": "2026-11-21T14:12:00.000Z",
        "updated_at": "2026-11-21T14:32:00.000Z",
        "monitoring_at": "2026-11-21T14:32:00.000Z",
        "resolved_at": None,
        "started_at": "2026-11-21T14:12:00.000Z",
        "page_id": PAGE_ID,
        "shortlink": f"{URL}/incidents/7",
        "components": [],
        "incident_updates": [
            {"id": "704", "status": "monitoring", "body": "Fix deployed", "incident_id": "7",
             "created_at": "2026-11-21T14:32:00.000Z", "updated_at": "2026-11-21T14:32:00.000Z",
             "display_at": "2026-11-21T14:32:00.000Z", "affected_components": None,
             **NO_DELIVERY},
            {"id": "703", "status": "identified", "body": "Status changed to identified.",
             "incident_id": "7", "created_at": "2026-11-21T14:22:00.000Z",
             "updated_at": "2026-11-21T14:22:00.000Z", "display_at": "2026-11-21T14:22:00.000Z",
             "affected_components": None, **NO_DELIVERY},
            {"id": "702", "status": "investigating", "body": "Gerrit is down",
             "incident_id": "7", "created_at": "2026-11-21T14:12:00.000Z",
             "updated_at": "2026-11-21T14:12:00.000Z", "display_at": "2026-11-21T14:12:00.000Z",
             "affected_components": None, **NO_DELIVERY},
            {"id": "701", "status": "investigating", "body": "Gerrit is down",
             "incident_id": "7", "created_at": "2026-11-21T14:12:00.000Z",
             "updated_at": "2026-11-21T14:12:00.000Z", "display_at": "2026-11-21T14:12:00.000Z",
             "affected_components": None, **NO_DELIVERY},
        ],
    }


NO_DELIVERY = {"deliver_notifications": False, "custom_tweet": None, "tweet_id": None}
"""A page without subscriptions delivers nothing; there is no Twitter integration."""


def test_delivery_fields_say_which_updates_subscribers_are_told_of() -> None:
    view = incident(9, 2, updates=[
        update(901, "opened", 0, text="Zuul queue stuck", new="investigating"),
        update(902, "severity", 1, old="2", new="1"),
        update(903, "status.notice", 2, text="Still looking"),
        update(904, "state", 3, state="identified", old="investigating", new="identified"),
        update(905, "lead", 4, new="bob"),
    ])
    subscribed = dataclasses.replace(page_state(open=[view]), subscribe=True)
    updates = statuspage.summary(subscribed)["incidents"][0]["incident_updates"]
    assert {u["id"]: u["deliver_notifications"] for u in updates} == {
        "905": False, "904": True, "903": True, "902": False, "901": True}
    assert all(u["custom_tweet"] is None and u["tweet_id"] is None for u in updates)
    unsubscribed = statuspage.summary(page_state(open=[view]))["incidents"][0]
    assert not any(u["deliver_notifications"] for u in unsubscribed["incident_updates"])
    for item in updates:
        assert_conforms(item, "incidents[].incident_updates[]")


def test_page_object() -> None:
    state = page_state(title="OpenDev status", url="https://status.opendev.org/", updated=3)
    assert statuspage.status(state)["page"] == {
        "id": PAGE_ID, "name": "OpenDev status", "url": "https://status.opendev.org/",
        "time_zone": "Etc/UTC", "updated_at": "2026-11-21T14:05:00.000Z",
    }
    # A trailing slash on the configured URL does not double in links.
    opened = page_state(url="https://status.opendev.org/", open=[incident(3)])
    assert statuspage.summary(opened)["incidents"][0]["shortlink"] == (
        "https://status.opendev.org/incidents/3")


def _all_ids(document: dict[str, Any]) -> list[object]:
    ids: list[object] = [document["page"]["id"]]
    for item in document["incidents"]:
        ids += [item["id"], item["page_id"]]
        for entry in item["incident_updates"]:
            ids += [entry["id"], entry["incident_id"]]
    return ids


def test_ids_are_strings() -> None:
    state = full_state()
    for document in (statuspage.summary(state), statuspage.incidents(state),
                     statuspage.unresolved(state)):
        ids = _all_ids(document)
        assert len(ids) > 10
        assert all(isinstance(i, str) for i in ids)
    assert statuspage.incidents(state)["incidents"][0]["incident_updates"][0]["incident_id"] == "8"


def _timestamps(value: object, key: str = "") -> list[object]:
    found: list[object] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _timestamps(v, k)
    elif isinstance(value, list):
        for item in value:
            found += _timestamps(item, key)
    elif key.endswith("_at"):
        found.append(value)
    return found


def test_timestamps_are_utc_with_milliseconds() -> None:
    state = full_state()
    stamps = [s for s in _timestamps(statuspage.incidents(state)) if s is not None]
    assert len(stamps) > 20
    for stamp in stamps:
        assert isinstance(stamp, str) and ISO.match(stamp), stamp


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 21, 14, 2, tzinfo=UTC), "2026-11-21T14:02:00.000Z"),
        (datetime(2026, 11, 21, 14, 2, 3, 456789, tzinfo=UTC), "2026-11-21T14:02:03.456Z"),
        (datetime(2026, 11, 21, 16, 2, 3, 999999, tzinfo=timezone(timedelta(hours=2))),
         "2026-11-21T14:02:03.999Z"),
        (datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
         "2026-12-31T23:30:00.000Z"),
        (datetime(2026, 11, 21, 14, 2, 0, 1000), "2026-11-21T14:02:00.001Z"),
    ],
)
def test_iso(moment: datetime, expected: str) -> None:
    assert statuspage.iso(moment) == expected


def test_incidents_newest_first_by_creation() -> None:
    open_incidents = [incident(9, opened=5), incident(4, opened=-5)]
    resolved = [incident(6, 2, "resolved", opened=-1, resolved=50),
                incident(8, 2, "resolved", opened=-300, resolved=60)]
    document = statuspage.incidents(page_state(open=open_incidents, resolved=resolved))
    assert [i["id"] for i in document["incidents"]] == ["9", "6", "4", "8"]
    created = [i["created_at"] for i in document["incidents"]]
    assert created == sorted(created, reverse=True)


def test_incident_updates_newest_first() -> None:
    view = incident(3, updates=[update(31, "opened", 0, text="t"), update(32, "lead", 5, new="b"),
                                update(33, "severity", 5, old="3", new="2"),
                                update(34, "bug", 9, new="https://bugs.example.org/1")])
    document = statuspage.summary(page_state(open=[view]))
    updates = document["incidents"][0]["incident_updates"]
    assert [u["id"] for u in updates] == ["34", "33", "32", "31"]


def test_incidents_json_keeps_the_50_newest() -> None:
    open_incidents = [incident(i, opened=i) for i in range(200, 230)]
    resolved = [incident(i, 3, "resolved", opened=i - 300, resolved=i) for i in range(100, 160)]
    document = statuspage.incidents(page_state(open=open_incidents, resolved=resolved))
    ids = [int(i["id"]) for i in document["incidents"]]
    assert len(ids) == statuspage.INCIDENTS_LIMIT == 50
    assert ids == [*range(229, 199, -1), *range(159, 139, -1)]
    # unresolved.json and summary.json list every open incident, resolved ones never.
    assert len(statuspage.unresolved(page_state(open=open_incidents))["incidents"]) == 30
    summary = statuspage.summary(page_state(open=open_incidents[:2], resolved=resolved))
    assert [i["id"] for i in summary["incidents"]] == ["200", "201"]


def test_an_incident_in_both_lists_is_listed_once() -> None:
    view = incident(3)
    document = statuspage.incidents(page_state(open=[view], resolved=[view]))
    assert [i["id"] for i in document["incidents"]] == ["3"]


# --- update bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "body"),
    [
        (update(1, "opened", text="Gerrit is down", new="investigating"), "Gerrit is down"),
        (update(1, "opened", new="investigating"), "Incident opened."),
        (update(1, "state", state="monitoring", old="identified", new="monitoring"),
         "Status changed to monitoring."),
        (update(1, "state", state="resolved", old="monitoring", new="resolved",
                text="All fixed, thanks for your patience"),
         "All fixed, thanks for your patience"),
        (update(1, "severity", old="3", new="2"), "Severity changed from 3 to 2."),
        (update(1, "severity", new="2"), "Severity set to 2."),
        (update(1, "lead", old="alice", new="bob"), "Incident lead is now bob."),
        (update(1, "lead", new="bob"), "Incident lead is now bob."),
        (update(1, "manager", new="carol"), "Escalation manager is now carol."),
        (update(1, "manager", old="carol"), "Escalation manager cleared."),
        (update(1, "status.alert", text="Zuul is down"), "Zuul is down"),
        (update(1, "status.notice", text="Merges are delayed"), "Merges are delayed"),
        (update(1, "status.ok", text="Zuul is back"), "Zuul is back"),
        (update(1, "status.ok"), "The alert has been cleared."),
        (update(1, "bug", new="https://bugs.example.org/123"),
         "Linked bug https://bugs.example.org/123"),
        (update(1, "pager", old="a", new="b"), "Pager changed to b."),
        (update(1, "mystery"), "Incident updated."),
        (update(1, "mystery", text="free text"), "free text"),
    ],
)
def test_update_body(entry: UpdateView, body: str) -> None:
    assert statuspage.update_body(entry) == body


def test_update_status_is_the_state_after_the_entry() -> None:
    view = incident(3, 3, "monitoring", updates=[
        update(31, "opened", 0, state="investigating", text="x"),
        update(32, "state", 1, state="monitoring", new="monitoring"),
        update(33, "lead", 2, state="monitoring", new="bob"),
    ])
    updates = statuspage.summary(page_state(open=[view]))["incidents"][0]["incident_updates"]
    assert [u["status"] for u in updates] == ["monitoring", "monitoring", "investigating"]


# --- text from chat ------------------------------------------------------------------------


@pytest.mark.parametrize("text", XSS_CORPUS)
def test_chat_text_comes_back_exactly(text: str) -> None:
    view = incident(3, title=text, updates=[update(31, "opened", 0, text=text),
                                            update(32, "status.notice", 1, text=text)])
    state = page_state(open=[view], title=text)
    for document in (statuspage.summary(state), statuspage.incidents(state)):
        parsed = json.loads(Document.json(document).body)
        assert parsed["page"]["name"] == text
        (item,) = parsed["incidents"]
        assert item["name"] == text
        assert [u["body"] for u in item["incident_updates"]] == [text, text]


def test_lone_surrogates_are_dropped() -> None:
    text = "broken \udce2 byte"
    view = incident(3, title=text, updates=[update(31, "opened", 0, text=text)])
    parsed = json.loads(Document.json(statuspage.summary(page_state(open=[view]))).body)
    assert parsed["incidents"][0]["name"] == "broken  byte"
    assert parsed["incidents"][0]["incident_updates"][0]["body"] == "broken  byte"
