"""The decision core, with plain values: no database, no event loop, no clock but `NOW`.

Every command of the grammar is decided here at least once; the integration tests
(tests/integration/test_desk.py) check the same rules once more through a real database.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.capture import still_open
from bot.core.decision import (
    NEW_INCIDENT,
    NEW_POST,
    AddKudos,
    AddPost,
    Append,
    Broadcast,
    ClearAlert,
    Decision,
    OpenIncident,
    SetAlert,
    SetField,
    SetState,
    Touch,
    resolve,
)
from bot.core.effects import (
    EVERYWHERE,
    Notice,
    Page,
    Queued,
    RestoreTopic,
    SetTopic,
    broadcast,
    from_row,
    to_own_channel,
    to_row,
)
from bot.core.events import (
    AlertCleared,
    AlertSet,
    BugLinked,
    IncidentOpened,
    KudosRecorded,
    NoteAdded,
    RoleAssigned,
    SeverityChanged,
    StateChanged,
    StatusPosted,
    event_fields,
    event_from,
)
from bot.core.ports import Channel
from bot.core.rules import (
    ALERT_SEVERITY,
    LOG_ENTRIES_IN_CHAT,
    AlertFacts,
    Context,
    Needs,
    View,
    authorize,
    decide,
    needs,
)
from commands import model as m
from commands.auth import Identity, Principal
from commands.model import Role
from commands.replies import IncidentView, LogLine

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CTX = Context("alice", NOW, "https://status.test")
BARE = Context("alice", NOW)
IRC = Channel("irc", "oftc", "#infra")
MATRIX = Channel("matrix", "example.org", "!ops:example.org")


def incident(id: int = 3, *, state: str = "investigating", severity: int = 2,
             is_alert: bool = False, lead: str | None = None, manager: str | None = None,
             latest: str | None = None) -> IncidentView:
    return IncidentView(id=id, title=f"Incident {id}", severity=severity, state=state,
                        lead=lead, manager=manager, opened_at=NOW - timedelta(hours=1),
                        latest=latest, latest_at=NOW - timedelta(minutes=5) if latest else None,
                        is_alert=is_alert)


# --- #status ------------------------------------------------------------------------------


def test_an_alert_with_no_alert_incident_opens_one_and_swaps_topics() -> None:
    out = decide(m.StatusAlert("Gate is down"), View(), CTX)
    assert out.changes == [
        OpenIncident("Gate is down", ALERT_SEVERITY, "alice", NOW, is_alert=True),
        Append(NEW_INCIDENT, "opened", NOW, text="Gate is down", new="investigating"),
        AddPost("alert", "Gate is down", "alice", NOW, NEW_INCIDENT),
        SetAlert("Gate is down", "alice", NOW, NEW_INCIDENT, NEW_POST),
        Append(NEW_INCIDENT, "status.alert", NOW, text="Gate is down"),
        Touch(NEW_INCIDENT, NOW),
    ]
    assert out.broadcasts == [Broadcast(NEW_POST, (
        Notice(EVERYWHERE, "NOTICE: Gate is down"),
        SetTopic(EVERYWHERE, "Gate is down", NEW_INCIDENT)))]
    assert out.events == [
        IncidentOpened(at=NOW, incident_id=NEW_INCIDENT, title="Gate is down",
                       severity=ALERT_SEVERITY),
        AlertSet(at=NOW, incident_id=NEW_INCIDENT, text="Gate is down"),
    ]
    resolved = resolve(out, {NEW_INCIDENT: 7, NEW_POST: 40})
    assert resolved.texts == ["Alert set; opened incident #7."]
    assert resolved.events[1] == AlertSet(at=NOW, incident_id=7, text="Gate is down")
    assert resolved.broadcasts[0].effects[1] == SetTopic(EVERYWHERE, "Gate is down", 7)
    assert resolved.broadcasts[0].post_id == 40


def test_a_second_alert_updates_the_open_alert_incident() -> None:
    out = decide(m.StatusAlert("Still down"), View(alert_incident=incident(5, is_alert=True)),
                 CTX)
    assert not any(isinstance(c, OpenIncident) for c in out.changes)
    assert SetAlert("Still down", "alice", NOW, 5, NEW_POST) in out.changes
    assert out.events == [AlertSet(at=NOW, incident_id=5, text="Still down")]
    assert out.texts == ["Alert updated (incident #5)."]


def test_a_long_alert_is_cut_to_a_title_but_kept_whole_in_the_timeline() -> None:
    text = "x" * (m.MAX_TITLE + 50)
    out = decide(m.StatusAlert(text), View(), CTX)
    opened = out.changes[0]
    assert isinstance(opened, OpenIncident)
    assert len(opened.title) == m.MAX_TITLE and opened.title.endswith("…")
    assert Append(NEW_INCIDENT, "status.alert", NOW, text=text) in out.changes


@pytest.mark.parametrize(("view", "attached"), [
    (View(open_incidents=(incident(4), incident(5, is_alert=True))), 5),
    (View(open_incidents=(incident(2, is_alert=True), incident(5, is_alert=True))), 5),
    (View(open_incidents=(incident(4),)), 4),
    (View(open_incidents=(incident(4), incident(6))), None),
    (View(), None),
])
def test_a_notice_goes_to_the_alert_incident_else_the_only_open_one(
        view: View, attached: int | None) -> None:
    out = decide(m.StatusNotice("Slow"), view, CTX)
    assert out.changes[0] == AddPost("notice", "Slow", "alice", NOW, attached)
    assert (Append(attached, "status.notice", NOW, text="Slow") in out.changes) == \
        (attached is not None)
    assert out.broadcasts == [Broadcast(NEW_POST, (Notice(EVERYWHERE, "NOTICE: Slow"),))]
    assert out.events == [StatusPosted(at=NOW, incident_id=attached, post="notice",
                                       text="Slow")]
    assert out.texts == [f"Notice sent (added to incident #{attached})." if attached
                         else "Notice sent."]


def test_a_status_log_touches_only_the_page() -> None:
    out = decide(m.StatusLog("Rebooted"), View(), CTX)
    assert out.changes == [AddPost("log", "Rebooted", "alice", NOW, None)]
    assert out.broadcasts == []
    assert out.texts == ["Logged on the status page."]


def test_ok_without_an_alert_changes_nothing() -> None:
    out = decide(m.StatusOk("fine"), View(), CTX)
    assert (out.changes, out.broadcasts, out.events) == ([], [], [])
    assert out.texts == ["There is no alert to clear."]


def test_ok_clears_the_alert_resolves_its_incident_and_restores_topics() -> None:
    view = View(alert=AlertFacts("Down", "bob", NOW, 5), incident=incident(5, is_alert=True))
    out = decide(m.StatusOk("Back"), view, CTX)
    assert out.changes == [
        ClearAlert(), AddPost("ok", "Back", "alice", NOW, 5),
        Append(5, "status.ok", NOW, text="Back"),
        SetState(5, "resolved", NOW),
        Append(5, "state", NOW, old="investigating", new="resolved", text="Back"),
    ]
    assert out.broadcasts == [Broadcast(NEW_POST, (RestoreTopic(EVERYWHERE, 5),
                                                   Notice(EVERYWHERE, "NOTICE: Back")))]
    assert out.events == [
        StateChanged(at=NOW, incident_id=5, old="investigating", new="resolved"),
        AlertCleared(at=NOW, incident_id=5, text="Back"),
    ]
    assert out.texts == ["Alert cleared; topics restored; incident #5 resolved."]


def test_ok_without_text_after_the_incident_was_resolved_only_restores() -> None:
    view = View(alert=AlertFacts("Down", "bob", NOW, 5),
                incident=incident(5, state="resolved", is_alert=True))
    out = decide(m.StatusOk(None), view, CTX)
    assert not any(isinstance(c, SetState) for c in out.changes)
    assert out.broadcasts == [Broadcast(NEW_POST, (RestoreTopic(EVERYWHERE, 5),))]
    assert out.events == [AlertCleared(at=NOW, incident_id=5, text=None)]


def test_ok_of_an_alert_without_incident() -> None:
    out = decide(m.StatusOk(None), View(alert=AlertFacts("Down", "bob", NOW, None)), CTX)
    assert out.changes == [ClearAlert(), AddPost("ok", None, "alice", NOW, None)]
    assert out.broadcasts == [Broadcast(NEW_POST, (RestoreTopic(EVERYWHERE, None),))]
    assert out.texts == ["Alert cleared; topics restored."]


@pytest.mark.parametrize("command", [m.StatusHelp(), m.IncidentHelp()])
def test_help_is_only_words(command: m.StatusHelp | m.IncidentHelp) -> None:
    out = decide(command, View(), CTX)
    assert out.changes == [] and out.texts and all(out.texts)


@pytest.mark.parametrize(("command", "kind"), [(m.Success("Shipped"), "success"),
                                               (m.Thanks("Shipped"), "thanks")])
def test_kudos(command: m.Success | m.Thanks, kind: str) -> None:
    out = decide(command, View(), CTX)
    assert out.changes == [AddKudos(kind, "Shipped", "alice", NOW)]
    assert out.events == [KudosRecorded(at=NOW, list=kind, text="Shipped")]
    assert out.texts == [f"Added to the {kind} list: https://status.test/{kind}"]
    assert decide(command, View(), BARE).texts == [f"Added to the {kind} list."]


# --- #incident ----------------------------------------------------------------------------


def test_opening_an_incident() -> None:
    out = decide(m.IncidentOpen("DNS broken", 1), View(), CTX)
    assert out.changes == [
        OpenIncident("DNS broken", 1, "alice", NOW),
        Append(NEW_INCIDENT, "opened", NOW, text="DNS broken", new="investigating"),
        Append(NEW_INCIDENT, "severity", NOW, new="1"),
    ]
    assert resolve(out, {NEW_INCIDENT: 12}).texts == [
        "Opened incident #12 (sev1): DNS broken — https://status.test/incidents/12"]
    assert resolve(decide(m.IncidentOpen("DNS", 3), View(), BARE),
                   {NEW_INCIDENT: 2}).texts == ["Opened incident #2 (sev3): DNS"]


@pytest.mark.parametrize("command", [
    m.IncidentSetState(9, m.IncidentState.MONITORING), m.IncidentSetSeverity(9, 1),
    m.IncidentSetLead(9, "bob"), m.IncidentSetManager(9, "carol"), m.IncidentShow(9),
    m.IncidentLog(9), m.Note("x", 9), m.BugLink("https://bugs.test/1", 9),
])
def test_naming_an_incident_that_does_not_exist(command: m.Command) -> None:
    out = decide(command, View(), CTX)
    assert (out.changes, out.events) == ([], [])
    assert out.texts == ["There is no incident #9."]


def test_state_changes_and_the_reminder_that_the_alert_is_still_set() -> None:
    out = decide(m.IncidentSetState(3, m.IncidentState.IDENTIFIED, "found it"),
                 View(incident=incident(3)), CTX)
    assert out.changes == [SetState(3, "identified", NOW),
                           Append(3, "state", NOW, old="investigating", new="identified",
                                  text="found it")]
    assert out.events == [StateChanged(at=NOW, incident_id=3, old="investigating",
                                       new="identified", text="found it")]
    assert out.texts == ["Incident #3 is now identified."]
    resolving = decide(m.IncidentSetState(3, m.IncidentState.RESOLVED),
                       View(incident=incident(3, is_alert=True),
                            alert=AlertFacts("Down", "bob", NOW, 3)), CTX)
    assert resolving.texts == [
        "Incident #3 is now resolved. The alert is still set: clear it with #status ok."]


def test_the_same_state_again_without_text_is_said_not_recorded() -> None:
    out = decide(m.IncidentSetState(3, m.IncidentState.INVESTIGATING),
                 View(incident=incident(3)), CTX)
    assert out.changes == [] and out.texts == ["Incident #3 is already investigating."]
    again = decide(m.IncidentSetState(3, m.IncidentState.INVESTIGATING, "still looking"),
                   View(incident=incident(3)), CTX)
    assert len(again.changes) == 2


@pytest.mark.parametrize(("command", "field", "value", "event", "label"), [
    (m.IncidentSetSeverity(3, 1), "severity", 1,
     SeverityChanged(at=NOW, incident_id=3, old=2, new=1), "severity"),
    (m.IncidentSetLead(3, "bob"), "lead", "bob",
     RoleAssigned(at=NOW, incident_id=3, role="lead", old=None, new="bob"), "incident lead"),
    (m.IncidentSetManager(3, "carol"), "manager", "carol",
     RoleAssigned(at=NOW, incident_id=3, role="manager", old=None, new="carol"),
     "escalation manager"),
])
def test_severity_and_roles(command: m.Command, field: str, value: int | str,
                            event: object, label: str) -> None:
    out = decide(command, View(incident=incident(3)), CTX)
    assert out.changes[0] == SetField(3, field, value, NOW)
    assert out.events == [event]
    assert out.texts == [f"Incident #3: {label} is now {value}."]
    same = decide(command, View(incident=incident(3, severity=1, lead="bob",
                                                  manager="carol")), CTX)
    assert same.changes == [] and same.texts == [f"Incident #3: {label} is already {value}."]


def test_listing_showing_and_sending_the_log() -> None:
    view = View(open_incidents=(incident(3, latest="Rolling back"), incident(4)))
    listed = decide(m.IncidentList(), view, CTX).texts
    assert any("#3" in line and "Rolling back" in line for line in listed)
    assert any("#4" in line for line in listed)
    shown = decide(m.IncidentShow(3), View(incident=incident(3)), CTX).texts
    assert shown and "#3" in shown[0]
    assert any("https://status.test/incidents/3" in line for line in shown)
    log = (LogLine(NOW, "bob", "note", False, "checked"),
           LogLine(NOW, "bob", "state", True, None, "investigating", "identified"))
    out = decide(m.IncidentLog(3), View(incident=incident(3), log=log),
                 replace(CTX, log_api=True))
    private = [r.text for r in out.replies if r.private]
    public = [r.text for r in out.replies if not r.private]
    assert private[0] == "Incident #3: Incident 3 — last 2 entries:"
    assert private[1].endswith("bob note (private): checked")
    assert private[2].endswith("bob state: investigating → identified")
    assert private[3] == ("Full log: https://status.test/api/incidents/3/log.md "
                          "(needs the API token)")
    assert public == ["Sent you the log of incident #3 by private message."]


def test_the_log_reply_offers_no_link_the_api_would_refuse() -> None:
    """Without status_page.api_token the log API answers 401 to everyone."""
    out = decide(m.IncidentLog(3), View(incident=incident(3), log=()), CTX)
    private = [r.text for r in out.replies if r.private]
    assert not any("/api/" in line for line in private)
    assert private[-1] == ("Full log: run `statusdesk incidents export 3` on the bot's host "
                           "(the log API is off: status_page.api_token is not set)")


@pytest.mark.parametrize(("command", "change", "event", "reply"), [
    (m.Note("Restarted the db"), Append(4, "note", NOW, text="Restarted the db", public=False),
     NoteAdded(at=NOW, incident_id=4), "Noted on incident #4."),
    (m.BugLink("https://bugs.test/1"), Append(4, "bug", NOW, new="https://bugs.test/1"),
     BugLinked(at=NOW, incident_id=4, url="https://bugs.test/1"),
     "Linked https://bugs.test/1 to incident #4."),
])
def test_notes_and_bugs_go_to_the_named_or_only_open_incident(
        command: m.Note | m.BugLink, change: Append, event: object, reply: str) -> None:
    out = decide(command, View(open_incidents=(incident(4),)), CTX)
    assert out.changes == [change, Touch(4, NOW)]
    assert out.events == [event]
    assert out.texts == [reply]
    none = decide(command, View(), CTX)
    assert none.changes == [] and none.texts[0].startswith("No incident is open")
    several = decide(command, View(open_incidents=(incident(4), incident(6))), CTX)
    assert several.changes == [] and "(#4, #6)" in several.texts[0]


@pytest.mark.parametrize(("command", "section"), [
    (m.Page(), "paging"), (m.Ack(), "paging"), (m.OnCall(), "paging"),
    (m.OnCallOverride("bob", NOW), "paging"), (m.PlaybookShow(), "playbooks"),
    (m.PlaybookLink("dns", "https://bugs.test/1"), "playbooks"),
    (m.Why("x"), "incidents"), (m.ActionList(), "incidents"),
    (m.IncidentSetRole(1, "comms", "carol"), "incidents"),
    (m.MaintenanceList(), "maintenance"),
])
def test_extension_commands_without_their_extension(command: m.Command, section: str) -> None:
    out = decide(command, View(), CTX)
    assert out.changes == []
    assert out.texts[0].endswith(f"(see the `{section}` section of the config)")


def test_now_tells_the_alert_and_the_open_incidents() -> None:
    view = View(alert=AlertFacts("Gate down", "bob", NOW - timedelta(minutes=5), 3),
                open_incidents=(incident(3, latest="Rolling back"),))
    text = "\n".join(decide(m.Now(), view, CTX).texts)
    assert "Gate down" in text and "#3" in text and "https://status.test" in text
    assert decide(m.Now(), View(), CTX).texts


def test_every_command_of_the_grammar_is_decided_here() -> None:
    decided = {m.StatusAlert, m.StatusNotice, m.StatusLog, m.StatusOk, m.StatusHelp,
               m.Success, m.Thanks, m.IncidentOpen, m.IncidentSetState, m.IncidentSetSeverity,
               m.IncidentSetLead, m.IncidentSetManager, m.IncidentList, m.IncidentShow,
               m.IncidentLog, m.IncidentHelp, m.Note, m.BugLink, m.Page, m.Ack, m.OnCall,
               m.OnCallOverride, m.PlaybookShow, m.PlaybookLink, m.Now,
               m.MaintenanceSchedule, m.MaintenanceAct, m.MaintenanceList,
               m.ComponentSet, m.ComponentList, m.IncidentAffects,
               m.Why, m.ActionAdd, m.ActionClose, m.ActionFile, m.ActionList,
               m.IncidentSetRole}
    assert set(m.Command.__args__) == decided  # type: ignore[attr-defined]


# --- what the applier reads ---------------------------------------------------------------


def test_needs_read_only_what_the_rule_uses() -> None:
    assert needs(m.StatusLog("x")) == Needs()
    assert needs(m.StatusAlert("x")) == Needs(alert_incident=True)
    assert needs(m.StatusOk()) == Needs(alert=True, alert_incident_for_update=True)
    assert needs(m.IncidentSetState(3, m.IncidentState.RESOLVED)).alert_if_alert_incident
    assert not needs(m.IncidentSetState(3, m.IncidentState.IDENTIFIED)).alert_if_alert_incident
    assert needs(m.IncidentLog(3)) == Needs(incident=3, log=LOG_ENTRIES_IN_CHAT)
    assert needs(m.Note("x")) == Needs(open_incidents=True)
    assert needs(m.Note("x", 3)) == Needs(incident=3)
    assert needs(m.Now()) == Needs(situation=True)


# --- who may ------------------------------------------------------------------------------


ALICE = Identity(transport="irc", nick="alice", network="oftc", account="alice")
STATUS_ONLY = Principal("alice", frozenset({Role.STATUS}), irc_account="alice")


def test_authorization() -> None:
    assert authorize(m.Now(), None, ALICE, accounts_matter=True) is None
    assert authorize(m.StatusAlert("x"), STATUS_ONLY, ALICE, accounts_matter=True) is None
    stranger = authorize(m.StatusAlert("x"), None, ALICE, accounts_matter=True)
    assert stranger is not None and stranger.reason == "not on the whitelist"
    assert stranger.reply == "you are not authorized to use #status alert"
    lacking = authorize(m.IncidentOpen("x"), STATUS_ONLY, ALICE, accounts_matter=True)
    assert lacking is not None and lacking.reason == "lacks role incident"
    unsure = Identity(transport="irc", nick="alice", network="oftc",
                      unverified="your nick changed")
    maybe = authorize(m.StatusAlert("x"), None, unsure, accounts_matter=True)
    assert maybe is not None
    assert maybe.reason == "not on the whitelist; account not verified: your nick changed"
    assert maybe.reply.startswith("could not verify your account")
    plain = authorize(m.StatusAlert("x"), None, unsure, accounts_matter=False)
    assert plain is not None and plain.reply == "you are not authorized to use #status alert"


# --- typed effects and events -------------------------------------------------------------


def test_broadcast_keys_each_effect_by_cause_kind_and_lane() -> None:
    queued = broadcast("post:40", [IRC, MATRIX], [Notice(EVERYWHERE, "NOTICE: x"),
                                                  SetTopic(EVERYWHERE, "x", 7)])
    assert queued == [
        Queued(Notice(IRC, "NOTICE: x"), "post:40:notice:irc/oftc/#infra"),
        Queued(SetTopic(IRC, "x", 7), "post:40:set_topic:irc/oftc/#infra"),
        Queued(Notice(MATRIX, "NOTICE: x"), "post:40:notice:matrix/example.org/!ops:example.org"),
        Queued(SetTopic(MATRIX, "x", 7),
               "post:40:set_topic:matrix/example.org/!ops:example.org"),
    ]


def test_the_outbox_rows_keep_their_shape_and_read_back() -> None:
    rows = [to_row(q) for q in (Queued(Notice(IRC, "NOTICE: x"), "k1"),
                                Queued(SetTopic(IRC, "x", 7), "k2"),
                                Queued(RestoreTopic(IRC, None), "k3"),
                                Queued(Page("email", 7, {"incident_id": 7, "action": "trigger"}),
                                       "k4"))]
    assert rows[0] == ("notice", "irc/oftc/#infra",
                       {"transport": "irc", "network": "oftc", "target": "#infra",
                        "text": "NOTICE: x"}, "k1")
    assert rows[1][2]["incident_id"] == "7"
    assert "incident_id" not in rows[2][2]
    assert rows[3][:2] == ("page.email", "page/email/incident-7")
    assert [from_row(kind, payload) for kind, _, payload, _ in rows] == [
        Notice(IRC, "NOTICE: x"), SetTopic(IRC, "x", 7), RestoreTopic(IRC, None),
        Page("email", 7, {"incident_id": 7, "action": "trigger"})]
    # Rows older versions queued: an alert without incident wrote "None".
    assert from_row("set_topic", {**rows[1][2], "incident_id": "None"}) == \
        SetTopic(IRC, "x", None)
    with pytest.raises(ValueError, match="unknown effect kind"):
        from_row("dance", {})
    with pytest.raises(ValueError, match="malformed notice"):
        from_row("notice", {"transport": "irc"})


def test_own_channel_else_every_channel() -> None:
    assert to_own_channel("r:1", "hi", IRC, [IRC, MATRIX]) == [Queued(Notice(IRC, "hi"), "r:1")]
    everywhere = to_own_channel("r:1", "hi", Channel("irc", "oftc", "#gone"), [IRC, MATRIX])
    assert [q.key for q in everywhere] == ["r:1:irc/oftc/#infra",
                                           "r:1:matrix/example.org/!ops:example.org"]
    assert to_own_channel("r:1", "hi", None, []) == []


@pytest.mark.parametrize("event", [
    AlertSet(at=NOW, incident_id=1, text="x"), AlertCleared(at=NOW, incident_id=None, text=None),
    StatusPosted(at=NOW, incident_id=None, post="log", text="x"),
    KudosRecorded(at=NOW, list="thanks", text="x"),
    IncidentOpened(at=NOW, incident_id=1, title="t", severity=2),
    StateChanged(at=NOW, incident_id=1, old="a", new="b", text=None),
    SeverityChanged(at=NOW, incident_id=1, old=None, new=2),
    RoleAssigned(at=NOW, incident_id=1, role="lead", old=None, new="bob"),
    BugLinked(at=NOW, incident_id=1, url="u"), NoteAdded(at=NOW, incident_id=1),
])
def test_events_are_described_and_read_back(event: object) -> None:
    assert event_from(type(event).__name__, NOW, event.incident_id,  # type: ignore[attr-defined]
                      event_fields(event)) == event  # type: ignore[arg-type]


def test_an_unknown_or_misshapen_event_is_not_read() -> None:
    assert event_from("Teleported", NOW, 1, {}) is None
    assert event_from("AlertSet", NOW, 1, {"txt": "x"}) is None


def test_open_incidents_follow_the_events() -> None:
    events = [IncidentOpened(at=NOW, incident_id=9, title="t", severity=2),
              StateChanged(at=NOW, incident_id=3, old="investigating", new="resolved")]
    assert still_open(frozenset({3, 4}), events) == frozenset({4, 9})
    assert still_open(None, events) is None
    reopened = [StateChanged(at=NOW, incident_id=3, old="resolved", new="investigating")]
    assert still_open(frozenset(), reopened) == frozenset({3})


def test_resolve_leaves_a_decision_without_placeholders_alone() -> None:
    out = Decision()
    out.tell("hi")
    assert resolve(out, {}) is out
