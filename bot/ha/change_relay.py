"""Carries the leader's committed changes to the other instances with LISTEN/NOTIFY.

Every instance serves the status page from its own snapshot; only the leader applies
commands. The leader NOTIFYs each domain event; the others LISTEN and feed it to their own
event bus, so their snapshots rebuild and their SSE clients hear of it within a second.

NOTIFY is best effort (a leader can die between its commit and its NOTIFY, a listener can
be disconnected for a while): whenever a listener (re)connects, and every `REFRESH_SECONDS`
anyway, it asks for a full rebuild, so a missed notification delays a change; it never
hides it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.core.events import DeskEvent, event_fields, event_from

log = logging.getLogger("statusdesk.relay")

CHANNEL = "statusdesk_changes"
MAX_PAYLOAD = 7900
"""PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; bigger events lose their data
(the snapshot rebuild reads the database anyway; only the SSE detail is lost)."""

REFRESH_SECONDS = 30.0
RECONNECT_SECONDS = 1.0
SHORTENED = 200
"""How much of each text an oversized event keeps (texts are capped at 400 characters
by the grammar, but several of them and JSON escapes add up)."""


def encode(event: DeskEvent, origin: str) -> str:
    data = event_fields(event)
    body = {"origin": origin, "kind": event.kind, "type": type(event).__name__,
            "at": event.at.isoformat(), "incident_id": event.incident_id, "data": data}
    text = json.dumps(body, default=str, separators=(",", ":"))
    if len(text.encode()) > MAX_PAYLOAD:
        # The texts are what grows: the receiver's page reads the database anyway, so the
        # event still goes, with its texts cut short.
        body["data"] = {k: _shortened(v) for k, v in data.items()}
        text = json.dumps(body, default=str, separators=(",", ":"))
    return text


def _shortened(value: Any) -> Any:
    return value[:SHORTENED] + "…" if isinstance(value, str) and len(value) > SHORTENED \
        else value


def decode(payload: str) -> tuple[str, DeskEvent] | None:
    """(origin, event), or None for a payload that is not one of ours."""
    try:
        body = json.loads(payload)
        data = body.get("data") or {}
        if not isinstance(data, dict):
            return None
        event = event_from(str(body["type"]), datetime.fromisoformat(body["at"]),
                           body.get("incident_id"), data)
        if event is None:
            return None
        return str(body["origin"]), event
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class ChangeRelay:
    """One per instance: publishes this instance's events, receives the others'."""

    def __init__(
        self,
        dsn: str,
        origin: str,
        *,
        on_remote: Callable[[DeskEvent], None],
        on_gap: Callable[[], None],
        refresh_every: float = REFRESH_SECONDS,
    ) -> None:
        self._dsn = dsn
        self._origin = origin
        self._on_remote = on_remote
        self._on_gap = on_gap
        self._refresh_every = refresh_every
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.received = 0
        self.sent = 0

    def publish(self, event: DeskEvent) -> None:
        """EventBus subscriber: queue the event for NOTIFY (never blocks the desk)."""
        self._outgoing.put_nowait(encode(event, self._origin))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="change-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        import asyncpg  # the `postgres` extra: a relay exists only on PostgreSQL

        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=5)
                closed = asyncio.Event()
                connection.add_termination_listener(lambda _c, done=closed: done.set())
                await connection.add_listener(CHANNEL, self._received)
                self._on_gap()  # whatever happened while we were not listening
                await self._serve(connection, closed)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("change relay: %s; reconnecting", type(error).__name__)
            finally:
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _serve(self, connection: Any, closed: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self._refresh_every
        while not closed.is_set():
            timeout = max(0.0, next_refresh - loop.time())
            try:
                payload = await asyncio.wait_for(self._outgoing.get(), min(timeout, 1.0))
            except TimeoutError:
                if loop.time() >= next_refresh:
                    self._on_gap()
                    next_refresh = loop.time() + self._refresh_every
                continue
            try:
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            except Exception:
                self._outgoing.put_nowait(payload)  # the next connection sends it
                raise
            self.sent += 1

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        decoded = decode(payload)
        if decoded is None:
            # An instance of another version (a rolling upgrade) describes events this one
            # cannot read: something changed all the same, so the page is read afresh.
            log.warning("change relay: a notification this version cannot read; "
                        "refreshing from the database")
            self._on_gap()
            return
        origin, event = decoded
        if origin == self._origin:
            return
        self.received += 1
        self._on_remote(event)
