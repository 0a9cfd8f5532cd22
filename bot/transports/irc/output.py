"""The outgoing line queue: every line we send, in order, paced by the token bucket.

Callers hand in the lines of one message (as calls into the library's command builders) and
wait until the last is written. When the connection is lost, whatever has not started is
failed with `DeliveryUnavailable` (nothing of it went out, so a retry cannot duplicate it);
a message cut off half-way counts as sent, since repeating it would repeat its first part.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.transports.base import DeliveryRejected, DeliveryUnavailable
from bot.transports.irc.flood import TokenBucket

log = logging.getLogger("statusdesk.irc")

Write = Callable[[], None]
"""Writes one line (e.g. `functools.partial(connection.notice, "#ops", "text")`)."""


@dataclass
class _Message:
    lines: list[Write]
    done: asyncio.Future[None] | None
    sent: int = 0


def settle(future: asyncio.Future[None] | None, outcome: BaseException | None) -> None:
    """Resolve `future` with `outcome` (None: success) unless it is already done."""
    if future is None or future.done():
        return
    if outcome is None:
        future.set_result(None)
    else:
        future.set_exception(outcome)


class OutputQueue:
    def __init__(self, bucket: TokenBucket, online: Callable[[], bool], name: str) -> None:
        self._bucket = bucket
        self._online = online
        self._name = name
        self._queue: deque[_Message] = deque()
        self._wakeup = asyncio.Event()
        self._current: _Message | None = None

    def queued_lines(self) -> int:
        pending = sum(len(m.lines) - m.sent for m in self._queue)
        if self._current is not None:
            pending += len(self._current.lines) - self._current.sent
        return pending

    async def send(self, lines: list[Write]) -> None:
        """Queue the lines of one message and wait until they are written."""
        if not lines:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.put(lines, done)
        await done

    def put(self, lines: list[Write], done: asyncio.Future[None] | None = None) -> None:
        """Queue lines; `done` (if any) is resolved when they are written or cannot be."""
        if not lines:
            settle(done, None)
            return
        self._queue.append(_Message(lines, done))
        self._wakeup.set()

    def fail_all(self, error: BaseException) -> None:
        """The connection is gone: nothing queued will be written."""
        while self._queue:
            settle(self._queue.popleft().done, error)

    async def run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            message = self._current = self._queue.popleft()
            try:
                await self._write(message)
            finally:
                self._current = None

    async def _write(self, message: _Message) -> None:
        while message.sent < len(message.lines):
            wait = self._bucket.wait_time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if not self._online():
                break
            self._bucket.try_take()
            try:
                message.lines[message.sent]()
            except Exception as error:
                log.error("%s: could not write a line: %s", self._name, error)
                settle(message.done, DeliveryRejected(f"could not write: {error}"))
                return
            message.sent += 1
        if message.sent == len(message.lines):
            settle(message.done, None)
        elif message.sent == 0:
            settle(message.done, DeliveryUnavailable(f"{self._name} is not connected"))
        else:
            log.warning("%s: connection lost after %d of %d lines of a message", self._name,
                        message.sent, len(message.lines))
            settle(message.done, None)
