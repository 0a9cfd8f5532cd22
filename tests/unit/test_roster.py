"""The roster: a line's sender as they were when the line arrived, and every change of hands
after it, in the server's order (bot/transports/irc/roster.py)."""

from __future__ import annotations

from bot.transports.irc.roster import Roster
from commands.casemapping import CaseMapping


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def roster(*nicks: str, channel: str = "#ops", **kwargs: object) -> Roster:
    made = Roster(CaseMapping.ASCII, **kwargs)  # type: ignore[arg-type]
    made.we_joined(channel)
    made.names(channel, nicks)
    return made


def test_the_swap_of_the_issue_is_seen_as_a_change_of_hands() -> None:
    # Mallory holds alice's nick and speaks; then leaves it and alice takes it back.
    people = roster("alice", "alice_")
    line = people.sight("alice")
    assert line.visible and not line.account_known
    assert not people.changed_since(line)
    people.renamed("alice", "mallory")
    people.renamed("alice_", "alice")
    people.learned_account("alice", "alice")  # the lookup's answer: about the new holder
    assert people.changed_since(line)
    # A line alice sends after the swap is hers.
    after = people.sight("alice")
    assert after.account_known and after.account == "alice"
    assert not people.changed_since(after)


def test_quit_part_kick_join_and_account_changes_count() -> None:
    people = roster("a", "b", "c", "d")
    lines = {nick: people.sight(nick) for nick in "abcd"}
    people.quit("a")
    people.parted("#ops", "b")
    people.account_changed("c", "carol")
    assert people.changed_since(lines["a"]) and people.changed_since(lines["b"])
    assert people.changed_since(lines["c"]) and not people.changed_since(lines["d"])
    newcomer = people.sight("e")
    assert not newcomer.visible
    people.joined("#ops", "e", account="erin", with_account=True)
    assert people.changed_since(newcomer)  # unseen until now: its past is unknown
    assert people.sight("e").account == "erin"


def test_a_nick_in_two_channels_stays_visible_after_one_part() -> None:
    people = roster("a")
    people.we_joined("#two")
    people.names("#two", ["a"])
    line = people.sight("a")
    people.parted("#ops", "a")
    assert people.visible("a") and not people.changed_since(line)
    people.we_left("#two")
    assert not people.visible("a") and people.changed_since(line)


def test_accounts_are_kept_only_for_visible_nicks_and_go_with_the_connection() -> None:
    people = roster("alice")
    people.learned_account("stranger", "stranger")
    assert not people.known("stranger")  # it could change hands unseen
    people.learned_account("alice", "alice")
    people.renamed("alice", "alice_away")
    assert people.account("alice_away") == "alice" and not people.known("alice")
    people.learned_account("alice_away", "*")
    assert people.known("alice_away") and people.account("alice_away") is None


def test_without_account_notify_nothing_is_kept() -> None:
    people = roster("alice")
    people.tracks_logins = False
    people.learned_account("alice", "alice")
    assert not people.known("alice")


def test_accounts_expire_and_a_disconnect_forgets_everything() -> None:
    clock = Clock()
    people = roster("alice", clock=clock, ttl=60.0)
    people.learned_account("alice", "alice")
    line = people.sight("alice")
    clock.now += 61
    assert not people.known("alice")
    people.clear()
    assert people.changed_since(line) and not people.visible("alice")


def test_names_follow_the_case_mapping_and_prefixes_are_the_callers_job() -> None:
    people = Roster(CaseMapping.RFC1459)
    people.we_joined("#ops")
    people.names("#ops", ["[x]"])
    assert people.visible("{X}")
    people.remap(CaseMapping.ASCII)
    assert not people.visible("[x]")  # a new mapping starts afresh


def test_memory_is_bounded_and_forgetting_is_conservative() -> None:
    people = roster("keep", max_remembered=100)
    line = people.sight("keep")
    for i in range(250):
        people.quit(f"n{i}")
    assert len(people._changed) <= 100
    # `keep` never changed, but what was forgotten may have been about it: refuse.
    assert people.changed_since(line)
