"""The whitelist: who a verified identity proves to be."""

from __future__ import annotations

from commands import model as m
from commands.auth import (
    LOCAL_OPERATOR,
    Identity,
    Principal,
    Whitelist,
    mask_matches,
    required_role,
)
from commands.casemapping import CaseMapping
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


# --- the network's case mapping ---------------------------------------------------------------

SQUARE = Principal("square", frozenset({Role.STATUS}), irc_nick="[x]")
BRACKETED = Principal("bracketed", frozenset({Role.STATUS}), irc_mask="[m]!*@*")
TILDE = Principal("tilde", frozenset({Role.STATUS}), irc_account="a~b")
MAPPED = Whitelist([SQUARE, BRACKETED, TILDE])


def on(mapping: CaseMapping, nick: str, account: str | None = None,
       mask: str | None = None) -> Identity:
    return Identity(transport="irc", nick=nick, network="n", account=account,
                    host_mask=mask or f"{nick}!u@h", casemapping=mapping)


def test_brackets_are_case_of_braces_only_where_the_network_says_so() -> None:
    for mapping in (CaseMapping.RFC1459, CaseMapping.RFC1459_STRICT):
        assert MAPPED.identify(on(mapping, "{X}")) is SQUARE
    for mapping in (CaseMapping.ASCII, CaseMapping.EXACT):
        assert MAPPED.identify(on(mapping, "{x}")) is None
        assert MAPPED.identify(on(mapping, "[x]")) is SQUARE
    assert MAPPED.identify(on(CaseMapping.ASCII, "[X]")) is SQUARE
    # Unknown mapping: only the very same string.
    assert MAPPED.identify(on(CaseMapping.EXACT, "[X]")) is None


def test_tilde_is_caret_under_rfc1459_only() -> None:
    assert MAPPED.identify(on(CaseMapping.RFC1459, "z", account="A^B")) is TILDE
    for mapping in (CaseMapping.RFC1459_STRICT, CaseMapping.ASCII, CaseMapping.EXACT):
        assert MAPPED.identify(on(mapping, "z", account="a^b")) is None
    assert MAPPED.identify(on(CaseMapping.RFC1459_STRICT, "z", account="A~B")) is TILDE


def test_a_mask_bracket_is_a_character_not_a_class() -> None:
    # fnmatch would read `[m]` as "the letter m" and let the nick `m` in.
    for mapping in CaseMapping:
        assert MAPPED.identify(on(mapping, "m")) is None
    assert MAPPED.identify(on(CaseMapping.ASCII, "[m]")) is BRACKETED
    assert MAPPED.identify(on(CaseMapping.ASCII, "{m}")) is None
    assert MAPPED.identify(on(CaseMapping.RFC1459, "{M}")) is BRACKETED


def test_mask_wildcards() -> None:
    assert mask_matches("a?c!*@*.org", "abc!x@h.example.org", CaseMapping.ASCII)
    assert not mask_matches("a?c!*@*.org", "ac!x@h.example.org", CaseMapping.ASCII)
    assert not mask_matches("a.c!*@*", "abc!x@h", CaseMapping.ASCII)
    assert mask_matches("A*!*@H", "abc!x@h", CaseMapping.ASCII)
    assert not mask_matches("A*!*@H", "abc!x@h", CaseMapping.EXACT)


def test_advertised_mappings() -> None:
    assert CaseMapping.advertised(None) is CaseMapping.RFC1459
    assert CaseMapping.advertised("ASCII") is CaseMapping.ASCII
    assert CaseMapping.advertised("strict-rfc1459") is CaseMapping.RFC1459_STRICT
    assert CaseMapping.advertised("rfc1459-strict") is CaseMapping.RFC1459_STRICT
    assert CaseMapping.advertised("rfc7613") is CaseMapping.EXACT
    assert CaseMapping.advertised("utf-8") is CaseMapping.EXACT


def test_an_unverified_account_is_said_in_the_audit_description() -> None:
    identity = Identity(transport="irc", nick="alice", network="n", host_mask="alice!a@h",
                        unverified="your nick changed")
    assert identity.describe() == "irc/n mask=alice!a@h account=unverified"
    assert MAPPED.has_irc_accounts and not Whitelist([SQUARE]).has_irc_accounts
