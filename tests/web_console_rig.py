"""The app running in-process, with `/console` served beside it on the app's real desk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bot.web.console import Console
from bot.web.console_sessions import ConsoleSessions, Operator
from tests.harness import Running, run_app
from tests.servers.ports import free_port

TOKEN = "sdk_console_test_token_0123456789"


@dataclass
class DeskGate:
    """Tokens of the test beside the running app's real desk (parse, authorize, apply)."""

    running: Running
    tokens: dict[str, Operator] = field(default_factory=dict)
    revoked: set[int] = field(default_factory=set)

    async def sign_in(self, token: str) -> Operator | None:
        operator = self.tokens.get(token)
        return None if operator is None or operator.token_id in self.revoked else operator

    async def still_valid(self, operator: Operator) -> bool:
        return operator.token_id not in self.revoked

    async def run(self, operator: Operator, text: str) -> tuple[bool, Sequence[str]]:
        replies = await self.running.say(text)
        return bool(replies) and not replies[0].startswith(("Sorry", "Unknown")), replies

    async def on_call(self) -> Sequence[str]:
        return ["primary: alice"]


@dataclass
class Rig:
    running: Running
    gate: DeskGate
    base: str
    clock: list[float]
    sessions: ConsoleSessions


@asynccontextmanager
async def console_rig(db_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    async with run_app(db_url, tmp_path) as running:
        gate = DeskGate(running, {TOKEN: Operator("op", 1, "laptop")})
        clock = [1000.0]
        sessions = ConsoleSessions(clock=lambda: clock[0])
        console = Console(gate, sessions, lambda: running.app.snapshot.state)
        app = web.Application()
        app.router.add_routes(console.routes())
        # The page's live part follows /api/events of its own origin, as in bot/web/app.py.
        app.router.add_get("/api/events", running.app.snapshot.stream.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Rig(running, gate, f"http://127.0.0.1:{port}", clock, sessions)
        finally:
            await runner.cleanup()


