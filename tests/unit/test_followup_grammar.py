"""The grammar of #why, #action, #actions and #incident ID role (DESIGN §1.7): every form,
the malformed ones (usage line with the reason), and round trips through `render`."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.auth import required_role
from commands.grammar import command_name, parse, render
from commands.model import (
    MAX_TEXT,
    ActionAdd,
    ActionClose,
    ActionFile,
    ActionList,
    Command,
    IncidentSetLead,
    IncidentSetManager,
    IncidentSetRole,
    ParseError,
    Role,
    Why,
)
from commands.text import clean_text
from commands.usage import USAGE

VALID: list[tuple[str, Command]] = [
    ("#why the disk filled", Why("the disk filled")),
    ("#why 12 the disk filled", Why("the disk filled", 12)),
    ("#why #12 the disk filled", Why("the disk filled", 12)),
    ("#why 12 2 logrotate was off", Why("logrotate was off", 12, 2)),
    ("#why #12 02 logrotate", Why("logrotate", 12, 2)),
    ("#why 12", Why("12")),  # one word: the text
    ("#why 12 3", Why("3", 12)),  # an id and one word: a why on 12
    ("#WHY Because", Why("Because")),
    ("#action rotate logs", ActionAdd("rotate logs")),
    ("#action 12 rotate logs", ActionAdd("rotate logs", 12)),
    ("#action rotate logs owner alice", ActionAdd("rotate logs", None, "alice")),
    ("#action rotate logs due 2026-12-24", ActionAdd("rotate logs", None, None,
                                                     date(2026, 12, 24))),
    ("#action #3 rotate logs due 2026-12-24 owner @al:example.org",
     ActionAdd("rotate logs", 3, "@al:example.org", date(2026, 12, 24))),
    ("#action rotate logs OWNER alice: DUE 2026-01-02",
     ActionAdd("rotate logs", None, "alice", date(2026, 1, 2))),
    ("#action owner alice", ActionAdd("owner alice")),  # nothing before: it is the text
    ("#action ask the owner", ActionAdd("ask the owner")),
    ("#action A7 done", ActionClose(7, "done")),
    ("#action a7 DONE fixed in r123", ActionClose(7, "done", "fixed in r123")),
    ("#action A12 drop not worth it", ActionClose(12, "drop", "not worth it")),
    ("#action A7 file", ActionFile(7)),
    ("#actions", ActionList()),
    ("#actions 12", ActionList(12)),
    ("#actions #12", ActionList(12)),
    ("#incident 12 role comms carol", IncidentSetRole(12, "comms", "carol")),
    ("#incident 12 ROLE Scribe sam", IncidentSetRole(12, "scribe", "sam")),
    ("#incident 12 role lead dave", IncidentSetLead(12, "dave")),
    ("#incident 12 role em bob", IncidentSetManager(12, "bob")),
    ("statusdesk: #why x", Why("x")),
]


def _error(name: str, reason: str | None = None) -> ParseError:
    return ParseError(command=name, usage=USAGE[name], reason=reason)


MALFORMED: list[tuple[str, ParseError]] = [
    ("#why", _error("#why")),
    ("#why 12 0 text", _error("#why", "entries are numbered 1 to 99")),
    ("#why 12 100 text", _error("#why", "entries are numbered 1 to 99")),
    ("#why " + "w" * (MAX_TEXT + 1),
     _error("#why", f"text is {MAX_TEXT + 1} characters; the limit is {MAX_TEXT}")),
    ("#action", _error("#action")),
    ("#action help", _error("#action")),
    ("#action A7 fly", _error("#action", "after an action id comes done, drop or file")),
    ("#action A7 file now", _error("#action file")),
    ("#action A7", _error("#action", "after an action id comes done, drop or file")),
    ("#action A0 done", _error("#action", "after an action id comes done, drop or file")),
    ("#action x due 2026-02-30", _error("#action", "there is no date 2026-02-30")),
    ("#action x due tomorrow", _error("#action",
                                      "write the due date as YYYY-MM-DD, e.g. 2026-12-24")),
    ("#action x owner 1bob", _error("#action",
                                    "NICK is an IRC nick or a Matrix user id (@user:server)")),
    ("#action 0 x", _error("#action", "incident ids are positive integers")),
    ("#actions 1 2", _error("#actions")),
    ("#actions all", _error("#actions")),
    ("#incident 12 role comms", _error("#incident ID role")),
    ("#incident 12 role comms carol dave", _error("#incident ID role")),
    ("#incident 12 role c-o carol",
     _error("#incident ID role", "a role is one lowercase word of at most 16 characters")),
    ("#incident 12 role abcdefghijklmnopq carol",
     _error("#incident ID role", "a role is one lowercase word of at most 16 characters")),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "expected"), MALFORMED)
def test_malformed(text: str, expected: ParseError) -> None:
    assert parse(text) == expected


def test_names_roles_and_usage() -> None:
    assert command_name(ActionClose(1, "done")) == "#action done"
    assert command_name(ActionClose(1, "drop")) == "#action drop"
    for command in (Why("x"), ActionAdd("x"), ActionClose(1, "done"), ActionFile(1),
                    IncidentSetRole(1, "comms", "c")):
        assert required_role(command) is Role.INCIDENT
        assert command_name(command) in USAGE
    assert required_role(ActionList()) is None


UNREPRESENTABLE: list[Command] = [
    Why("3 things broke"),  # "#why 3 things broke" is a why on incident 3
    Why("x", None, 2),  # replacing needs the id
    Why("2 more", 12),  # "#why #12 2 more" replaces entry 2
    Why("x", 12, 0),
    Why("x", 12, 100),
    ActionAdd("A7 done"),
    ActionAdd("3 things"),
    ActionAdd("call the owner bob"),  # would be read as owner bob
    ActionAdd("help"),
    ActionAdd("x", 0),
    ActionClose(7, "finish"),
    ActionClose(0, "done"),
    ActionFile(-1),
    IncidentSetRole(1, "lead", "dave"),  # that is IncidentSetLead
    IncidentSetRole(1, "em", "bob"),
    IncidentSetRole(1, "Comms", "carol"),
    IncidentSetRole(1, "comms", "two words"),
]


@pytest.mark.parametrize("command", UNREPRESENTABLE, ids=repr)
def test_render_refuses_unrepresentable(command: Command) -> None:
    with pytest.raises(ValueError):
        render(command)


_WORDS = st.sampled_from(["the", "disk", "owner", "due", "A7", "done", "12", "#3", "2026-12-01",
                          "alice", "help", "file", "drop", "why", "x"])
TEXT = st.one_of(
    st.lists(_WORDS, min_size=1, max_size=6).map(" ".join),
    st.text(min_size=1, max_size=40).map(clean_text).filter(bool),
)
IDS = st.integers(1, 2_147_483_647)
NICKS = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
DAYS = st.dates(date(1, 1, 1), date(9999, 12, 31))
ROLES = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)

COMMANDS: st.SearchStrategy[Command] = st.one_of(
    st.builds(Why, TEXT, st.none() | IDS, st.none() | st.integers(1, 99)),
    st.builds(ActionAdd, TEXT, st.none() | IDS, st.none() | NICKS, st.none() | DAYS),
    st.builds(ActionClose, IDS, st.sampled_from(["done", "drop"]), st.none() | TEXT),
    st.builds(ActionFile, IDS),
    st.builds(ActionList, st.none() | IDS),
    st.builds(IncidentSetRole, IDS, ROLES, NICKS),
)


@settings(max_examples=1000)
@given(COMMANDS)
def test_render_never_lies(command: Command) -> None:
    """Whatever renders parses back to itself; what cannot, refuses."""
    try:
        text = render(command)
    except ValueError:
        return
    assert parse(text) == command
    assert parse("statusdesk: " + text) == command
