"""Answers to chat commands, written in the background: per network, in order, bounded.

A network's reader must never wait for an answer to be written. Output is paced (IRC's token
bucket lets out a line a second or so), and a channel full of people asking "what's
happening?" would otherwise hold the next command — an operator's `#status alert` — behind
minutes of replies. Commands are applied as they arrive; their answers wait here.

At most `limit` answers wait per network. Beyond that the oldest are dropped: an answer that
has waited that long is stale, and the per-person rate limit already keeps any one sender
from taking a large share. The first drop of an overflow is logged, and a summary when it is
over, so a flood cannot fill the log either. Broadcasts and topic changes never come through
here (they go through the outbox), so they overtake any answers still waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger("statusdesk.answers")

Send = Callable[[], Awaitable[None]]
"""Writes one command's answers (and deals with delivery errors itself)."""

DEFAULT_LIMIT = 50


class AnswerQueue:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        self._waiting: dict[str, deque[Send]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._dropped: dict[str, int] = {}
        self.dropped_total = 0

    def waiting(self, lane: str) -> int:
        return len(self._waiting.get(lane, ()))

    def put(self, lane: str, send: Send) -> None:
        """Queue one command's answers on `lane` (a network, e.g. `irc/oftc`)."""
        waiting = self._waiting.setdefault(lane, deque())
        if len(waiting) >= self._limit:
            waiting.popleft()
            self.dropped_total += 1
            dropped = self._dropped[lane] = self._dropped.get(lane, 0) + 1
            if dropped == 1:
                log.warning("%s: %d answers are waiting to be written; dropping the oldest "
                            "until they are under that (is someone flooding the bot?)", lane,
                            self._limit)
        waiting.append(send)
        if lane not in self._workers:
            self._workers[lane] = asyncio.create_task(self._write(lane),
                                                      name=f"answers-{lane}")

    async def _write(self, lane: str) -> None:
        waiting = self._waiting[lane]
        try:
            while waiting:
                send = waiting.popleft()
                try:
                    await send()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s: writing an answer failed", lane)
        finally:
            del self._workers[lane]
            dropped = self._dropped.pop(lane, 0)
            if dropped:
                log.warning("%s: caught up; %d answers were dropped", lane, dropped)

    async def drain(self, within: float) -> None:
        """Let what is waiting go out for up to `within` seconds, then drop the rest."""
        workers = list(self._workers.values())
        if workers:
            await asyncio.wait(workers, timeout=within)
        await self.clear()

    async def clear(self) -> None:
        """Drop every waiting answer and stop writing (leadership lost, shutting down)."""
        for waiting in self._waiting.values():
            waiting.clear()
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
