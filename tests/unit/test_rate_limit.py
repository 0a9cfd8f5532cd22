"""The per-person command rate limit, driven by a hand-moved clock."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config_text
from commands.auth import Identity
from commands.rate_limit import (
    Allowance,
    CommandRateLimit,
    Verdict,
    sender_key,
    warning_text,
)


class Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def irc(nick: str, account: str | None = None, mask: str | None = None) -> Identity:
    return Identity(transport="irc", nick=nick, network="oftc", account=account,
                    host_mask=mask or f"{nick}!{nick}@host.example")


EVERYONE = Allowance(burst=3, per_second=0.5)


def verdicts(limit: CommandRateLimit, identity: Identity, count: int,
             whitelisted: bool = False) -> list[Verdict]:
    return [limit.admit(identity, whitelisted=whitelisted).verdict for _ in range(count)]


def test_a_burst_is_answered_then_one_warning_then_silence() -> None:
    clock = Seconds()
    limit = CommandRateLimit(EVERYONE, clock=clock)
    got = verdicts(limit, irc("mallory"), 10)
    assert got == [Verdict.ALLOW] * 3 + [Verdict.WARN] + [Verdict.DROP] * 6


def test_the_warning_says_how_long_and_the_pause_ends_with_a_full_bucket() -> None:
    clock = Seconds()
    limit = CommandRateLimit(EVERYONE, clock=clock)
    mallory = irc("mallory")
    verdicts(limit, mallory, 3)
    warning = limit.admit(mallory, whitelisted=False)
    assert warning.verdict is Verdict.WARN
    assert warning.retry_after == pytest.approx(6.0)  # 3 tokens at 0.5/s
    assert warning_text(warning) == (
        "slow down — you sent too many commands; ignoring you for 6 s")
    clock.now += 5.9
    assert limit.admit(mallory, whitelisted=False).verdict is Verdict.DROP
    clock.now += 0.2
    # Served again with the whole burst, not one answer at a time.
    assert verdicts(limit, mallory, 4) == [Verdict.ALLOW] * 3 + [Verdict.WARN]


def test_commands_dropped_during_the_pause_do_not_extend_it() -> None:
    clock = Seconds()
    limit = CommandRateLimit(EVERYONE, clock=clock)
    mallory = irc("mallory")
    verdicts(limit, mallory, 4)
    for _ in range(50):
        clock.now += 0.1
        assert limit.admit(mallory, whitelisted=False).verdict is Verdict.DROP
    clock.now += 1.1
    assert limit.admit(mallory, whitelisted=False).verdict is Verdict.ALLOW


def test_a_steady_sender_within_the_rate_is_never_limited() -> None:
    clock = Seconds()
    limit = CommandRateLimit(EVERYONE, clock=clock)
    alice = irc("alice")
    for _ in range(200):
        assert limit.admit(alice, whitelisted=False).verdict is Verdict.ALLOW
        clock.now += 2.0


def test_one_flooder_does_not_limit_anyone_else() -> None:
    clock = Seconds()
    limit = CommandRateLimit(EVERYONE, clock=clock)
    verdicts(limit, irc("mallory"), 20)
    assert verdicts(limit, irc("bob"), 3) == [Verdict.ALLOW] * 3


def test_whitelisted_people_have_their_own_allowance_or_none() -> None:
    clock = Seconds()
    generous = CommandRateLimit(EVERYONE, Allowance(burst=10, per_second=1.0), clock=clock)
    alice = irc("alice", account="alice")
    assert verdicts(generous, alice, 11, whitelisted=True) == [Verdict.ALLOW] * 10 + [
        Verdict.WARN]
    unlimited = CommandRateLimit(EVERYONE, None, clock=clock)
    assert set(verdicts(unlimited, alice, 500, whitelisted=True)) == {Verdict.ALLOW}
    assert verdicts(unlimited, alice, 4)[-1] is Verdict.WARN


def test_the_console_operator_is_never_limited() -> None:
    limit = CommandRateLimit(EVERYONE, clock=Seconds())
    operator = Identity(transport="console", nick="op", network="console",
                        local_operator=True)
    assert set(verdicts(limit, operator, 100)) == {Verdict.ALLOW}
    assert len(limit) == 0


def test_an_account_is_one_sender_across_nicks_and_hosts() -> None:
    limit = CommandRateLimit(EVERYONE, clock=Seconds())
    verdicts(limit, irc("mallory", account="Mallory", mask="mallory!m@a.example"), 3)
    renamed = irc("mallory2", account="mallory", mask="mallory2!m@b.example")
    assert limit.admit(renamed, whitelisted=False).verdict is Verdict.WARN


def test_without_an_account_a_new_nick_is_the_same_sender() -> None:
    limit = CommandRateLimit(EVERYONE, clock=Seconds())
    verdicts(limit, irc("mallory", mask="mallory!m@a.example"), 3)
    renamed = irc("mallory2", mask="mallory2!m@a.example")
    assert limit.admit(renamed, whitelisted=False).verdict is Verdict.WARN
    elsewhere = irc("mallory", mask="mallory!m@b.example")
    assert limit.admit(elsewhere, whitelisted=False).verdict is Verdict.ALLOW


def test_sender_keys() -> None:
    assert sender_key(irc("Bob[1]", mask="Bob[1]!B[x]@h")) == "irc/oftc/host:b{x}@h"
    assert sender_key(irc("bob", account="Bob")) == "irc/oftc/account:bob"
    matrix = Identity(transport="matrix", nick="bob", network="example.org",
                      matrix_user="@bob:example.org")
    assert sender_key(matrix) == "matrix/@bob:example.org"
    other = Identity(transport="matrix", nick="bob", network="example.org",
                     matrix_user="@bob:evil.example")
    assert sender_key(other) != sender_key(matrix)


def test_idle_senders_are_forgotten() -> None:
    clock = Seconds()
    limit = CommandRateLimit(EVERYONE, clock=clock)
    for n in range(1000):
        limit.admit(irc(f"user{n}"), whitelisted=False)
    assert len(limit) == 1000
    clock.now += 2.1  # one token back: everyone is full again
    limit.admit(irc("late"), whitelisted=False)
    assert len(limit) == 1


def test_a_silenced_flooder_is_remembered_until_the_pause_ends() -> None:
    clock = Seconds()
    limit = CommandRateLimit(EVERYONE, clock=clock)
    mallory = irc("mallory")
    verdicts(limit, mallory, 4)
    clock.now += 5.0
    limit.admit(irc("bob"), whitelisted=False)
    assert limit.admit(mallory, whitelisted=False).verdict is Verdict.DROP


def test_memory_is_capped_under_many_senders() -> None:
    clock = Seconds()
    limit = CommandRateLimit(EVERYONE, clock=clock, max_senders=100)
    for n in range(10_000):
        limit.admit(irc(f"user{n}"), whitelisted=False)
        limit.admit(irc(f"user{n}"), whitelisted=False)
    assert len(limit) == 100


def test_bad_allowances_are_refused() -> None:
    with pytest.raises(ValueError):
        Allowance(burst=0, per_second=1.0)
    with pytest.raises(ValueError):
        Allowance(burst=1, per_second=0.0)


def test_config_defaults_and_validation() -> None:
    config = load_config_text("console: true\n")
    limit = config.commands.rate_limit
    assert limit is not None
    assert (limit.burst, limit.per_second) == (10, 0.5)
    assert limit.whitelisted is not None
    assert (limit.whitelisted.burst, limit.whitelisted.per_second) == (30, 1.0)
    off = load_config_text("commands: {rate_limit: null}\n")
    assert off.commands.rate_limit is None
    open_for_staff = load_config_text(
        "commands: {rate_limit: {burst: 3, per_second: 0.2, whitelisted: null}}\n")
    assert open_for_staff.commands.rate_limit is not None
    assert open_for_staff.commands.rate_limit.whitelisted is None
    with pytest.raises(ConfigError) as bad:
        load_config_text("commands: {rate_limit: {burst: 0, per_second: -1, typo: 1}}\n")
    paths = {problem.path for problem in bad.value.problems}
    assert {"commands.rate_limit.burst", "commands.rate_limit.per_second",
            "commands.rate_limit.typo"} <= paths
