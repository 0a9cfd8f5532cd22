"""The console's sessions: random ids, sliding idle time, a hard lifetime, a bounded count."""

from __future__ import annotations

from bot.web.console_sessions import IDLE_SECONDS, LIFETIME_SECONDS, ConsoleSessions, Operator

ALICE = Operator("alice", 1, "laptop")
BOB = Operator("bob", 2, "phone")


def test_ids_and_csrf_tokens_are_random_and_distinct() -> None:
    sessions = ConsoleSessions()
    one, two = sessions.open(ALICE), sessions.open(ALICE)
    assert len({one.id, two.id, one.csrf, two.csrf}) == 4 and len(one.id) >= 40
    assert one.csrf_matches(one.csrf) and not one.csrf_matches(two.csrf)
    assert not one.csrf_matches(None) and not one.csrf_matches("")


def test_idle_time_slides_but_the_lifetime_does_not() -> None:
    now = [0.0]
    sessions = ConsoleSessions(clock=lambda: now[0])
    session = sessions.open(ALICE)
    now[0] = IDLE_SECONDS - 1
    assert sessions.get(session.id) is session
    now[0] += IDLE_SECONDS - 1
    assert sessions.get(session.id) is session
    now[0] += IDLE_SECONDS
    assert sessions.get(session.id) is None and len(sessions) == 0
    session = sessions.open(ALICE)
    started = now[0]
    while now[0] - started < LIFETIME_SECONDS - 1800:
        now[0] += 1800
        assert sessions.get(session.id) is session
    now[0] = started + LIFETIME_SECONDS
    assert sessions.get(session.id) is None


def test_a_revoked_token_closes_only_its_sessions_and_the_count_is_bounded() -> None:
    sessions = ConsoleSessions(limit=3)
    a1, a2, b = sessions.open(ALICE), sessions.open(ALICE), sessions.open(BOB)
    sessions.close_token(ALICE.token_id)
    assert sessions.get(a1.id) is None and sessions.get(a2.id) is None
    assert sessions.get(b.id) is b
    newer = [sessions.open(ALICE) for _ in range(3)]
    assert sessions.get(b.id) is None and all(sessions.get(s.id) is s for s in newer)
    assert sessions.get("") is None and sessions.get(None) is None
