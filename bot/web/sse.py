"""Server-Sent Events on /api/events: one event per change, resumable, never slowed by a slow
client (its bounded queue overflows and it is dropped; EventSource reconnects and resumes)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import HttpVersion11, web

from bot.core.events import DeskEvent
from bot.web.live_clients import LiveClientLimit
from bot.web.refusal import refusal
from bot.web.whole_numbers import parse_whole
from bot.web.wire_head import closing_lines

log = logging.getLogger("statusdesk.sse")

CLIENT_BUFFER = 64 * 1024
"""Bytes a client may fall behind by (in its connection's send buffer, beyond what the
kernel holds) before it is dropped: a few hundred events."""

REPLAY = 1024
"""Recent events kept for clients resuming with Last-Event-ID."""

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000

MAX_EVENT_ID = 2**63 - 1
"""The largest Last-Event-ID read: ids count up from 1 in each process."""

RETRY_AFTER_SECONDS = 30
"""What a client turned away for lack of room is told (Retry-After)."""

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "Access-Control-Allow-Origin": "*",
    "X-Accel-Buffering": "no",
}

_WIRE_HEAD = ("HTTP/1.1 200 OK\r\n"
              + "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
              + "Transfer-Encoding: chunked\r\n").encode()
"""What aiohttp writes for `HEADERS` on an HTTP/1.1 stream, up to its Date and Server."""

STREAM_END = b"0\r\n\r\n"
"""The last chunk: the stream is over (the connection stays, as keep-alive)."""


@dataclass(frozen=True, slots=True)
class Frame:
    id: int
    data: bytes
    """The whole `id:/event:/data:` block, encoded once for every client."""

    @property
    def chunk(self) -> bytes:
        return _chunk(self.data)


def _chunk(data: bytes) -> bytes:
    """`data` as one HTTP/1.1 chunk (the stream has no length, so it is chunked)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode(event: DeskEvent, frame_id: int) -> Frame:
    payload = {"kind": event.kind, "at": event.at.isoformat().replace("+00:00", "Z"),
               "incident_id": None if event.incident_id is None else str(event.incident_id)}
    # One line of JSON: SSE data must not contain a bare newline.
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Frame(frame_id, f"id: {frame_id}\nevent: change\ndata: {data}\n\n".encode())


class _Client:
    """A live client: its connection, written to directly. Nothing runs per client between
    events (no task, queue or timer of its own): with 10,000 of them the fan-out is one
    loop of writes of the same bytes.

    A client opened by aiohttp's handler (`handle`) has `done`, which its handler awaits.
    One opened below aiohttp (`open_below`, from bot/web/hot_path.py) has no handler, no
    request or response object and no task: an idle one costs its connection and this;
    `peer` and `finished` are what its end gives back."""

    __slots__ = ("chunked", "done", "finished", "peer", "transport")

    def __init__(self, transport: asyncio.Transport, chunked: bool,
                 done: asyncio.Future[None] | None, peer: str | None = None,
                 finished: Callable[[], None] | None = None) -> None:
        self.transport = transport
        self.chunked = chunked
        self.done = done
        """Set when the stream is to end (dropped, gone, shutting down)."""
        self.peer = peer
        self.finished = finished


WhenLost = Callable[[object, Callable[[], None]], bool]
"""Registers a callback for when a request's connection closes (ConnectionGuard.when_lost)."""


class EventStream:
    def __init__(self, limit: LiveClientLimit | None = None,
                 when_lost: WhenLost | None = None) -> None:
        self.limit = limit
        """At most so many clients overall and per address (None: no limit)."""
        self._when_lost = when_lost
        """Without it, a client that left is noticed at the next write (an event or the
        heartbeat, up to HEARTBEAT_SECONDS later), and holds its place in `limit` until
        then."""
        self._clients: set[_Client] = set()
        self._recent: deque[Frame] = deque(maxlen=REPLAY)
        self._next_id = 1
        self._heartbeat: asyncio.TimerHandle | None = None
        self.dropped_total = 0

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def publish(self, events: Iterable[DeskEvent]) -> None:
        frames = []
        for event in events:
            frame = encode(event, self._next_id)
            self._next_id += 1
            self._recent.append(frame)
            frames.append(frame)
        if frames:
            data = frames[0].data if len(frames) == 1 else b"".join(f.data for f in frames)
            self._send(data)

    def _send(self, data: bytes) -> None:
        """Write `data` to every client; encoded (and chunked) once for all of them."""
        chunk = _chunk(data)
        for client in list(self._clients):
            transport = client.transport
            if transport.is_closing():
                self._gone(client)
            elif transport.get_write_buffer_size() > CLIENT_BUFFER:
                self._drop(client)
            else:
                transport.write(chunk if client.chunked else data)

    def _beat(self) -> None:
        """Every HEARTBEAT_SECONDS, one comment line to every client: proxies keep the
        connection, and a client that left is noticed."""
        self._heartbeat = None
        if self._clients:
            self._send(b": heartbeat\n\n")
            self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS,
                                                                     self._beat)

    def close(self) -> None:
        """Tell every client to go (at shutdown); they reconnect to whoever serves next."""
        for client in list(self._clients):
            self._drop(client)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    def _drop(self, client: _Client) -> None:
        if client.done is None:
            if client in self._clients:
                self.dropped_total += 1
                self._end_below(client, connected=True)
            return
        self._clients.discard(client)
        self.dropped_total += 1
        if not client.done.done():
            client.done.set_result(None)

    def _gone(self, client: _Client) -> None:
        """The client's connection closed: its handler stops now, not at the heartbeat."""
        if client.done is None:
            if client in self._clients:
                self._end_below(client, connected=False)
            return
        self._clients.discard(client)
        if not client.done.done():
            client.done.set_result(None)

    def _end_below(self, client: _Client, *, connected: bool) -> None:
        """End a stream opened by `open_below` the way aiohttp ends one whose handler
        returned: the last chunk, and the connection back to keep-alive."""
        self._clients.discard(client)
        if self.limit is not None:
            self.limit.leave(client.peer)
        if connected:
            if not client.transport.is_closing():
                client.transport.write(STREAM_END)
            if client.finished is not None:
                client.finished()

    def _missed_since(self, last_id: int) -> list[Frame] | None:
        """Frames after `last_id`, or None when they are no longer all in the buffer."""
        if last_id > self._next_id - 1:
            # An id we never issued: the client saw an earlier process (ids start at 1 in
            # each), so what it missed cannot be told; it must reload.
            return None
        if last_id == self._next_id - 1:
            return []
        if not self._recent or self._recent[0].id > last_id + 1:
            return None
        return [f for f in self._recent if f.id > last_id]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        last_text = request.headers.get("Last-Event-ID", "").strip()
        last: int | None = None
        if last_text:  # an empty id is no id (the EventSource standard never sends one)
            last = parse_whole(last_text, lowest=0, highest=MAX_EVENT_ID)
            if last is None:
                return refusal(400, "Last-Event-ID must be a whole number "
                               f"from 0 to {MAX_EVENT_ID}")
        peer = request.remote
        if self.limit is not None:
            refused = self.limit.enter(peer)
            if refused is not None:
                why = ("too many live-update clients" if refused == "full" else
                       "too many live-update clients from your address")
                return refusal(503, f"{why}; the page still works, reload it later",
                               retry_after=RETRY_AFTER_SECONDS, close=True)
        try:
            return await self._stream(request, last)
        finally:
            if self.limit is not None:
                self.limit.leave(peer)

    def open_below(self, transport: asyncio.Transport, last_event_id: str, peer: str | None,
                   when_lost: Callable[[Callable[[], None]], object],
                   finished: Callable[[], None]) -> bool:
        """Open a stream on a connection aiohttp never saw (bot/web/hot_path.py), with the
        same bytes as `handle` writes; False, having done nothing, for a request `handle`
        refuses (a bad Last-Event-ID, no room), which aiohttp then answers.
        `when_lost` registers what to call when the connection closes; `finished` is called
        when the stream ends with the connection still open (dropped, shutting down)."""
        last: int | None = None
        if last_event_id:
            last = parse_whole(last_event_id, lowest=0, highest=MAX_EVENT_ID)
            if last is None:
                return False
        if self.limit is not None:
            if not self.limit.admits(peer):
                return False
            self.limit.enter(peer)
        client = _Client(transport, True, None, peer, finished)
        # As in `_stream`: joined and its opening written in one go, nothing between.
        self._join(client)
        transport.write(_WIRE_HEAD + closing_lines() + _chunk(self._opening(last)))
        when_lost(functools.partial(self._gone, client))
        return True

    def _join(self, client: _Client) -> None:
        self._clients.add(client)
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS,
                                                                     self._beat)

    def _opening(self, last: int | None) -> bytes:
        """The retry interval, and what a client resuming after `last` missed."""
        opening = [f"retry: {RETRY_MS}\n\n".encode()]
        if last is not None:
            missed = self._missed_since(last)
            if missed is None:
                # Too far behind to replay: one event that says "reload everything".
                missed = [Frame(self._next_id - 1, f"id: {self._next_id - 1}\n"
                                "event: reset\ndata: {}\n\n".encode())]
            opening += [old.data for old in missed]
        return b"".join(opening)

    async def _stream(self, request: web.Request, last: int | None) -> web.StreamResponse:
        response = web.StreamResponse(headers=HEADERS)
        await response.prepare(request)
        transport = request.transport
        if transport is None:  # gone already
            return response
        opening = self._opening(last)
        # aiohttp chunks a body of no length for HTTP/1.1 and sends it as it is for 1.0:
        # `_send` writes to the connection itself and must frame it the same way.
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        client = _Client(transport, request.version >= HttpVersion11, done)
        # Joined before the opening is written, and nothing can be published between
        # the two (the write reaches the connection before its first await): no event
        # falls between the replay and the live ones, and none comes twice.
        self._join(client)
        if self._when_lost is not None:
            self._when_lost(request.protocol, functools.partial(self._gone, client))
        try:
            await response.write(opening)
            await done
        except ConnectionResetError:
            pass  # the client went away: nothing to clean up beyond the finally
        finally:
            self._clients.discard(client)
        return response
