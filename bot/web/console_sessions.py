"""The web console's sign-in sessions, kept in this process's memory.

A session is a random id in a cookie; the id is new on every sign-in, so a cookie planted before
sign-in (session fixation) names nothing afterwards. Each session has its own CSRF token, checked
on every POST. Sessions end 12 h after sign-in, or after 1 h without a request (sliding).
In memory per instance: behind a load balancer without sticky sessions an operator signs in
again on the other instance (documented in the README)."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

LIFETIME_SECONDS = 12 * 3600.0
IDLE_SECONDS = 3600.0
MAX_SESSIONS = 10_000
"""Past this many, the least recently used session is dropped (memory stays bounded)."""


@dataclass(frozen=True, slots=True)
class Operator:
    """Who a personal token signs in: the whitelisted user and the token's id and label."""

    user: str
    token_id: int
    label: str
    token: str = field(default="", repr=False, compare=False)
    """The token itself, kept in this instance's memory only: a standby forwards the
    operator's commands to the leader with it (bot/api/console_gate.py)."""


@dataclass(slots=True)
class ConsoleSession:
    id: str
    csrf: str
    operator: Operator
    started: float
    seen: float
    flash: tuple[bool, tuple[str, ...], str] | None = field(default=None)
    """The last command's (applied, replies, text), shown once after the redirect."""

    def csrf_matches(self, given: str | None) -> bool:
        # Constant time, and a missing field never matches.
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


class ConsoleSessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 lifetime: float = LIFETIME_SECONDS, idle: float = IDLE_SECONDS,
                 limit: int = MAX_SESSIONS) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._idle = idle
        self._limit = limit
        self._sessions: OrderedDict[str, ConsoleSession] = OrderedDict()

    def open(self, operator: Operator) -> ConsoleSession:
        now = self._clock()
        session = ConsoleSession(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32),
                                 operator=operator, started=now, seen=now)
        self._sessions[session.id] = session
        while len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session of this id, its idle time restarted; None when unknown or expired."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.started >= self._lifetime or now - session.seen >= self._idle:
            del self._sessions[session_id]
            return None
        session.seen = now
        self._sessions.move_to_end(session_id)
        return session

    def close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def close_token(self, token_id: int) -> None:
        """End every session signed in with this token (it was revoked)."""
        for sid in [s.id for s in self._sessions.values() if s.operator.token_id == token_id]:
            del self._sessions[sid]

    def __len__(self) -> int:
        return len(self._sessions)
