"""Components without I/O: status words, names, the hold rule, replies, grammar, roles and
the grid on the page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.components.rules import after_link, after_release
from bot.core.events import COMPONENT_CHANGED, ComponentChanged
from bot.ha.change_relay import decode, encode
from bot.web.pages import render_incident, render_index
from bot.web.state import ComponentView, PageState
from commands import component_replies as say
from commands.auth import required_role
from commands.component_names import find, slug
from commands.component_status import (
    COMPONENT_STATUSES,
    STATUS_ALIASES,
    is_broadcast_worthy,
    label,
    parse_status,
    rank,
    worst,
)
from commands.grammar import command_name, parse, render
from commands.model import (
    ComponentList,
    ComponentSet,
    IncidentAffects,
    ParseError,
    Role,
)
from commands.usage import USAGE
from tests.unit.test_pages import assert_well_formed_page
from tests.unit.test_statuspage import incident

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


# --- status words -------------------------------------------------------------------------


def test_the_statuspage_values_and_their_aliases() -> None:
    assert COMPONENT_STATUSES == ("operational", "degraded_performance", "partial_outage",
                                  "major_outage", "under_maintenance")
    for value in COMPONENT_STATUSES:
        assert parse_status(value) == value
        assert parse_status(value.upper()) == value
    assert {k: parse_status(k) for k in STATUS_ALIASES} == {
        "ok": "operational", "degraded": "degraded_performance", "partial": "partial_outage",
        "major": "major_outage", "maintenance": "under_maintenance"}
    assert parse_status("Major") == "major_outage"
    for word in ("", "down", "majr", "outage", "operational!", "minor"):
        assert parse_status(word) is None


def test_rank_and_worst() -> None:
    order = ["operational", "under_maintenance", "degraded_performance", "partial_outage",
             "major_outage"]
    assert sorted(COMPONENT_STATUSES, key=rank) == order
    assert worst([]) == "operational"
    assert worst(["degraded_performance", "under_maintenance"]) == "degraded_performance"
    assert worst(["under_maintenance", "operational"]) == "under_maintenance"
    assert worst(["partial_outage", "major_outage", "degraded_performance"]) == "major_outage"
    with pytest.raises(ValueError, match="not a component status"):
        rank("down")
    assert [is_broadcast_worthy(s) for s in order] == [False, False, False, True, True]
    assert label("major_outage") == "major outage"


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("Code review", "code-review"),
    ("Gerrit", "gerrit"),
    ("  CI / CD  ", "ci-cd"),
    ("Zürich DC", "zurich-dc"),
    ("API v2.1", "api-v2-1"),
    ("!!!", ""),
    ("日本", ""),
])
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


class C:
    def __init__(self, id: str, name: str) -> None:
        self.id = id
        self.name = name


def test_find_by_name_or_id_ignoring_case() -> None:
    grid = [C("code-review", "Code review"), C("gerrit", "Gerrit")]
    assert find(grid, "gerrit") is grid[1]
    assert find(grid, "GERRIT") is grid[1]
    assert find(grid, "code review") is grid[0]
    assert find(grid, "Code-Review") is grid[0]
    assert find(grid, "code_review") is grid[0]  # its slug is the id
    assert find(grid, "gerit") is None
    assert find(grid, "  ") is None


# --- the hold rule ------------------------------------------------------------------------


def test_link_never_lowers_an_operators_word_without_other_holds() -> None:
    assert after_link("operational", "partial_outage", []) == "partial_outage"
    assert after_link("major_outage", "partial_outage", []) == "major_outage"


def test_link_with_other_holds_is_the_worst_hold() -> None:
    assert after_link("major_outage", "degraded_performance", ["partial_outage"]) == \
        "partial_outage"
    assert after_link("partial_outage", "major_outage", ["partial_outage"]) == "major_outage"
    assert after_link("under_maintenance", "degraded_performance",
                      ["under_maintenance"]) == "degraded_performance"


def test_release_takes_the_worst_remaining_hold_else_operational() -> None:
    assert after_release([]) == "operational"
    assert after_release(["under_maintenance"]) == "under_maintenance"
    assert after_release(["degraded_performance", "major_outage"]) == "major_outage"


# --- replies ------------------------------------------------------------------------------


def test_replies() -> None:
    assert say.changed("Gerrit", "operational", "major_outage") == \
        "Gerrit: major outage (was operational)."
    assert say.broadcast_text("Gerrit", "partial_outage", "slow") == \
        "Gerrit: partial outage — slow"
    assert say.released(3, ["Gerrit"], [("Zuul", "major_outage", [1, 2])]) == \
        "Incident #3 resolved: Gerrit operational again; Zuul stays major outage (held by #1, #2)."
    assert say.unknown_component(["x"], []) == (
        "No component 'x'. No components are configured (add them under components: in the "
        "configuration).")
    assert say.unknown_component(["x", "y"], [("Gerrit", "gerrit"), ("zuul", "zuul")]) == \
        "No components 'x', 'y'. Components: Gerrit (gerrit), zuul."
    assert say.now_line([]) is None


def test_a_long_listing_is_cut_into_short_lines() -> None:
    rows = [(f"Component number {i}", "Group", "partial_outage") for i in range(60)]
    lines = say.listing(rows)
    assert len(lines) > 3
    assert all(len(line) <= say.MAX_LINE for line in lines)
    assert sum(line.count("Component number") for line in lines) == 60


# --- grammar and roles --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("#component gerrit major", ComponentSet("gerrit", "major_outage")),
    ("#component gerrit ok all good", ComponentSet("gerrit", "operational", "all good")),
    ("#COMPONENT Code review DEGRADED", ComponentSet("Code review", "degraded_performance")),
    ("#component Code review partial_outage gate slow",
     ComponentSet("Code review", "partial_outage", "gate slow")),
    ("#component list", ComponentList()),
    ("#components", ComponentList()),
    ("statusdesk: #components", ComponentList()),
    ("#incident 4 affects gerrit", IncidentAffects(4, ("gerrit",), "partial_outage")),
    ("#incident #4 affects gerrit,zuul major",
     IncidentAffects(4, ("gerrit", "zuul"), "major_outage")),
    ("#incident 4 affects Code review, zuul maintenance",
     IncidentAffects(4, ("Code review", "zuul"), "under_maintenance")),
    # One word is a name even when it is a status word: there is no STATUS without a NAME.
    ("#incident 4 affects major", IncidentAffects(4, ("major",), "partial_outage")),
])
def test_parse(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "command"), [
    ("#component", "#component"),
    ("#component help", "#component"),
    ("#component gerrit", "#component"),
    ("#component gerrit broken", "#component"),
    ("#component " + "x" * 101 + " major", "#component"),
    ("#component list all", "#component list"),
    ("#components please", "#component list"),
    ("#incident 4 affects", "#incident ID affects"),
    ("#incident 4 affects , ,", "#incident ID affects"),
    ("#incident 4 affects " + ",".join(f"c{i}" for i in range(51)), "#incident ID affects"),
    ("#incident x affects gerrit", "#incident"),
])
def test_malformed(text: str, command: str) -> None:
    result = parse(text)
    assert isinstance(result, ParseError), result
    assert result.command == command
    assert result.usage == USAGE[command]


def test_bad_status_word_names_the_valid_ones() -> None:
    result = parse("#component gerrit kaputt")
    assert isinstance(result, ParseError) and result.reason is not None
    for word in ("operational (ok)", "degraded_performance (degraded)",
                 "partial_outage (partial)", "major_outage (major)",
                 "under_maintenance (maintenance)"):
        assert word in result.reason


@pytest.mark.parametrize("command", [
    ComponentSet("gerrit", "major_outage", "down"),
    ComponentSet("Code review", "operational"),
    ComponentList(),
    IncidentAffects(12, ("gerrit", "Code review"), "degraded_performance"),
])
def test_render_parses_back(command: object) -> None:
    assert parse(render(command)) == command  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [
    ComponentSet("list", "major_outage"),
    ComponentSet("gerrit major", "major_outage"),
    ComponentSet("gerrit", "down"),
    IncidentAffects(1, ("a,b",), "major_outage"),
    IncidentAffects(1, (), "major_outage"),
])
def test_render_refuses_what_would_parse_differently(command: object) -> None:
    with pytest.raises(ValueError):
        render(command)  # type: ignore[arg-type]


def test_roles_and_names() -> None:
    assert required_role(ComponentSet("g", "major_outage")) is Role.STATUS
    assert required_role(ComponentList()) is None
    assert required_role(IncidentAffects(1, ("g",))) is Role.INCIDENT
    assert command_name(ComponentSet("g", "major_outage")) == "#component"
    assert command_name(ComponentList()) == "#component list"
    assert command_name(IncidentAffects(1, ("g",))) == "#incident ID affects"


# --- the grid on the page -----------------------------------------------------------------


def grid_state(*components: ComponentView) -> PageState:
    return PageState(title="Example", url="https://status.example.org", updated_at=T0,
                     alert=None, open_incidents=(), recent_resolved=(), posts=(), success=(),
                     thanks=(), components=components)


def view(id: str, name: str, status: str, group: str | None = None,
         description: str | None = None) -> ComponentView:
    return ComponentView(id, name, group, description, status, 1, T0, T0)


def test_the_grid_is_grouped_with_the_status_in_words() -> None:
    state = grid_state(
        view("gerrit", "Gerrit", "major_outage", "Code review", "review.example.org"),
        view("zuul", "Zuul", "operational", "CI"),
        view("nodepool", "Nodepool", "degraded_performance", "CI"),
        view("docs", "<b>Docs</b>", "under_maintenance"),
    )
    page = assert_well_formed_page(render_index(state))
    assert page.find("h2", id="components-heading")[0].text == "Components"
    groups = [e.text.split("\n")[0].strip() for e in page.with_class("group-name")]
    assert groups == ["Code review", "CI"]
    # A group's own status is its worst member's, in words.
    ci = page.with_class("group-name")[1]
    assert "Degraded performance" in ci.text
    rows = {e.attrs["id"]: " ".join(e.text.split()) for e in page.with_class("component")}
    assert rows == {
        "component-gerrit": "Gerrit ✕ Major outage review.example.org",
        "component-zuul": "Zuul ✓ Operational",
        "component-nodepool": "Nodepool ! Degraded performance",
        "component-docs": "<b>Docs</b> ⚙ Under maintenance",
    }
    assert page.with_class("component-major_outage")
    html = render_index(state)
    assert "<b>Docs</b>" not in html and "&lt;b&gt;Docs&lt;/b&gt;" in html
    # The banner follows the worst component.
    assert "Major Service Outage" in page.find("h1")[0].text


def test_no_components_no_grid() -> None:
    page = assert_well_formed_page(render_index(grid_state()))
    assert not page.find("h2", id="components-heading")


def test_an_incident_page_names_the_components_it_affects() -> None:
    state = grid_state(view("gerrit", "Gerrit", "major_outage"),
                       view("zuul", "<i>Zuul</i>", "operational"))
    held = incident(3, components=[("gerrit", "major_outage"), ("zuul", "partial_outage"),
                                   ("gone", "major_outage")])
    page = assert_well_formed_page(render_incident(state, held))
    (affected,) = page.with_class("affected")
    assert " ".join(affected.text.split()) == \
        "Affects Gerrit (major outage), <i>Zuul</i> (partial outage)"


# --- the event, across instances ----------------------------------------------------------


def test_component_changed_crosses_the_relay() -> None:
    for incident_id in (None, 12):
        event = ComponentChanged(at=T0, incident_id=incident_id, component_id="gerrit",
                                 name="Gerrit", old="operational", new="major_outage",
                                 text="down")
        assert event.kind == COMPONENT_CHANGED == "component.changed"
        assert decode(encode(event, "instance-a")) == ("instance-a", event)
