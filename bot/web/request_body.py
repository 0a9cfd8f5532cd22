"""A deadline for request bodies: a POST whose body trickles in (one byte a minute, the
slowloris way) would hold its connection busy for as long as the sender likes.

The body is read here, within `body_timeout`, before the route's handler sees the request;
aiohttp keeps what was read, so the handler's own `read()`, `json()` or `post()` return it
at once. Its size stays bounded by aiohttp's `client_max_size` (1 MiB, else 413).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.web.refusal import refusal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyDeadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.timeouts = 0
        """Requests answered 408 because their body did not arrive in time."""

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                await asyncio.wait_for(request.read(), self.timeout)
            except TimeoutError:
                self.timeouts += 1
                return refusal(408, f"the request body did not arrive within "
                               f"{self.timeout:g} s", close=True)
        return await handler(request)
