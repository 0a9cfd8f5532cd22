"""The pure parts of the IRC transport: CAP/SASL negotiation, ISUPPORT, flood control,
keepalive, backoff and the account cache."""

from __future__ import annotations

import base64
import random

import pytest
from irc.features import FeatureSet

from bot.core.backoff import jittered_backoff
from bot.transports.irc.caps import CapNegotiation, SaslCredentials, parse_caps
from bot.transports.irc.flood import TokenBucket
from bot.transports.irc.isupport import (
    add_flags,
    casefold_for,
    has_whox,
    notice_targets,
    topic_length,
)
from bot.transports.irc.liveness import Keepalive, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- CAP and SASL ----------------------------------------------------------------------------


def test_parse_caps_with_values() -> None:
    assert parse_caps("sasl=PLAIN,EXTERNAL multi-prefix  Server-Time") == {
        "sasl": "PLAIN,EXTERNAL", "multi-prefix": None, "server-time": None}


def test_requests_what_is_offered_and_wanted_then_ends() -> None:
    cap = CapNegotiation()
    assert cap.on_cap(["LS", "*", "multi-prefix away-notify"]) == []  # more to come
    lines = cap.on_cap(["LS", "account-tag extended-join sasl=PLAIN chghost"])
    # No credentials: no sasl; unknown caps are not requested.
    assert lines == ["CAP REQ :account-tag extended-join multi-prefix"]
    assert not cap.finished
    assert cap.on_cap(["ACK", "account-tag extended-join multi-prefix"]) == ["CAP END"]
    assert cap.finished
    assert cap.enabled == {"account-tag", "extended-join", "multi-prefix"}


def test_nothing_wanted_ends_at_once() -> None:
    cap = CapNegotiation()
    assert cap.on_cap(["LS", "away-notify"]) == ["CAP END"]
    assert cap.finished and not cap.enabled


def test_a_refused_group_is_asked_for_cap_by_cap() -> None:
    cap = CapNegotiation()
    assert cap.on_cap(["LS", "multi-prefix server-time"]) == [
        "CAP REQ :multi-prefix server-time"]
    assert cap.on_cap(["NAK", "multi-prefix server-time"]) == [
        "CAP REQ :multi-prefix", "CAP REQ :server-time"]
    assert cap.on_cap(["ACK", "multi-prefix"]) == []
    assert cap.on_cap(["NAK", "server-time"]) == ["CAP END"]
    assert cap.enabled == {"multi-prefix"}


def test_sasl_plain_login() -> None:
    cap = CapNegotiation(SaslCredentials("bot", "s3cret"))
    assert cap.on_cap(["LS", "sasl=PLAIN,EXTERNAL"]) == ["CAP REQ :sasl"]
    assert cap.on_cap(["ACK", "sasl"]) == ["AUTHENTICATE PLAIN"]
    (line,) = cap.on_authenticate("+")
    assert base64.b64decode(line.split()[1]) == b"bot\0bot\0s3cret"
    assert not cap.finished
    cap.on_logged_in("bot")
    assert cap.on_sasl_success() == ["CAP END"]
    assert cap.sasl_account == "bot" and cap.sasl_error is None


def test_a_long_sasl_payload_is_chunked() -> None:
    cap = CapNegotiation(SaslCredentials("u", "p" * 400))
    cap.on_cap(["LS", "sasl"])
    cap.on_cap(["ACK", "sasl"])
    lines = cap.on_authenticate("+")
    assert len(lines) == 2 and all(len(line) <= len("AUTHENTICATE ") + 400 for line in lines)
    exact = CapNegotiation(SaslCredentials("u", "p" * 296))  # payload of exactly 400 bytes
    exact.on_cap(["LS", "sasl"])
    exact.on_cap(["ACK", "sasl"])
    assert exact.on_authenticate("+")[-1] == "AUTHENTICATE +"


def test_sasl_failure_still_ends_negotiation_and_says_why() -> None:
    cap = CapNegotiation(SaslCredentials("bot", "wrong"))
    cap.on_cap(["LS", "sasl"])
    cap.on_cap(["ACK", "sasl"])
    cap.on_authenticate("+")
    assert cap.on_sasl_failure("SASL authentication failed") == ["CAP END"]
    assert cap.sasl_account is None and cap.sasl_error == "SASL authentication failed"


def test_sasl_wanted_but_not_offered() -> None:
    cap = CapNegotiation(SaslCredentials("bot", "pw"))
    assert cap.on_cap(["LS", "multi-prefix"]) == ["CAP REQ :multi-prefix"]
    assert cap.sasl_error == "the server does not offer SASL"
    only_external = CapNegotiation(SaslCredentials("bot", "pw"))
    assert only_external.on_cap(["LS", "sasl=EXTERNAL"]) == ["CAP END"]
    assert "PLAIN" in (only_external.sasl_error or "")


def test_cap_new_and_del_after_registration() -> None:
    cap = CapNegotiation(SaslCredentials("bot", "pw"))
    cap.on_cap(["LS", "multi-prefix"])
    cap.on_cap(["ACK", "multi-prefix"])
    assert cap.on_cap(["NEW", "account-notify sasl"]) == ["CAP REQ :account-notify"]
    cap.on_cap(["ACK", "account-notify"])
    cap.on_cap(["DEL", "multi-prefix"])
    assert cap.enabled == {"account-notify"}


def test_credentials_never_show_in_repr() -> None:
    assert "s3cret" not in repr(SaslCredentials("bot", "s3cret"))


# --- ISUPPORT --------------------------------------------------------------------------------


def features(*tokens: str) -> FeatureSet:
    arguments = ["me", *tokens, "are supported by this server"]
    feature_set = FeatureSet()
    feature_set.load(arguments)
    add_flags(feature_set, arguments)
    return feature_set


def test_notice_targets_from_targmax_maxtargets_or_one() -> None:
    assert notice_targets(features("TARGMAX=PRIVMSG:4,NOTICE:3,JOIN:")) == 3
    assert notice_targets(features("TARGMAX=NOTICE:")) == 20  # "no limit", within reason
    assert notice_targets(features("MAXTARGETS=5")) == 5
    assert notice_targets(features("CHANTYPES=#")) == 1


def test_topic_length_and_whox() -> None:
    assert topic_length(features("TOPICLEN=390")) == 390
    assert topic_length(features()) == 300
    assert has_whox(features("WHOX"))
    assert not has_whox(features("TOPICLEN=10"))


def test_casemapping() -> None:
    assert casefold_for(features("CASEMAPPING=rfc1459"))("Nick[A]~") == "nick{a}^"
    assert casefold_for(features("CASEMAPPING=strict-rfc1459"))("[A]~") == "{a}~"
    assert casefold_for(features("CASEMAPPING=ascii"))("Nick[A]~") == "nick[a]~"
    assert casefold_for(None)("[X]") == "{x}"
    # A mapping we do not know: channel names still fold ASCII letters (identities do not
    # fold at all, tests/unit/test_casemapping.py).
    assert casefold_for(features("CASEMAPPING=rfc7613"))("#Ops[1]") == "#ops[1]"


# --- flood control, keepalive, backoff ------------------------------------------------------


def test_token_bucket_allows_a_burst_then_paces() -> None:
    clock = Clock()
    bucket = TokenBucket(3, 2.0, clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.try_take()
    clock.now += 100
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1.0)


def test_keepalive_pings_once_then_declares_dead() -> None:
    keepalive = Keepalive(ping_after=45, dead_after=110)
    heard = 0.0
    assert keepalive.check(10, heard) is Verdict.FINE
    assert keepalive.check(46, heard) is Verdict.PING
    assert keepalive.check(60, heard) is Verdict.FINE  # already asked
    heard = 61.0  # the PONG
    assert keepalive.check(70, heard) is Verdict.FINE
    assert keepalive.check(107, heard) is Verdict.PING
    assert keepalive.check(171, heard) is Verdict.DEAD
    assert keepalive.dead_after < 120


def test_reconnect_delay_grows_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [jittered_backoff(n, base=1, cap=60, rng=rng) for n in range(12)]
    for n, delay in enumerate(delays):
        ceiling = min(60, 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)

