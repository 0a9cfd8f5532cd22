"""The console transport: one "channel" on stdin/stdout, for trying the bot out and for tests.

Output looks like a channel would: `<statusdesk> alice: ...` for replies, `-statusdesk- ...`
for notices, `*** statusdesk changed the topic ...` for topics. The person at the terminal is
the local operator and holds every role.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from bot.core.ports import (
    Identity,
    Message,
    MessageSink,
    Transport,
    TransportSetup,
    TransportState,
)

log = logging.getLogger("statusdesk.console")

CHANNEL = "console"
NETWORK = "console"
MAX_LINE = 64 * 1024
HINT = ("*** Type a command: #status alert TEXT, #status ok, #incident open TEXT, #now; "
        "#help lists them all. Ctrl-D stops the bot.")
"""Shown once when the console starts: a newcomer at the terminal otherwise sees nothing."""


class InputLines:
    """The lines of the operator's input, read on a daemon thread from the moment they are
    first wanted to the input's end. One reader for the life of the process: a console
    stopped and started again (a leader stepping down, then leading again) must not leave a
    second thread competing for stdin lines."""

    def __init__(self, stdin: TextIO) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        """The lines as read, then None at the end."""
        self.ended = asyncio.Event()
        """Set when the input reached its end (Ctrl-D); lines read before may still wait in
        `queue`."""
        _feed_lines(stdin, self.queue, asyncio.get_running_loop(), self.ended)


class ConsoleTransport:
    name = "console"
    network = NETWORK

    def __init__(
        self,
        state: TransportState,
        *,
        bot_nick: str,
        operator: str | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        lines: InputLines | None = None,
    ) -> None:
        """`lines`: stdin's lines if someone reads them already (a standby watching for
        Ctrl-D, see `ConsolePlugin.watch_input`)."""
        self._state = state
        self._bot_nick = bot_nick
        self._operator = operator or _local_user()
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._reader: asyncio.Task[None] | None = None
        self._lines = lines
        self._hinted = False
        self.closed = asyncio.Event()
        """Set when stdin reaches its end (Ctrl-D): the app then shuts down."""
        self._topic: str | None = None

    def channels(self) -> Sequence[str]:
        return [CHANNEL]

    async def start(self, sink: MessageSink) -> None:
        self._topic = (await self._state.load()).get("topic")
        if not self._hinted:
            self._hinted = True
            self._write(HINT)
        self._reader = asyncio.create_task(self._read(sink), name="console-reader")

    async def stop(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def send(self, target: str, text: str) -> None:
        self._write(f"<{self._bot_nick}> {text}")

    async def notice(self, target: str, text: str) -> None:
        self._write(f"-{self._bot_nick}- {text}")

    async def set_topic(self, target: str, text: str) -> None:
        self._topic = text
        await self._state.save({"topic": text})
        self._write(f"*** {self._bot_nick} changed the topic of {target} to: {text}")

    async def get_topic(self, target: str) -> str | None:
        return self._topic

    async def direct(self, user: str, text: str) -> None:
        self._write(f"*{self._bot_nick}* {text}")

    def health(self) -> dict[str, Any]:
        reading = self._reader is not None and not self._reader.done()
        return {"connected": reading and not self.closed.is_set(),
                "channels": {CHANNEL: "joined"}}

    def _write(self, line: str) -> None:
        self._stdout.write(line + "\n")
        self._stdout.flush()

    async def _read(self, sink: MessageSink) -> None:
        if self._lines is None:
            self._lines = InputLines(self._stdin)
        lines = self._lines.queue
        try:
            while True:
                line = await lines.get()
                if line is None:
                    self.closed.set()
                    break
                text = line.rstrip("\r\n")[:MAX_LINE]
                if not text.strip():
                    continue
                message = Message(
                    transport=self.name,
                    network=NETWORK,
                    target=CHANNEL,
                    sender=self._operator,
                    identity=Identity(transport=self.name, nick=self._operator,
                                      network=NETWORK, local_operator=True),
                    text=text,
                    addressed=True,
                )
                try:
                    await sink(message)
                except Exception:
                    log.exception("could not handle console input")
                    self._write(f"<{self._bot_nick}> {self._operator}: sorry, that failed "
                                "(see the log)")
        except Exception:
            self.closed.set()  # nothing more will be read: let the app shut down
            raise


def _feed_lines(
    stdin: TextIO, queue: asyncio.Queue[str | None], loop: asyncio.AbstractEventLoop,
    ended: asyncio.Event,
) -> None:
    """Read stdin on a daemon thread, so a blocked read never holds up shutdown."""

    def pump() -> None:
        try:
            for line in stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError) as error:
            log.debug("stdin closed: %s", error)
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, None)
                loop.call_soon_threadsafe(ended.set)

    threading.Thread(target=pump, name="console-stdin", daemon=True).start()


def _local_user() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser() or "operator"
    except Exception:
        return "operator"


class ConsolePlugin:
    """`console: true`: the terminal the process runs in. The same console serves every
    term (it owns the process's stdin)."""

    CONFIG_SCHEMA: ClassVar[Any] = bool
    order: ClassVar[int] = 10

    def __init__(self) -> None:
        self._console: ConsoleTransport | None = None
        self._input: InputLines | None = None

    def build(self, config: bool | None, setup: TransportSetup) -> list[Transport]:
        if not config:
            return []
        if self._console is None:
            self._console = ConsoleTransport(setup.state("console"), bot_nick=setup.bot_nick,
                                             stdin=setup.stdin, stdout=setup.stdout,
                                             lines=self._input)
        return [self._console]

    def watch_input(self, stdin: TextIO | None) -> asyncio.Event:
        """Start reading stdin now, before this instance leads: the lines wait for the
        console (commands typed at a standby wait until it leads); the event returned is set
        at the input's end, which stops a standby too."""
        if self._input is None:
            self._input = InputLines(stdin or sys.stdin)
        return self._input.ended


if TYPE_CHECKING:
    from bot.core.ports import OperatorInput, TransportPlugin

    _plugin: TransportPlugin = ConsolePlugin()  # what the entry point names fits the protocol
    _input: OperatorInput = ConsolePlugin()
