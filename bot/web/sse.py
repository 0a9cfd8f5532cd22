"""Server-Sent Events on /api/events: one event per change, resumable, never slowed by a slow
client (its bounded queue overflows and it is dropped; EventSource reconnects and resumes)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from bot.core.events import DeskEvent
from bot.web.live_clients import LiveClientLimit
from bot.web.refusal import refusal
from bot.web.whole_numbers import parse_whole

log = logging.getLogger("statusdesk.sse")

CLIENT_QUEUE = 256
"""Events a client may fall behind by before it is dropped."""

REPLAY = 1024
"""Recent events kept for clients resuming with Last-Event-ID."""

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000

MAX_EVENT_ID = 2**63 - 1
"""The largest Last-Event-ID read: ids count up from 1 in each process."""

RETRY_AFTER_SECONDS = 30
"""What a client turned away for lack of room is told (Retry-After)."""


@dataclass(frozen=True, slots=True)
class Frame:
    id: int
    data: bytes
    """The whole `id:/event:/data:` block, encoded once for every client."""


def encode(event: DeskEvent, frame_id: int) -> Frame:
    payload = {"kind": event.kind, "at": event.at.isoformat().replace("+00:00", "Z"),
               "incident_id": None if event.incident_id is None else str(event.incident_id)}
    # One line of JSON: SSE data must not contain a bare newline.
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Frame(frame_id, f"id: {frame_id}\nevent: change\ndata: {data}\n\n".encode())


class _Client:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue(CLIENT_QUEUE)
        self.dropped = False


WhenLost = Callable[[object, Callable[[], None]], bool]
"""Registers a callback for when a request's connection closes (ConnectionGuard.when_lost)."""


class EventStream:
    def __init__(self, limit: LiveClientLimit | None = None,
                 when_lost: WhenLost | None = None) -> None:
        self.limit = limit
        """At most so many clients overall and per address (None: no limit)."""
        self._when_lost = when_lost
        """Without it, a client that left is noticed at the next write (the heartbeat, up to
        HEARTBEAT_SECONDS later), and holds its place in `limit` until then."""
        self._clients: set[_Client] = set()
        self._recent: deque[Frame] = deque(maxlen=REPLAY)
        self._next_id = 1
        self.dropped_total = 0

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def publish(self, events: Iterable[DeskEvent]) -> None:
        for event in events:
            frame = encode(event, self._next_id)
            self._next_id += 1
            self._recent.append(frame)
            for client in list(self._clients):
                try:
                    client.queue.put_nowait(frame)
                except asyncio.QueueFull:
                    self._drop(client)

    def close(self) -> None:
        """Tell every client to go (at shutdown); they reconnect to whoever serves next."""
        for client in list(self._clients):
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        client.dropped = True
        self._clients.discard(client)
        self.dropped_total += 1
        with contextlib.suppress(asyncio.QueueFull):
            client.queue.put_nowait(None)
        # A full queue cannot take the None: the handler notices `dropped` on its next get.

    def _gone(self, client: _Client) -> None:
        """The client's connection closed: its handler stops now, not at the heartbeat."""
        self._clients.discard(client)
        with contextlib.suppress(asyncio.QueueFull):
            client.queue.put_nowait(None)

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

    async def _stream(self, request: web.Request, last: int | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "Access-Control-Allow-Origin": "*",
            "X-Accel-Buffering": "no",
        })
        await response.prepare(request)
        client = _Client()
        self._clients.add(client)
        if self._when_lost is not None:
            self._when_lost(request.protocol, functools.partial(self._gone, client))
        try:
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            if last is not None:
                missed = self._missed_since(last)
                if missed is None:
                    # Too far behind to replay: one event that says "reload everything".
                    missed = [Frame(self._next_id - 1, f"id: {self._next_id - 1}\n"
                                    "event: reset\ndata: {}\n\n".encode())]
                for old in missed:
                    await response.write(old.data)
            while True:
                try:
                    frame = await asyncio.wait_for(client.queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")
                    continue
                if frame is None or client.dropped:
                    break
                await response.write(frame.data)
        except ConnectionResetError:
            pass  # the client went away: nothing to clean up beyond the finally
        finally:
            self._clients.discard(client)
        return response
