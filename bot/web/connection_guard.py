"""The status page's connections: a cap on how many, a deadline for each request head, and
room for a newcomer when the cap is reached.

A connection is *waiting* from when it opens, and again from the end of each response, until
its next request head is complete; otherwise it is *busy* (a request being handled, a live
update stream). Waiting connections are kept oldest first:

- one that has waited `header_timeout` is closed (half-sent headers, idle keep-alive);
- when a new connection would pass `max_connections`, the oldest waiting one is closed to
  make room. A health check sends its head in a millisecond, so it is never the oldest; an
  attacker's half-sent headers are. Only when no connection is waiting (all busy) is the
  newcomer itself closed.

Busy connections are bounded elsewhere: live-update streams by bot/web/live_clients.py,
request bodies by bot/web/request_body.py.

aiohttp's own keep-alive timer closes a connection that has not sent a whole request head
only after `keepalive_timeout` (an hour by default), and has no cap or eviction; this wraps
each of its RequestHandler protocols, and a middleware says when a request starts and ends.

With a hot path (bot/web/hot_path.py), a connection's protocol here answers the hot GETs
itself and makes aiohttp's protocol only at the first request it leaves to aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from aiohttp import web

if TYPE_CHECKING:
    from bot.web.hot_path import HotPath

log = logging.getLogger("statusdesk.web")

SWEEP_SECONDS = 0.1
"""How often waiting connections are checked against header_timeout."""

SWEEP_BATCH = 256
"""At most this many are closed per sweep: a crowd opened in one second times out in one
second, and closing ten thousand connections in one go is one long stretch of work with
the event loop (and every health check and command) held. Spread out, that is 2,560 a
second; a crowd that comes faster meets the cap, where each newcomer closes one old
connection."""

EVICTION_SCAN = 64
"""How many of the oldest waiting connections are looked at for one without a response
still being sent, before the oldest is closed anyway."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Connection:
    __slots__ = ("closing", "extended", "handler", "on_lost", "since", "transport")

    def __init__(self, transport: asyncio.Transport, since: float) -> None:
        self.transport = transport
        self.handler: object | None = None
        """aiohttp's protocol, once the connection was handed to aiohttp."""
        self.on_lost: Callable[[], None] | None = None
        self.since = since
        """When it started waiting for its next request head."""
        self.closing = False
        self.extended = False
        """Given one more header_timeout because its last response was still being sent."""

    def sending(self) -> bool:
        """A response is still in the transport's buffer (a slow reader)."""
        try:
            return self.transport.get_write_buffer_size() > 0
        except (AttributeError, RuntimeError):  # transport already closed
            return False


class _GuardedProtocol(asyncio.Protocol):
    """Tells the guard when the connection opens and closes; answers what the hot path can
    (bot/web/hot_path.py) until the first request it cannot, then passes everything to
    aiohttp's protocol, made then (at once when there is no hot path)."""

    __slots__ = ("_guard", "_inner", "_make", "_paused", "_streaming", "transport")

    def __init__(self, guard: ConnectionGuard, make: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._make = make
        self._inner: asyncio.Protocol | None = None
        self._streaming = False
        """A live-update stream opened by the hot path holds the connection."""
        self._paused = False
        """The transport's buffer is over its high-water mark: the client does not read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self._guard._opened(self, self.transport)
        if self._guard.hot_path is None:
            self._hand_over()

    def _hand_over(self) -> asyncio.Protocol:
        inner = self._inner = self._make()
        self._guard._handed_over(self, inner)
        inner.connection_made(self.transport)
        if self._paused:
            inner.pause_writing()
        return inner

    def data_received(self, data: bytes) -> None:
        inner = self._inner
        if inner is None:
            if self._streaming:
                # More from a client during its live-update stream (EventSource sends
                # nothing): the stream and the connection end, and it reconnects.
                self.transport.close()
                return
            hot = self._guard.hot_path
            # A client that sends requests without reading the answers would have them
            # piling up in the buffer: aiohttp waits for the buffer to drain instead.
            if hot is not None and not self._paused and hot.answer(data, self):
                return
            inner = self._hand_over()
        inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard._lost(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        # A live-update client that falls behind is dropped by its buffer's size
        # (bot/web/sse.py); requests stop being answered here (data_received).
        self._paused = True
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._paused = False
        if self._inner is not None:
            self._inner.resume_writing()

    # --- what the hot path tells (bot/web/hot_path.HotConnection) ------------------------

    def when_lost(self, callback: Callable[[], None]) -> bool:
        return self._guard.when_lost(self, callback)

    def busy(self) -> None:
        self._streaming = True
        self._guard.request_started(self)

    def done(self) -> None:
        self._streaming = False
        self._guard.request_finished(self)


class ConnectionGuard:
    def __init__(self, max_connections: int, header_timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_connections < 1 or header_timeout <= 0:
            raise ValueError("max_connections and header_timeout must be positive")
        self._clock = clock
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self._connections: dict[object, _Connection] = {}
        """By our protocol (`_GuardedProtocol`)."""
        self._handlers: dict[object, _Connection] = {}
        """By aiohttp's protocol, for connections handed to aiohttp (what its requests
        know as `request.protocol`)."""
        self.hot_path: HotPath | None = None
        """Answers the hot GETs below aiohttp (bot/web/hot_path.py); None: aiohttp answers
        every request."""
        self._waiting: OrderedDict[_Connection, None] = OrderedDict()
        """Connections waiting for a request head, longest waiting first."""
        self._closing = 0
        self._sweeper: asyncio.Task[None] | None = None
        self.evicted = 0
        """Waiting connections closed to make room for a newcomer."""
        self.refused = 0
        """Newcomers closed because every connection was busy."""
        self.header_timeouts = 0
        self.peak = 0

    # --- figures -----------------------------------------------------------------------------

    @property
    def open(self) -> int:
        """Connections open now (those being closed included: they still hold a file)."""
        return len(self._connections)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    # --- wiring --------------------------------------------------------------------------------

    def protocol_factory(self, make: Callable[[], asyncio.Protocol]
                         ) -> Callable[[], asyncio.Protocol]:
        """What `loop.create_server` calls for each accepted connection, wrapping `make`
        (aiohttp's `Server`)."""
        return lambda: _GuardedProtocol(self, make)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A request head is complete: the connection is busy until its handler returns.
        Its response is written right after, in the same turn of the loop, so a response
        still buffered afterwards shows in `_Connection.sending`."""
        protocol = request.protocol
        self.request_started(protocol)
        try:
            return await handler(request)
        finally:
            self.request_finished(protocol)

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="http-header-timeouts")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        # aiohttp's shutdown closes the connections it was given; these it never saw.
        for connection in list(self._connections.values()):
            if connection.handler is None:
                self._close(connection)

    # --- events ----------------------------------------------------------------------------

    def _opened(self, protocol: object, transport: asyncio.Transport) -> None:
        connection = _Connection(transport, self._clock())
        self._connections[protocol] = connection
        self._waiting[connection] = None
        live = len(self._connections) - self._closing
        self.peak = max(self.peak, len(self._connections))
        if live > self.max_connections:
            self._make_room(connection)

    def _handed_over(self, protocol: object, handler: object) -> None:
        connection = self._connections.get(protocol)
        if connection is not None:
            connection.handler = handler
            self._handlers[handler] = connection

    def _find(self, protocol: object) -> _Connection | None:
        """The connection of our protocol, or of aiohttp's."""
        return self._handlers.get(protocol) or self._connections.get(protocol)

    def _lost(self, protocol: object) -> None:
        connection = self._connections.pop(protocol, None)
        if connection is None:
            return
        if connection.handler is not None:
            self._handlers.pop(connection.handler, None)
        self._waiting.pop(connection, None)
        if connection.closing:
            self._closing -= 1
        if connection.on_lost is not None:
            try:
                connection.on_lost()
            except Exception:
                log.exception("a connection's goodbye failed")

    def when_lost(self, protocol: object, callback: Callable[[], None]) -> bool:
        """Call `callback` when the connection of `protocol` (a request's) closes; False when
        it is not watched here. aiohttp does not tell a handler that waits on something else
        (a live-update stream waiting for the next change) that its client left."""
        connection = self._find(protocol)
        if connection is None:
            return False
        connection.on_lost = callback
        return True

    def request_started(self, protocol: object) -> None:
        connection = self._find(protocol)
        if connection is not None:
            self._waiting.pop(connection, None)

    def request_finished(self, protocol: object) -> None:
        connection = self._find(protocol)
        if connection is None or connection.closing:
            return
        connection.since = self._clock()
        connection.extended = False
        self._waiting[connection] = None
        self._waiting.move_to_end(connection)

    # --- closing -----------------------------------------------------------------------------

    def _make_room(self, newcomer: _Connection) -> None:
        victim: _Connection | None = None
        for scanned, candidate in enumerate(self._waiting):
            if candidate is newcomer or scanned >= EVICTION_SCAN:
                break
            if victim is None:
                victim = candidate  # the oldest, if all are still sending
            if not candidate.sending():
                victim = candidate
                break
        if victim is None:
            self.refused += 1
            self._close(newcomer)
        else:
            self.evicted += 1
            self._close(victim)

    def _close(self, connection: _Connection) -> None:
        self._waiting.pop(connection, None)
        if connection.closing:
            return
        connection.closing = True
        self._closing += 1
        connection.transport.close()

    def sweep(self, now: float | None = None) -> int:
        """Close connections that have waited header_timeout for a request head; how many."""
        now = self._clock() if now is None else now
        closed = 0
        while self._waiting and closed < SWEEP_BATCH:
            connection = next(iter(self._waiting))
            if now - connection.since < self.header_timeout:
                break
            if connection.sending() and not connection.extended:
                # Still sending its last response to a slow reader: once more the timeout.
                connection.extended = True
                connection.since = now
                self._waiting.move_to_end(connection)
                continue
            self._close(connection)
            self.header_timeouts += 1
            closed += 1
        return closed

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                self.sweep()
            except Exception:  # never let the sweeper die: it is the header timeout
                log.exception("closing connections past their header timeout failed")


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite, with each connection watched by `guard` and a longer listen
    backlog."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard,
                 *, backlog: int) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.protocol_factory(server), self._host, self._port,
            backlog=self._backlog)
