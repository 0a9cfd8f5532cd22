"""Paging's command rules (who may do what, what to answer) with plain values: no database,
no event loop."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from bot.config import EscalationManager
from bot.paging import rules
from bot.paging.rotation import Override, Rotation
from commands.auth import Identity, Principal
from commands.model import Role

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 25, 12, tzinfo=UTC)
BOB = EscalationManager.model_validate({"name": "bob", "contacts": {"irc": "bob"}})
CAROL = EscalationManager.model_validate({"name": "carol", "contacts": {"irc": "carol"}})
MANAGERS = {m.name: m for m in (BOB, CAROL)}
ALICE = Principal("alice", frozenset({Role.INCIDENT}), irc_account="alice")
ROOT = Principal("root", frozenset({Role.ADMIN}), irc_account="root")


def irc(nick: str, account: str | None = None, unverified: str | None = None) -> Identity:
    return Identity("irc", nick, "oftc", account=account, unverified=unverified)


def test_a_resolved_incident_is_not_paged_for() -> None:
    assert rules.page_refusal(3, "resolved") == (
        "Incident #3 is resolved: there is nobody to page for it.")
    assert rules.page_refusal(3, "investigating") is None


def test_ack_without_an_id_finds_the_incident_paging_the_sender() -> None:
    live = [(1, "bob"), (2, "carol"), (2, "bob")]
    assert rules.ack_target([], MANAGERS.get, None, irc("x")) == rules.Answer(
        "Nobody is being paged right now.")
    # Only incident 2 pages carol.
    assert rules.ack_target(live, MANAGERS.get, None, irc("carol", "carol")) == \
        rules.AckTarget(2)
    # Bob is paged for both; an admin for every one; a stranger for none (so: all).
    several = rules.Answer(
        "Pages are going on for several incidents (#1, #2): say which one, e.g. #ack 1.")
    assert rules.ack_target(live, MANAGERS.get, None, irc("bob", "bob")) == several
    assert rules.ack_target(live, MANAGERS.get, ROOT, irc("root", "root")) == several
    assert rules.ack_target(live, MANAGERS.get, ALICE, irc("alice", "alice")) == several
    # A stranger and one incident paging: that one (the refusal comes with the #ack).
    assert rules.ack_target([(4, "gone")], MANAGERS.get, ALICE, irc("alice", "alice")) == \
        rules.AckTarget(4)


def test_ack_is_for_the_paged_and_admins() -> None:
    assert rules.ack(1, [], [], ROOT, irc("root", "root"), "root") == rules.Answer(
        "Nobody is being paged for incident #1.")
    assert rules.ack(1, ["bob", "carol", "bob"], [BOB, CAROL], ALICE, irc("alice", "alice"),
                     "alice") == rules.AckRefused(
        "not paged for incident #1",
        "you are not authorized to use #ack: you were not paged for incident #1 "
        "(paged: bob, carol); only they or an admin may acknowledge.")
    assert rules.ack(1, ["bob"], [BOB], None, irc("bob", unverified="services are down"),
                     "bob") == rules.AckRefused(
        "not paged for incident #1; account not verified: services are down",
        "could not verify your account, so #ack was not applied: services are down")
    assert rules.ack(1, ["bob", "carol"], [BOB, CAROL], None, irc("x", "carol"), "x") == \
        rules.AckAccepted("carol", "Acknowledged: carol is on incident #1; escalation stopped.")
    assert rules.ack(1, ["bob"], [BOB], ROOT, irc("root", "root"), "root") == \
        rules.AckAccepted("root", "Acknowledged: root is on incident #1; escalation stopped.")


def test_on_call_answer() -> None:
    assert rules.on_call(Rotation(["bob", "carol"]), NOW, (), configured=False) == (
        "On call now: bob (no rotation configured). Escalation order: bob → carol.")
    weekly = Rotation(["bob", "carol"], handoff=(0, time(9, 0)), zone=BERLIN,
                      start=date(2026, 3, 16))
    assert rules.on_call(weekly, NOW, (), configured=True) == (
        "On call now: carol until Mon 2026-03-30 09:00 CEST; next: bob. "
        "Escalation order: carol → bob.")
    cover = Override("bob", NOW, datetime(2026, 3, 26, 12, tzinfo=UTC))
    # (What follows "next: carol" is the rotation's to say: see bot/paging/rotation.py.)
    assert rules.on_call(weekly, NOW, [cover], configured=True).startswith(
        "On call now: bob (override) until Thu 2026-03-26 13:00 CET; next: carol")


def test_override_needs_a_manager_and_a_time_to_come() -> None:
    known = ["bob", "carol"]
    assert rules.override("zed", None, known, datetime(2026, 3, 26, 9), BERLIN, NOW) == \
        rules.Answer("zed is not an escalation manager (paging.escalation_managers: "
                     "bob, carol).")
    assert rules.override("bob", BOB, known, datetime(2026, 3, 25, 9), BERLIN, NOW) == \
        rules.Answer("Wed 2026-03-25 09:00 CET has passed already: give a time to come.")
    decided = rules.override("bob", BOB, known, datetime(2026, 3, 26, 9), BERLIN, NOW)
    assert decided == rules.OverrideUntil("bob", datetime(2026, 3, 26, 8, tzinfo=UTC))
    assert isinstance(decided, rules.OverrideUntil)
    assert rules.override_set(decided, "carol", BERLIN) == (
        "bob is on call instead of carol until Thu 2026-03-26 09:00 CET.")
    assert rules.override_set(decided, "bob", BERLIN) == (
        "bob is on call until Thu 2026-03-26 09:00 CET.")
