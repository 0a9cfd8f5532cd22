"""The outgoing line queue: every line we send, in order, paced by the token bucket.

Callers hand in the lines of one message (as calls into the library's command builders) and
wait until the server has confirmed them. A line written to the socket is not yet a line
delivered: a server that dies (or a connection that breaks) loses whatever it had not
processed yet, and ngIRCd, say, holds a fast client's lines back to pace them. So after a
batch the queue sends `PING :<token>`; the server handles a client's lines in order, so its
PONG confirms every line before it. When the connection is lost, every message not confirmed
is failed with `DeliveryUnavailable`, and the outbox sends it again after the reconnect: an
announcement arrives at least once. (The price: a line the server did relay just before the
connection broke, and never confirmed, is sent twice; after a server restart nobody saw the
first copy.) A message cut off half-way by the loss counts as sent, since repeating it would
repeat its first part.

Announcements (outbox notices) are *staged*: the caller's `before_write` is awaited right
before the first line is written (the outbox records there that the notice may have gone
out), and a staged message is written only once every staged message before it has been
confirmed, with its PING sent at once after it. So at any instant at most one announcement
per network is written and unconfirmed: a crash can leave only that one in doubt, while
every one still waiting here is sent again after the restart.

A message whose line the server echoes to us (a TOPIC) may skip the PING (`confirm=False`):
it counts as handled once written, and its caller waits for the echo instead.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.ports import BeforeWrite, DeliveryRejected, DeliveryUnavailable
from bot.transports.irc.flood import TokenBucket

log = logging.getLogger("statusdesk.irc")

Write = Callable[[], None]
"""Writes one line (e.g. `functools.partial(connection.notice, "#ops", "text")`)."""

Ping = Callable[[str], None]
"""Writes `PING :<token>`."""

CONFIRM_PREFIX = "statusdesk-sent-"
CONFIRM_EVERY = 8
"""Messages written before a PING is sent even though more are queued: confirmations (and
the callers waiting for them) do not wait for the end of a long burst."""
BEFORE_WRITE_TIMEOUT = 10.0
"""How long the writer waits for a staged message's `before_write` (a database commit)
before giving that message up for now (it is retried): other output must not wait longer."""


@dataclass
class _Message:
    lines: list[Write]
    done: asyncio.Future[None] | None
    sent: int = 0
    before_write: BeforeWrite | None = None
    """Set for a staged message (see the module's docstring)."""
    confirm: bool = True


def settle(future: asyncio.Future[None] | None, outcome: BaseException | None) -> None:
    """Resolve `future` with `outcome` (None: success) unless it is already done."""
    if future is None or future.done():
        return
    if outcome is None:
        future.set_result(None)
    else:
        future.set_exception(outcome)


class OutputQueue:
    def __init__(self, bucket: TokenBucket, online: Callable[[], bool], name: str,
                 ping: Ping | None = None, may_write: Callable[[], bool] = lambda: True
                 ) -> None:
        self._bucket = bucket
        self._online = online
        self._may_write = may_write
        """Checked before every line: a leader that lost its lease while lines waited here
        (stopped, cut off) must not send them when it resumes."""
        self._name = name
        self._ping = ping
        """None: a message counts as delivered once written (no confirmations)."""
        self._queue: deque[_Message] = deque()
        self._wakeup = asyncio.Event()
        self._current: _Message | None = None
        self._unconfirmed: list[asyncio.Future[None]] = []
        """Written, no PING asked about them yet."""
        self._awaiting: dict[int, list[asyncio.Future[None]]] = {}
        """PING number → the messages its PONG confirms (in the order the PINGs went)."""
        self._numbers = itertools.count(1)

    def queued_lines(self) -> int:
        pending = sum(len(m.lines) - m.sent for m in self._queue)
        if self._current is not None:
            pending += len(self._current.lines) - self._current.sent
        return pending

    async def send(self, lines: list[Write], *, confirm: bool = True) -> None:
        """Queue the lines of one message and wait until they are written (and, with
        `confirm`, confirmed)."""
        if not lines:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.put(lines, done, confirm=confirm)
        await done

    async def confirm(self) -> None:
        """Wait until the server has confirmed every line written so far (one PING)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Message([], done))
        self._wakeup.set()
        await done

    def put(self, lines: list[Write], done: asyncio.Future[None] | None = None,
            *, before_write: BeforeWrite | None = None, confirm: bool = True) -> None:
        """Queue lines; `done` (if any) is resolved when they are written (confirmed, with
        confirmations) or cannot be. With `before_write` the message is staged: `done` is
        then required, and resolved only once the server confirmed it."""
        if not lines:
            settle(done, None)
            return
        if before_write is not None and (done is None or self._ping is None):
            raise ValueError("a staged message needs a future and confirmations")
        self._queue.append(_Message(lines, done, before_write=before_write,
                                    confirm=confirm or before_write is not None))
        self._wakeup.set()

    def fail_all(self, error: BaseException) -> None:
        """The connection is gone: nothing queued will be written, and what was written but
        not confirmed may never have been relayed."""
        while self._queue:
            settle(self._queue.popleft().done, error)
        unconfirmed = self._unconfirmed + [f for fs in self._awaiting.values() for f in fs]
        self._unconfirmed, self._awaiting = [], {}
        if unconfirmed:
            log.info("%s: %d message(s) written but not confirmed by the server; they "
                     "will be sent again", self._name, len(unconfirmed))
        for future in unconfirmed:
            settle(future, error)
        self._wakeup.set()

    def confirmed(self, token: str) -> bool:
        """A PONG arrived: settle what its PING (and every earlier one) confirms. False for a
        PONG to someone else's PING (the keepalive's)."""
        if not token.startswith(CONFIRM_PREFIX):
            return False
        try:
            number = int(token[len(CONFIRM_PREFIX):])
        except ValueError:
            return False
        for earlier in [n for n in self._awaiting if n <= number]:
            for future in self._awaiting.pop(earlier):
                settle(future, None)
        return True

    def unconfirmed(self) -> int:
        return len(self._unconfirmed) + sum(len(f) for f in self._awaiting.values())

    async def run(self) -> None:
        while True:
            staged_next = bool(self._queue) and self._queue[0].before_write is not None
            if self._unconfirmed and (not self._queue or staged_next
                                      or len(self._unconfirmed) >= CONFIRM_EVERY):
                await self._ask_confirmation()
                continue
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            message = self._current = self._queue.popleft()
            try:
                if message.before_write is None:
                    await self._write(message)
                else:
                    await self._write_staged(message)
            finally:
                self._current = None

    async def _write_staged(self, message: _Message) -> None:
        """Once nothing else is unconfirmed: tell the caller, write, ask at once for the
        confirmation and wait for it (or for the connection's end) before anything else."""
        assert message.before_write is not None and message.done is not None
        pending = [f for fs in self._awaiting.values() for f in fs if not f.done()]
        if pending:
            await asyncio.wait(pending)
        # Flood control first: the notice leaves only when a line may go now.
        if not await self._told(message):
            return
        await self._write(message)
        while message.done in self._unconfirmed:
            await self._ask_confirmation()
        await asyncio.wait([message.done])

    async def _told(self, message: _Message) -> bool:
        """Flood control, then the staged message's `before_write`; False (and `done`
        failed) when it must not be written now."""
        assert message.before_write is not None and message.done is not None
        while True:
            wait = self._bucket.wait_time()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        if not self._online():
            settle(message.done, DeliveryUnavailable(f"{self._name} is not connected"))
            return False
        try:
            await asyncio.wait_for(message.before_write(), BEFORE_WRITE_TIMEOUT)
        except Exception as error:
            reason = str(error) or type(error).__name__
            settle(message.done, DeliveryUnavailable(f"not sent: {reason}"))
            return False
        return True

    async def _ask_confirmation(self) -> None:
        """PING after what was written: a line like any other for the flood limits."""
        assert self._ping is not None
        wait = self._bucket.wait_time()
        if wait > 0:
            await asyncio.sleep(wait)
            return
        if not self._online():
            # The connection is going: its end fails them (fail_all). Until then, wait.
            self._wakeup.clear()
            await self._wakeup.wait()
            return
        self._bucket.try_take()
        number = next(self._numbers)
        batch, self._unconfirmed = self._unconfirmed, []
        try:
            self._ping(f"{CONFIRM_PREFIX}{number}")
        except Exception as error:
            log.warning("%s: could not ask the server to confirm: %s", self._name, error)
            for future in batch:
                settle(future, DeliveryUnavailable(f"could not confirm: {error}"))
            return
        self._awaiting[number] = batch

    async def _write(self, message: _Message) -> None:
        while message.sent < len(message.lines):
            wait = self._bucket.wait_time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if not self._online():
                break
            if not self._may_write():
                log.warning("%s: not sending a queued message: this instance no longer "
                            "holds the leader lease", self._name)
                settle(message.done, DeliveryUnavailable("no longer the leader"))
                return
            self._bucket.try_take()
            try:
                message.lines[message.sent]()
            except Exception as error:
                log.error("%s: could not write a line: %s", self._name, error)
                settle(message.done, DeliveryRejected(f"could not write: {error}"))
                return
            message.sent += 1
        if message.sent == len(message.lines):
            if self._ping is not None and message.confirm and message.done is not None \
                    and not message.done.done():
                self._unconfirmed.append(message.done)
            else:
                settle(message.done, None)
        elif message.sent == 0:
            settle(message.done, DeliveryUnavailable(f"{self._name} is not connected"))
        else:
            log.warning("%s: connection lost after %d of %d lines of a message", self._name,
                        message.sent, len(message.lines))
            settle(message.done, None)
