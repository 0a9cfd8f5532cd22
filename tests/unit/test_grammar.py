"""commands.grammar: chat text -> Command (DESIGN §1.4) and back."""

from __future__ import annotations

import random
import re
import typing
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from commands.grammar import command_name, parse, render
from commands.model import (
    MAX_TEXT,
    MAX_TITLE,
    MAX_TOPIC,
    SEVERITIES,
    Ack,
    ActionAdd,
    ActionClose,
    ActionFile,
    ActionList,
    BugLink,
    Command,
    ComponentList,
    ComponentSet,
    IncidentAffects,
    IncidentHelp,
    IncidentList,
    IncidentLog,
    IncidentOpen,
    IncidentSetLead,
    IncidentSetManager,
    IncidentSetRole,
    IncidentSetSeverity,
    IncidentSetState,
    IncidentShow,
    IncidentState,
    MaintenanceAct,
    MaintenanceList,
    MaintenanceSchedule,
    MaintenanceStep,
    Note,
    Now,
    OnCall,
    OnCallOverride,
    Page,
    ParseError,
    PlaybookLink,
    PlaybookShow,
    StatusAlert,
    StatusHelp,
    StatusLog,
    StatusNotice,
    StatusOk,
    Success,
    Thanks,
    Why,
)
from commands.text import clean_text
from commands.usage import GENERAL_HELP, INCIDENT_HELP, STATUS_HELP, USAGE

MONITORING = IncidentState.MONITORING

# --- table: every form -------------------------------------------------------------------------

VALID: list[tuple[str, Command]] = [
    # #status
    ("#status alert gerrit is down", StatusAlert("gerrit is down")),
    ("#STATUS Alert x", StatusAlert("x")),
    ("#Status ALERT  spaced\t\tout  ", StatusAlert("spaced out")),
    ("#status alert \x02bold\x02 \x0304red\x03", StatusAlert("bold red")),
    ("#status alert help", StatusAlert("help")),
    ("#status notice restarting zuul", StatusNotice("restarting zuul")),
    ("#status log moved the mirror", StatusLog("moved the mirror")),
    ("#status ok", StatusOk()),
    ("#status ok all fixed", StatusOk("all fixed")),
    ("#status ok \x02\x02", StatusOk()),
    ("#status", StatusHelp()),
    ("#status help", StatusHelp()),
    ("#status HELP alert", StatusHelp()),
    # #success / #thanks
    ("#success the gate is green", Success("the gate is green")),
    ("#thanks fungi for the fix", Thanks("fungi for the fix")),
    # #incident
    ("#incident", IncidentHelp()),
    ("#incident help", IncidentHelp()),
    ("#incident open db is down", IncidentOpen("db is down")),
    ("#incident open sev1 everything is down", IncidentOpen("everything is down", 1)),
    ("#incident open SEV2 x", IncidentOpen("x", 2)),
    ("#incident open sev 4 minor", IncidentOpen("minor", 4)),
    ("#incident open Sev 03 y", IncidentOpen("y", 3)),
    ("#incident open sev2 sev1 is a word here", IncidentOpen("sev1 is a word here", 2)),
    ("#incident open sevx title", IncidentOpen("sevx title")),
    ("#incident open 12 servers", IncidentOpen("12 servers")),
    ("#incident list", IncidentList()),
    ("#INCIDENT LIST", IncidentList()),
    ("#incident 12", IncidentShow(12)),
    ("#incident #12", IncidentShow(12)),
    ("#incident 012", IncidentShow(12)),
    ("#incident 2147483647", IncidentShow(2_147_483_647)),
    ("#incident 12 investigating", IncidentSetState(12, IncidentState.INVESTIGATING)),
    (
        "#incident #12 identified bad disk",
        IncidentSetState(12, IncidentState.IDENTIFIED, "bad disk"),
    ),
    ("#incident 12 Monitoring fix deployed", IncidentSetState(12, MONITORING, "fix deployed")),
    ("#incident 12 RESOLVED", IncidentSetState(12, IncidentState.RESOLVED)),
    ("#incident 12 sev 1", IncidentSetSeverity(12, 1)),
    ("#incident #12 sev2", IncidentSetSeverity(12, 2)),
    ("#incident 12 SEV 4", IncidentSetSeverity(12, 4)),
    ("#incident 12 lead alice", IncidentSetLead(12, "alice")),
    ("#incident 12 lead alice:", IncidentSetLead(12, "alice")),
    ("#incident 12 lead Alice,", IncidentSetLead(12, "Alice")),
    ("#incident 12 lead [m]x|y^z`_{}-1\\", IncidentSetLead(12, "[m]x|y^z`_{}-1\\")),
    ("#incident 12 lead @alice:example.org", IncidentSetLead(12, "@alice:example.org")),
    ("#incident 12 lead @alice:example.org:", IncidentSetLead(12, "@alice:example.org")),
    ("#incident 12 em bob", IncidentSetManager(12, "bob")),
    ("#incident 12 EM @bob:matrix.org:8448,", IncidentSetManager(12, "@bob:matrix.org:8448")),
    ("#incident 12 log", IncidentLog(12)),
    ("#incident #7 LOG", IncidentLog(7)),
    # #log: a leading id followed by more text is the incident
    ("#log restarted nova", Note("restarted nova")),
    ("#log 3 servers down", Note("servers down", 3)),
    ("#log #3 servers down", Note("servers down", 3)),
    ("#log 3", Note("3")),
    ("#log #3", Note("#3")),
    ("#log -1 degrees", Note("-1 degrees")),
    # paging
    ("#page", Page()),
    ("#page 12", Page(12)),
    ("#page #12 db is on fire", Page(12, "db is on fire")),
    ("#page db is on fire", Page(None, "db is on fire")),
    ("#ack", Ack()),
    ("#ack 12", Ack(12)),
    ("#ack #12", Ack(12)),
    ("#oncall", OnCall()),
    ("#OnCall", OnCall()),
    ("#oncall override bob until 2026-12-01 09:00",
     OnCallOverride("bob", datetime(2026, 12, 1, 9, 0))),
    ("#ONCALL Override bob: UNTIL 2026-12-01 9:05",
     OnCallOverride("bob", datetime(2026, 12, 1, 9, 5))),
    ("#oncall override @bob:example.org until 2026-12-01",
     OnCallOverride("@bob:example.org", datetime(2026, 12, 1))),
    # playbooks and bugs
    ("#playbook", PlaybookShow()),
    ("#playbook zuul", PlaybookShow("zuul")),
    ("#playbook Zuul  Restart", PlaybookShow("Zuul Restart")),
    ("#playbook help", PlaybookShow("help")),
    (
        "#playbook link zuul restart https://bugs.launchpad.net/zuul/+bug/1",
        PlaybookLink("zuul restart", "https://bugs.launchpad.net/zuul/+bug/1"),
    ),
    ("#playbook LINK x http://h", PlaybookLink("x", "http://h")),
    ("#playbook link http://a http://b", PlaybookLink("http://a", "http://b")),
    ("#bug https://github.com/o/r/issues/1", BugLink("https://github.com/o/r/issues/1")),
    ("#bug 12 https://h/1", BugLink("https://h/1", 12)),
    ("#bug #12 HTTPS://H:8080/x?y=1#z", BugLink("HTTPS://H:8080/x?y=1#z", 12)),
    ("#bug http://[::1]:80/", BugLink("http://[::1]:80/")),
    # questions
    ("#now", Now()),
    ("#NOW", Now()),
]

ADDRESSED: list[tuple[str, Command | ParseError | None]] = [
    ("statusdesk: #status alert x", StatusAlert("x")),
    ("statusdesk, #status alert x", StatusAlert("x")),
    ("statusdesk:#status alert x", StatusAlert("x")),
    ("@statusdesk: #status alert x", StatusAlert("x")),
    ("@statusdesk #status alert x", StatusAlert("x")),
    ("StatusDesk: #incident list", IncidentList()),
    ("statusdesk #now", Now()),
    ("statusdesk: what's happening?", Now()),
    ("statusdesk: whats happening", Now()),
    ("statusdesk: what is happening?", Now()),
    ("statusdesk: What’s happening?", Now()),
    ("statusdesk: what‘s happening", Now()),
    ("statusdesk: what's up?", Now()),
    ("statusdesk: what’s up", Now()),
    ("statusdesk: what's going on??", Now()),
    ("statusdesk: status?", Now()),
    ("statusdesk: status", Now()),
    ("statusdesk: STATUS ?", Now()),
    ("statusdesk: now?", Now()),
    ("statusdesk: now", Now()),
    ("statusdesk: #now", Now()),
    ("statusdesk, what's happening?", Now()),
    ("@statusdesk what's happening?", Now()),
    ("statusdesk what's happening?", Now()),
    ("statusdesk status?", Now()),
    ("statusdesk:   what's   happening ?", Now()),
    # addressed but not understood: the general help
    ("statusdesk", ParseError("statusdesk", GENERAL_HELP)),
    ("statusdesk:", ParseError("statusdesk", GENERAL_HELP)),
    ("statusdesk: ", ParseError("statusdesk", GENERAL_HELP)),
    ("statusdesk ", ParseError("statusdesk", GENERAL_HELP)),
    ("@statusdesk", ParseError("statusdesk", GENERAL_HELP)),
    ("statusdesk: hello", ParseError("statusdesk", GENERAL_HELP)),
    ("statusdesk, help", ParseError("statusdesk", GENERAL_HELP)),
    ("@statusdesk hi", ParseError("statusdesk", GENERAL_HELP)),
    ("statusdesk: #openstack-infra", ParseError("statusdesk", GENERAL_HELP)),
    ("statusdesk: #12", ParseError("statusdesk", GENERAL_HELP)),
    # addressed and malformed: that command's usage
    ("statusdesk: #status alert", ParseError("#status alert", USAGE["#status alert"])),
    # talk about the bot, other nicks
    ("statusdesk is broken again", None),
    ("statusdesk what", None),
    ("hey statusdesk: what's happening?", None),
    ("ask statusdesk, it knows", None),
    ("statusdesk2: what's happening?", None),
    ("statusdesk_: #status alert x", None),
    ("@statusdesk2 hi", None),
    ("statusdes: hi", None),
]

CHATTER = [
    "",
    " ",
    "hello",
    "what's happening?",
    "status?",
    "lunch?",
    "#openstack-infra is busy",
    "#12 foo",
    "#",
    "# status alert x",
    "#status-page is slow",
    "#status: alert x",
    "#statusalert x",
    "#logs are big",
    "#nowhere",
    "#bugs everywhere",
    "#pager duty",
    " #status alert x",
    "\x02#status alert x",
    "\u200b#status alert x",
    "x #status alert y",
    "##status",
    "#ståtus alert x",
]


def _error(name: str, reason: str | None = None) -> ParseError:
    return ParseError(command=name, usage=USAGE[name], reason=reason)


_IDS = "incident ids are positive integers"
_SEV = "severities are sev1 (the worst) to sev4"
_NICK = "NICK is an IRC nick or a Matrix user id (@user:server)"
_URL = "not an http(s) URL"
_WHEN = "write the end as YYYY-MM-DD HH:MM, e.g. 2026-12-01 09:00"
_STATE = ("after the id comes investigating, identified, monitoring, resolved, sev, lead, em, "
          "role, log or affects")

MALFORMED: list[tuple[str, ParseError]] = [
    ("#status alrt x", ParseError("#status", STATUS_HELP)),
    ("#status alert", _error("#status alert")),
    ("#status alert   ", _error("#status alert")),
    ("#status alert \x02\x03\u200b", _error("#status alert")),
    ("#STATUS NOTICE", _error("#status notice")),
    ("#status log", _error("#status log")),
    ("#success", _error("#success")),
    ("#thanks \t", _error("#thanks")),
    ("#incident foo", ParseError("#incident", INCIDENT_HELP)),
    ("#incident -1", ParseError("#incident", INCIDENT_HELP)),
    ("#incident open", _error("#incident open")),
    ("#incident open sev1", _error("#incident open")),
    ("#incident open sev 2", _error("#incident open")),
    ("#incident open sev5 x", _error("#incident open", _SEV)),
    ("#incident open sev0 x", _error("#incident open", _SEV)),
    ("#incident open sev 9 x", _error("#incident open", _SEV)),
    ("#incident open sev 10 x", _error("#incident open", _SEV)),
    ("#incident open sev x", _error("#incident open", _SEV)),
    ("#incident open sev", _error("#incident open", _SEV)),
    ("#incident open sev" + "9" * 5000 + " x", _error("#incident open", _SEV)),
    ("#incident list open", _error("#incident list")),
    ("#incident 0", _error("#incident ID", _IDS)),
    ("#incident #0 log", _error("#incident ID log", _IDS)),
    ("#incident 2147483648", _error("#incident ID", _IDS)),
    ("#incident " + "9" * 5000, _error("#incident ID", _IDS)),
    ("#incident 12 foo", ParseError("#incident", INCIDENT_HELP, _STATE)),
    ("#incident 12 fixed", ParseError("#incident", INCIDENT_HELP, _STATE)),
    ("#incident 12 sev", _error("#incident ID sev")),
    ("#incident 12 sev high", _error("#incident ID sev")),
    ("#incident 12 sev 5", _error("#incident ID sev", _SEV)),
    ("#incident 12 sev0", _error("#incident ID sev", _SEV)),
    ("#incident 12 sev 2 now", _error("#incident ID sev")),
    ("#incident 12 sev2 now", _error("#incident ID sev")),
    ("#incident 12 lead", _error("#incident ID lead")),
    ("#incident 12 lead alice bob", _error("#incident ID lead")),
    ("#incident 12 lead 1alice", _error("#incident ID lead", _NICK)),
    ("#incident 12 lead -alice", _error("#incident ID lead", _NICK)),
    ("#incident 12 lead al!ce", _error("#incident ID lead", _NICK)),
    ("#incident 12 lead " + "a" * 65, _error("#incident ID lead", _NICK)),
    ("#incident 12 lead :", _error("#incident ID lead", _NICK)),
    ("#incident 12 lead @alice", _error("#incident ID lead", _NICK)),
    ("#incident 12 em", _error("#incident ID em")),
    ("#incident 12 em bob please", _error("#incident ID em")),
    ("#incident 12 em @bob:", _error("#incident ID em", _NICK)),
    ("#incident 12 log all", _error("#incident ID log")),
    ("#log", _error("#log")),
    ("#log 0 errors today", _error("#log", _IDS)),
    ("#log 99999999999 x", _error("#log", _IDS)),
    ("#page 0", _error("#page", _IDS)),
    ("#ack please", _error("#ack")),
    ("#ack 12 done", _error("#ack")),
    ("#ack 0", _error("#ack", _IDS)),
    ("#oncall now", _error("#oncall")),
    ("#oncall override", _error("#oncall override")),
    ("#oncall override bob", _error("#oncall override")),
    ("#oncall override bob until", _error("#oncall override")),
    ("#oncall override bob till 2026-12-01 09:00", _error("#oncall override")),
    ("#oncall override bob until 2026-12-01 09:00 UTC", _error("#oncall override")),
    ("#oncall override 1bob until 2026-12-01 09:00", _error("#oncall override", _NICK)),
    ("#oncall override bob until tomorrow", _error("#oncall override", _WHEN)),
    ("#oncall override bob until 2026-12-01 24:00", _error("#oncall override", _WHEN)),
    ("#oncall override bob until 2026-12-01 9", _error("#oncall override", _WHEN)),
    ("#oncall override bob until 2026-02-30 09:00",
     _error("#oncall override", "there is no date 2026-02-30")),
    ("#oncall override bob until 0000-01-01 09:00",
     _error("#oncall override", "there is no date 0000-01-01")),
    ("#now please", _error("#now")),
    ("#playbook link", _error("#playbook link")),
    ("#playbook link zuul", _error("#playbook link")),
    ("#playbook link https://h/1", _error("#playbook link")),
    ("#playbook link zuul restart", _error("#playbook link", _URL)),
    ("#playbook link zuul ftp://h/1", _error("#playbook link", _URL)),
    ("#bug", _error("#bug")),
    ("#bug 12", _error("#bug", _URL)),
    ("#bug see https://h/1", _error("#bug")),
    ("#bug 12 https://h/1 extra", _error("#bug")),
    ("#bug 0 https://h/1", _error("#bug", _IDS)),
    ("#bug ftp://h/1", _error("#bug", _URL)),
    ("#bug https://", _error("#bug", _URL)),
    ("#bug http:///path", _error("#bug", _URL)),
    ("#bug https://h:99999/", _error("#bug", _URL)),
    ("#bug https://[::1/", _error("#bug", _URL)),
    ("#bug javascript:alert(1)", _error("#bug", _URL)),
    ("#bug https://h/" + "x" * 2000, _error("#bug", _URL)),
    # too long: refused with the length, never cut
    (
        "#status alert " + "x" * (MAX_TEXT + 1),
        _error("#status alert", f"text is {MAX_TEXT + 1} characters; the limit is {MAX_TEXT}"),
    ),
    (
        "#log 3 " + "y" * 5000,
        _error("#log", f"text is 5000 characters; the limit is {MAX_TEXT}"),
    ),
    (
        "#incident open sev1 " + "t" * (MAX_TITLE + 1),
        _error("#incident open", f"title is {MAX_TITLE + 1} characters; the limit is {MAX_TITLE}"),
    ),
    (
        "#playbook " + "p" * (MAX_TOPIC + 1),
        _error("#playbook", f"topic is {MAX_TOPIC + 1} characters; the limit is {MAX_TOPIC}"),
    ),
    (
        "#incident 12 resolved " + "r" * (MAX_TEXT + 1),
        _error("#incident ID STATE", f"text is {MAX_TEXT + 1} characters; the limit is {MAX_TEXT}"),
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "expected"), ADDRESSED)
def test_addressed(text: str, expected: Command | ParseError | None) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", CHATTER)
def test_chatter_is_not_ours(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(("text", "expected"), MALFORMED)
def test_malformed(text: str, expected: ParseError) -> None:
    assert parse(text) == expected


def test_text_at_the_limits_is_accepted() -> None:
    assert parse("#status alert " + "x" * MAX_TEXT) == StatusAlert("x" * MAX_TEXT)
    title = "t" * MAX_TITLE
    assert parse("#incident open " + title) == IncidentOpen(title)
    assert parse("#playbook " + "p" * MAX_TOPIC) == PlaybookShow("p" * MAX_TOPIC)
    # the limit applies to the cleaned text
    assert parse("#thanks " + "\x02x" * MAX_TEXT) == Thanks("x" * MAX_TEXT)


def test_other_bot_nick() -> None:
    nick = "Desk[1]|^"
    assert parse("desk[1]|^: status?", bot_nick=nick) == Now()
    assert parse("@DESK[1]|^ #oncall", bot_nick=nick) == OnCall()
    assert parse("desk[1]|^", bot_nick=nick) == ParseError(nick, GENERAL_HELP)
    assert parse("desk[1]: status?", bot_nick=nick) is None
    assert parse("statusdesk: status?", bot_nick=nick) is None
    assert parse("#oncall", bot_nick=nick) == OnCall()
    assert parse("hello", bot_nick="") is None
    assert parse("#oncall", bot_nick="") == OnCall()


# --- render ------------------------------------------------------------------------------------

CANONICAL: list[tuple[Command, str]] = [
    (StatusAlert("x y"), "#status alert x y"),
    (StatusNotice("n"), "#status notice n"),
    (StatusLog("l"), "#status log l"),
    (StatusOk(), "#status ok"),
    (StatusOk("done"), "#status ok done"),
    (StatusHelp(), "#status"),
    (Success("s"), "#success s"),
    (Thanks("t"), "#thanks t"),
    (IncidentOpen("db down"), "#incident open sev3 db down"),
    (IncidentOpen("db down", 2), "#incident open sev2 db down"),
    (IncidentSetState(12, MONITORING, "fix in"), "#incident #12 monitoring fix in"),
    (IncidentSetState(12, IncidentState.RESOLVED), "#incident #12 resolved"),
    (IncidentSetSeverity(12, 1), "#incident #12 sev 1"),
    (IncidentSetLead(12, "alice"), "#incident #12 lead alice"),
    (IncidentSetManager(12, "@bob:example.org"), "#incident #12 em @bob:example.org"),
    (IncidentList(), "#incident list"),
    (IncidentShow(12), "#incident #12"),
    (IncidentLog(12), "#incident #12 log"),
    (IncidentHelp(), "#incident"),
    (Note("hello"), "#log hello"),
    (Note("3"), "#log 3"),
    (Note("3 servers", 12), "#log #12 3 servers"),
    (Page(), "#page"),
    (Page(12), "#page #12"),
    (Page(12, "help"), "#page #12 help"),
    (Page(None, "help"), "#page help"),
    (Ack(), "#ack"),
    (Ack(12), "#ack #12"),
    (OnCall(), "#oncall"),
    (OnCallOverride("bob", datetime(2026, 12, 1, 9, 0)), "#oncall override bob until "
     "2026-12-01 09:00"),
    (OnCallOverride("bob", datetime(999, 1, 2, 3, 4)), "#oncall override bob until "
     "0999-01-02 03:04"),
    (PlaybookShow(), "#playbook"),
    (PlaybookShow("zuul"), "#playbook zuul"),
    (PlaybookLink("zuul x", "https://h/1"), "#playbook link zuul x https://h/1"),
    (BugLink("https://h/1"), "#bug https://h/1"),
    (BugLink("https://h/1", 12), "#bug #12 https://h/1"),
    (Now(), "#now"),
    (MaintenanceSchedule(datetime(2026, 12, 6, 10, 0), timedelta(hours=2), "Gerrit upgrade",
                         ("gerrit", "zuul")),
     "#maintenance schedule 2026-12-06 10:00 2h on gerrit,zuul Gerrit upgrade"),
    (MaintenanceSchedule(datetime(2026, 12, 6, 10, 0), timedelta(days=1, minutes=5), "x"),
     "#maintenance schedule 2026-12-06 10:00 1d5m x"),
    (MaintenanceAct(3, MaintenanceStep.START), "#maintenance #3 start"),
    (MaintenanceAct(3, MaintenanceStep.COMPLETE, "all good"), "#maintenance #3 complete all good"),
    (MaintenanceAct(3, MaintenanceStep.CANCEL), "#maintenance #3 cancel"),
    (MaintenanceList(), "#maintenance list"),
    (ComponentSet("gerrit", "major_outage"), "#component gerrit major_outage"),
    (ComponentSet("Code review", "degraded_performance", "slow diffs"),
     "#component Code review degraded_performance slow diffs"),
    (ComponentList(), "#component list"),
    (IncidentAffects(1, ("gerrit", "Code review"), "major_outage"),
     "#incident #1 affects gerrit,Code review major_outage"),
    (Why("the disk filled"), "#why the disk filled"),
    (Why("logs grew", 12, 2), "#why #12 2 logs grew"),
    (ActionAdd("rotate logs", 12, "alice", date(2026, 12, 24)),
     "#action #12 rotate logs owner alice due 2026-12-24"),
    (ActionClose(7, "done"), "#action A7 done"),
    (ActionClose(7, "drop", "not needed"), "#action A7 drop not needed"),
    (ActionFile(7), "#action A7 file"),
    (ActionList(), "#actions"),
    (ActionList(12), "#actions #12"),
    (IncidentSetRole(12, "comms", "carol"), "#incident #12 role comms carol"),
]


@pytest.mark.parametrize(("command", "text"), CANONICAL)
def test_render(command: Command, text: str) -> None:
    assert render(command) == text
    assert parse(text) == command


UNREPRESENTABLE: list[Command] = [
    Note("3 servers down"),  # "#log 3 servers down" is a note on incident 3
    Note("#3 servers down"),
    Note("0 errors"),
    Page(None, "3"),  # "#page 3" pages for incident 3
    Page(None, "#3 now"),
    PlaybookShow("link x"),  # "#playbook link x" links a bug
    PlaybookShow("LINK"),
    StatusAlert(""),
    StatusAlert(" x"),
    StatusAlert("a\r\nPRIVMSG #x :pwned"),
    StatusAlert("two  spaces"),
    StatusAlert("\x02bold"),
    StatusAlert("x" * (MAX_TEXT + 1)),
    StatusOk(""),
    Success("\u202eevil"),
    IncidentOpen("t" * (MAX_TITLE + 1)),
    IncidentOpen("x", 0),
    IncidentOpen("x", 5),
    IncidentOpen("x", True),
    IncidentShow(0),
    IncidentShow(-1),
    IncidentShow(2_147_483_648),
    IncidentShow(True),
    IncidentSetState(1, typing.cast(IncidentState, "fixed")),
    IncidentSetSeverity(1, 5),
    IncidentSetLead(1, "two words"),
    IncidentSetLead(1, "alice:"),
    IncidentSetLead(1, ""),
    IncidentSetManager(1, "1bob"),
    PlaybookShow("p" * (MAX_TOPIC + 1)),
    PlaybookLink("", "https://h/1"),
    PlaybookLink("x", "not a url"),
    BugLink("ftp://h/1"),
    BugLink("https://h/1 x"),
    BugLink("https://h/\x00"),
    Note("x", 0),
    OnCallOverride("bob", datetime(2026, 12, 1, 9, 0, 30)),
    OnCallOverride("bob", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    OnCallOverride("b o b", datetime(2026, 12, 1, 9, 0)),
]


@pytest.mark.parametrize("command", UNREPRESENTABLE, ids=repr)
def test_render_refuses_unrepresentable(command: Command) -> None:
    with pytest.raises(ValueError):
        render(command)


def test_command_names_are_usage_keys() -> None:
    classes = typing.get_args(Command)
    assert len(classes) == 37
    rendered = {type(command) for command, _ in CANONICAL}
    assert rendered == set(classes)
    for command, _ in CANONICAL:
        assert command_name(command) in USAGE
    assert command_name(StatusAlert("x")) == "#status alert"
    assert command_name(IncidentSetLead(1, "a")) == "#incident ID lead"


@pytest.mark.parametrize("name", sorted(USAGE))
def test_usage_lines(name: str) -> None:
    line = USAGE[name]
    assert line.startswith(name.split(" ")[0])
    assert "\r" not in line and "\n" not in line
    assert line == clean_text(line)
    assert len(line.encode("utf-8")) < 400


@pytest.mark.parametrize("help_text", [STATUS_HELP, INCIDENT_HELP, GENERAL_HELP])
def test_help_fits_one_irc_line(help_text: str) -> None:
    assert help_text == clean_text(help_text)
    assert len(help_text.encode("utf-8")) < 400


# --- properties ----------------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "#status",
        "#STATUS",
        "#incident",
        "#log",
        "#page",
        "#ack",
        "#oncall",
        "override",
        "until",
        "2026-12-01",
        "09:00",
        "#playbook",
        "#bug",
        "#now",
        "#success",
        "#thanks",
        "#",
        "##",
        "alert",
        "notice",
        "ok",
        "help",
        "open",
        "list",
        "sev",
        "sev1",
        "sev9",
        "lead",
        "em",
        "log",
        "link",
        "monitoring",
        "resolved",
        "0",
        "1",
        "12",
        "#12",
        "#0",
        "-1",
        "2147483648",
        "9" * 40,
        "https://h/1",
        "http://[::1",
        "http://h:99999",
        "ftp://x",
        "alice",
        "alice:",
        "@bob:example.org",
        "@bob:",
        "statusdesk",
        "statusdesk:",
        "@statusdesk",
        "what's",
        "happening?",
        "status?",
        " ",
        "  ",
        ":",
        ",",
        "\t",
        "\r\n",
        "\x00",
        "\x01",
        "\x02",
        "\x03",
        "\x0304,05",
        "\x04",
        "\u202e",
        "\u200b",
        "\u2028",
        "\ud800",
        "’",
        "é",
    ]
)
_MESSY_TEXT = st.one_of(
    st.text(),
    st.text(st.characters(codec=None, exclude_categories=())),
    st.lists(_FRAGMENTS, max_size=12).map("".join),
    st.lists(_FRAGMENTS, max_size=12).map(" ".join),
    st.lists(st.one_of(_FRAGMENTS, st.text(max_size=4)), max_size=12).map(" ".join),
    # a keyword, then words that matter to it: reaches the deeper branches of the grammar
    st.tuples(
        st.sampled_from(["#status", "#incident", "#log", "#page", "#ack", "#playbook", "#bug",
                         "#oncall override"]),
        st.lists(_FRAGMENTS, max_size=5),
        st.text(max_size=8),
    ).map(lambda parts: " ".join([parts[0], *parts[1], parts[2]])),
)


def _check_result(result: object, bot_nick: str = "statusdesk") -> None:
    assert result is None or isinstance(result, (*typing.get_args(Command), ParseError))
    if isinstance(result, ParseError):
        assert isinstance(result.usage, str) and result.usage
        assert "\r" not in result.usage and "\n" not in result.usage
        assert result.reason is None or ("\r" not in result.reason and "\n" not in result.reason)
        if result.command == bot_nick:
            assert result.usage == GENERAL_HELP
        else:
            assert result.usage == USAGE[result.command]
    elif result is not None:
        # whatever parse produces is canonical-able: render never refuses it
        command = typing.cast(Command, result)
        assert parse(render(command)) == command


@settings(max_examples=500)
@given(_MESSY_TEXT)
@example("#incident open sev" + "9" * 5000)
@example("#log " + "1" * 5000 + " x")
def test_parse_never_raises(text: str) -> None:
    _check_result(parse(text))


_PREFIXES = [
    "#",
    "#status ",
    "#incident ",
    "#incident open ",
    "#incident 12 ",
    "#incident #12 lead ",
    "#incident 12 sev ",
    "#log ",
    "#page ",
    "#playbook link ",
    "#bug ",
    "statusdesk: ",
    "statusdesk ",
    "@statusdesk ",
    "STATUSDESK,",
]


@settings(max_examples=500)
@given(st.sampled_from(_PREFIXES), _MESSY_TEXT)
def test_parse_never_raises_for_commands_and_addressed(prefix: str, text: str) -> None:
    _check_result(parse(prefix + text))


@given(_MESSY_TEXT)
def test_chatter_fast_path(text: str) -> None:
    assume(not text.startswith(("#", "@")) and not text.lower().startswith("statusdesk"))
    assert parse(text) is None


# Valid commands: clean non-empty texts within limits, ids, nicks, URLs.


def _clean(limit: int) -> st.SearchStrategy[str]:
    words = st.one_of(_FRAGMENTS, st.text(min_size=1, max_size=12))
    raw = st.one_of(
        st.text(min_size=1),
        st.lists(words, min_size=1, max_size=8).map(" ".join),
        st.integers(1, limit).map(lambda n: ("ab " * n)[:n]),
    )
    return raw.map(clean_text).filter(lambda s: 0 < len(s) <= limit)


TEXT = _clean(MAX_TEXT)
TITLE = _clean(MAX_TITLE)
TOPIC = _clean(MAX_TOPIC)
IDS = st.one_of(st.integers(1, 30), st.integers(1, 2_147_483_647))
SEVERITY = st.sampled_from(SEVERITIES)
NICKS = st.one_of(
    st.from_regex(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}\-]{0,63}", fullmatch=True),
    st.from_regex(
        r"@[a-z0-9._=\-/+]{1,20}:[a-z0-9][a-z0-9.\-]{0,20}(:[0-9]{1,5})?", fullmatch=True
    ),
)
URLS = st.from_regex(
    r"(https?|HTTPS?)://[a-z0-9]([a-z0-9\-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}(:[0-9]{1,4})?"
    r"(/[A-Za-z0-9/._~%?=&#+\-]{0,60})?",
    fullmatch=True,
)
_ID_LIKE = re.compile(r"#?[0-9]+")


def _first_word(text: str) -> str:
    return text.split(" ", 1)[0]


COMMANDS: st.SearchStrategy[Command] = st.one_of(
    st.builds(StatusAlert, TEXT),
    st.builds(StatusNotice, TEXT),
    st.builds(StatusLog, TEXT),
    st.builds(StatusOk, st.none() | TEXT),
    st.just(StatusHelp()),
    st.builds(Success, TEXT),
    st.builds(Thanks, TEXT),
    st.builds(IncidentOpen, TITLE, SEVERITY),
    st.builds(IncidentSetState, IDS, st.sampled_from(IncidentState), st.none() | TEXT),
    st.builds(IncidentSetSeverity, IDS, SEVERITY),
    st.builds(IncidentSetLead, IDS, NICKS),
    st.builds(IncidentSetManager, IDS, NICKS),
    st.just(IncidentList()),
    st.builds(IncidentShow, IDS),
    st.builds(IncidentLog, IDS),
    st.just(IncidentHelp()),
    st.builds(Note, TEXT, IDS),
    # without an id, "#log 3 x" would name incident 3
    st.builds(Note, TEXT.filter(lambda t: " " not in t or not _ID_LIKE.fullmatch(_first_word(t)))),
    st.builds(Page, st.none() | IDS, TEXT).filter(
        lambda p: p.incident_id is not None or not _ID_LIKE.fullmatch(_first_word(p.text or ""))
    ),
    st.builds(Page, st.none() | IDS),
    st.builds(Ack, st.none() | IDS),
    st.just(OnCall()),
    st.builds(OnCallOverride, NICKS, st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31))
              .map(lambda d: d.replace(second=0, microsecond=0))),
    st.just(PlaybookShow()),
    st.builds(PlaybookShow, TOPIC.filter(lambda t: _first_word(t).lower() != "link")),
    st.builds(PlaybookLink, TOPIC, URLS),
    st.builds(BugLink, URLS, st.none() | IDS),
    st.just(Now()),
    st.builds(MaintenanceSchedule,
              st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31))
              .map(lambda d: d.replace(second=0, microsecond=0)),
              st.integers(1, 30 * 24 * 60).map(lambda n: timedelta(minutes=n)),
              TITLE.filter(lambda t: _first_word(t).lower() != "on"),
              st.lists(st.from_regex(r"[a-zA-Z0-9_.\-]{1,20}", fullmatch=True), max_size=4,
                       unique=True).map(tuple)),
    st.builds(MaintenanceSchedule,
              st.just(datetime(2026, 12, 6, 10, 0)), st.just(timedelta(hours=1)), TITLE,
              st.lists(st.from_regex(r"[a-z0-9\-]{1,20}", fullmatch=True), min_size=1,
                       max_size=4, unique=True).map(tuple)),
    st.builds(MaintenanceAct, IDS, st.sampled_from(MaintenanceStep), st.none() | TEXT),
    st.just(MaintenanceList()),
)

# How many leading words of the canonical text are keywords (their case does not matter).
_KEYWORD_WORDS: dict[type[object], tuple[int, ...]] = {
    StatusAlert: (0, 1),
    StatusNotice: (0, 1),
    StatusLog: (0, 1),
    StatusOk: (0, 1),
    StatusHelp: (0,),
    Success: (0,),
    Thanks: (0,),
    IncidentOpen: (0, 1, 2),
    IncidentSetState: (0, 2),
    IncidentSetSeverity: (0, 2),
    IncidentSetLead: (0, 2),
    IncidentSetManager: (0, 2),
    IncidentList: (0, 1),
    IncidentShow: (0,),
    IncidentLog: (0, 2),
    IncidentHelp: (0,),
    Note: (0,),
    Page: (0,),
    Ack: (0,),
    OnCall: (0,),
    OnCallOverride: (0, 1, 3),
    PlaybookShow: (0,),
    PlaybookLink: (0, 1),
    BugLink: (0,),
    Now: (0,),
    MaintenanceSchedule: (0, 1),
    MaintenanceAct: (0, 2),
    MaintenanceList: (0, 1),
}


def _random_case(command: Command, text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for index in _KEYWORD_WORDS[type(command)]:
        words[index] = "".join(
            char.upper() if rng.random() < 0.5 else char.lower() for char in words[index]
        )
    return " ".join(words)


@settings(max_examples=1000)
@given(COMMANDS)
def test_round_trip(command: Command) -> None:
    text = render(command)
    assert parse(text) == command
    assert "\r" not in text and "\n" not in text


@settings(max_examples=500)
@given(
    COMMANDS,
    st.sampled_from(["statusdesk: ", "statusdesk, ", "StatusDesk:", "@statusdesk ", "statusdesk "]),
    st.randoms(use_true_random=False),
)
def test_round_trip_addressed_and_any_case(
    command: Command, prefix: str, rng: random.Random
) -> None:
    text = _random_case(command, render(command), rng)
    assert parse(text) == command
    assert parse(prefix + text) == command
    assert parse(prefix + text, bot_nick="StatusDesk") == command


# Arbitrary (possibly invalid) values: render either refuses or tells the truth.
_ANY_TEXT = st.one_of(TEXT, st.text(), _MESSY_TEXT)
_ANY_ID = st.one_of(IDS, st.integers())
_ANY_COMMANDS: st.SearchStrategy[Command] = st.one_of(
    st.builds(StatusAlert, _ANY_TEXT),
    st.builds(StatusOk, st.none() | _ANY_TEXT),
    st.builds(IncidentOpen, _ANY_TEXT, st.integers(-1, 6)),
    st.builds(IncidentSetSeverity, _ANY_ID, st.integers(-1, 6)),
    st.builds(IncidentSetLead, _ANY_ID, st.one_of(NICKS, _ANY_TEXT)),
    st.builds(Note, _ANY_TEXT, st.none() | _ANY_ID),
    st.builds(Page, st.none() | _ANY_ID, st.none() | _ANY_TEXT),
    st.builds(Ack, st.none() | _ANY_ID),
    st.builds(PlaybookShow, st.none() | _ANY_TEXT),
    st.builds(PlaybookLink, _ANY_TEXT, st.one_of(URLS, _ANY_TEXT)),
    st.builds(BugLink, st.one_of(URLS, _ANY_TEXT), st.none() | _ANY_ID),
)


@settings(max_examples=500)
@given(_ANY_COMMANDS)
def test_render_never_lies(command: Command) -> None:
    try:
        text = render(command)
    except ValueError:
        return
    assert parse(text) == command
