"""The whitelist: who a verified identity proves to be."""

from __future__ import annotations

from commands import model as m
from commands.auth import LOCAL_OPERATOR, Identity, Principal, Whitelist, required_role
from commands.model import Role

ALICE = Principal("alice", frozenset({Role.STATUS}), irc_account="Alice")
BOB = Principal("bob", frozenset({Role.INCIDENT}), irc_nick="bob[away]")
CAROL = Principal("carol", frozenset({Role.ESCALATION}), irc_mask="carol!*@*.example.org")
DAVE = Principal("dave", frozenset({Role.ADMIN}), matrix_user="@dave:example.org")
WHITELIST = Whitelist([ALICE, BOB, CAROL, DAVE])


def irc(nick: str, account: str | None = None, mask: str | None = None) -> Identity:
    return Identity(transport="irc", nick=nick, network="oftc", account=account,
                    host_mask=mask)


def test_account_is_matched_case_insensitively_whatever_the_nick() -> None:
    assert WHITELIST.identify(irc("alice_away", account="alice")) is ALICE


def test_nick_without_the_account_is_not_alice() -> None:
    assert WHITELIST.identify(irc("alice")) is None
    assert WHITELIST.identify(irc("alice", account="mallory")) is None


def test_nick_entries_use_irc_case_mapping() -> None:
    assert WHITELIST.identify(irc("BOB{AWAY}")) is BOB


def test_mask_entries_match_the_full_hostmask() -> None:
    assert WHITELIST.identify(irc("carol", mask="carol!c@host.example.org")) is CAROL
    assert WHITELIST.identify(irc("carol", mask="carol!c@evil.example.com")) is None


def test_matrix_ids_match_exactly_and_only_on_matrix() -> None:
    matrix = Identity(transport="matrix", nick="dave", matrix_user="@dave:example.org")
    assert WHITELIST.identify(matrix) is DAVE
    spoof = Identity(transport="matrix", nick="dave", matrix_user="@dave:evil.org")
    assert WHITELIST.identify(spoof) is None
    assert WHITELIST.identify(irc("@dave:example.org")) is None


def test_console_operator_holds_every_role() -> None:
    console = Identity(transport="console", nick="me", local_operator=True)
    principal = WHITELIST.identify(console)
    assert principal is LOCAL_OPERATOR
    assert all(principal.may(role) for role in Role)


def test_admin_may_everything_others_only_their_roles() -> None:
    assert DAVE.may(Role.STATUS) and DAVE.may(Role.ESCALATION)
    assert ALICE.may(Role.STATUS) and not ALICE.may(Role.INCIDENT)


def test_every_command_has_a_required_role_entry() -> None:
    assert required_role(m.StatusAlert("x")) is Role.STATUS
    assert required_role(m.IncidentLog(1)) is Role.ESCALATION
    assert required_role(m.Now()) is None
    assert required_role(m.Success("x")) is None


def test_describe_names_what_was_verified() -> None:
    identity = irc("alice", account="alice", mask="alice!a@h")
    assert identity.describe() == "irc/oftc account=alice mask=alice!a@h"
