"""The escalation policy's pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import EscalationManager
from bot.core.events import (
    DeskEvent,
    IncidentOpened,
    KudosRecorded,
    SeverityChanged,
    StateChanged,
)
from bot.paging.policy import (
    auto_page_severity,
    dedup_key,
    escalate_at,
    is_paged_person,
    may_acknowledge,
    next_manager,
)
from commands.auth import Identity, Principal
from commands.model import Role

T0 = datetime(2026, 11, 21, 12, tzinfo=UTC)
BOB = EscalationManager.model_validate(
    {"name": "Bob", "contacts": {"irc": "bob[m]", "matrix": "@bob:example.org"}})


def test_dedup_key_names_incident_round_and_step() -> None:
    assert dedup_key(12, 1, 2) == "statusdesk-incident-12-page-1-step-2"
    assert len(dedup_key(2_147_483_647, 10**6, 10**3)) <= 255


def test_timer_and_next_manager() -> None:
    assert escalate_at(T0, timedelta(minutes=10)) == T0 + timedelta(minutes=10)
    chain = ["bob", "carol"]
    assert next_manager(chain, 1) == "carol"
    assert next_manager(chain, 2) is None


@pytest.mark.parametrize(("event", "expected"), [
    (IncidentOpened(at=T0, incident_id=1, title="t", severity=1), 1),
    (IncidentOpened(at=T0, incident_id=1, title="t", severity=2), None),
    (SeverityChanged(at=T0, incident_id=1, old=3, new=1), 1),
    (SeverityChanged(at=T0, incident_id=1, old=1, new=1), None),
    (SeverityChanged(at=T0, incident_id=1, old=2, new=3), None),
    (StateChanged(at=T0, incident_id=1, old="x", new="resolved"),
     None),
    (KudosRecorded(at=T0, list="thanks", text="sev1"), None),
])
def test_auto_page_severity(event: DeskEvent, expected: int | None) -> None:
    assert auto_page_severity(event, 1) == expected
    assert auto_page_severity(event, None) is None


def _irc(nick: str, account: str | None) -> Identity:
    return Identity("irc", nick, "oftc", account=account)


def test_who_is_the_paged_person() -> None:
    nobody = Principal("alice", frozenset({Role.INCIDENT}), irc_account="alice")
    # The whitelisted user of that name (case-insensitive), however they are recognised.
    assert is_paged_person(BOB, Principal("bob", frozenset()), _irc("x", None))
    # A verified IRC account equal to the IRC contact (RFC 1459 case folding).
    assert is_paged_person(BOB, None, _irc("whoever", "BOB{M}"))
    # A Matrix user id the homeserver vouched for.
    assert is_paged_person(BOB, None, Identity("matrix", "bob", matrix_user="@bob:example.org"))
    # A whitelisted principal whose nick is the contact (trusted-network nicks).
    assert is_paged_person(BOB, Principal("b2", frozenset(), irc_nick="bob[m]"), _irc("x", None))
    # A bare nick proves nothing.
    assert not is_paged_person(BOB, None, _irc("bob[m]", None))
    assert not is_paged_person(BOB, nobody, _irc("bob[m]", "alice"))
    assert not may_acknowledge([BOB], nobody, _irc("alice", "alice"))
    admin = Principal("root", frozenset({Role.ADMIN}))
    assert may_acknowledge([BOB], admin, _irc("root", "root"))
    assert may_acknowledge([], admin, _irc("root", "root"))
