"""The app running in-process with its `/console`, a personal token for a whitelisted user,
and a clock of the test's own for the console's sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.web.console import Console
from bot.web.console_sessions import ConsoleSessions
from storage.models import utcnow
from tests.harness import Running, opened_store, run_app

USERS = """\
users:
  - name: alice
    roles: [status, incident]
    irc: {account: alice}
  - name: bob
    roles: []
    irc: {account: bob}
"""


@dataclass
class Rig:
    running: Running
    console: Console
    base: str
    token: str
    token_id: int
    db_url: str
    clock: list[float]

    @property
    def sessions(self) -> ConsoleSessions:
        return self.console.sessions

    async def revoke(self) -> None:
        """`statusdesk tokens revoke ID`, as another process would: in the database."""
        async with opened_store(self.db_url) as store, store.transaction() as tx:
            assert await tx.api_tokens.revoke(self.token_id, utcnow())


@asynccontextmanager
async def console_rig(db_url: str, tmp_path: Path, extra: str = "") -> AsyncIterator[Rig]:
    async with run_app(db_url, tmp_path, extra=USERS + extra) as running:
        async with opened_store(db_url) as store, store.transaction() as tx:
            row, token = await tx.api_tokens.create("alice", "laptop", utcnow())
        console = running.app.console
        assert console is not None
        clock = [1000.0]
        console.sessions = ConsoleSessions(clock=lambda: clock[0])
        # The harness's public_url is https; the tests talk plain HTTP to 127.0.0.1, where
        # a client keeps Secure cookies to itself (test_web_console checks the flag).
        console.secure_cookies = False
        yield Rig(running, console, running.base, token, row.id, db_url, clock)
