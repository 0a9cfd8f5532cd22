"""A tiny harness for local fake HTTP services: a real aiohttp server on a loopback port,
with scriptable failures placed in front of the real behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.servers.ports import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Scripted:
    """One canned answer: the status, its headers and JSON body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"message": "scripted failure"})


class FakeService:
    """Base of the fakes: `script` answers the next requests before the real handler does."""

    def __init__(self) -> None:
        self.script: list[Scripted] = []
        self.requests: list[tuple[str, str, bytes]] = []
        """Every request received: (method, path with query, body)."""
        self.hold: asyncio.Event | None = None
        """When set to an Event, requests wait for it before anything is processed."""
        self.dropped = 0
        """Held requests whose client had gone by the time they were let through."""
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @web.middleware
    async def _scripted(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path_qs, body))
        if self.hold is not None:
            await self.hold.wait()
            if request.transport is None or request.transport.is_closing():
                self.dropped += 1  # as a real server would: the client hung up first
                return web.Response(status=503)
        if self.script:
            answer = self.script.pop(0)
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        return await handler(request)

    async def __aenter__(self) -> FakeService:
        app = web.Application(middlewares=[self._scripted])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
