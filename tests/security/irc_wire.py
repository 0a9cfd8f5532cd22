"""The IRC transport fed raw bytes by a scripted server on loopback, for fuzzing.

`WireRig` starts the real `IrcTransport` against `ScriptedServer`, a minimal IRC server in the
same event loop that registers the bot (CAP with account-tag, 001, 005, JOIN, 366) and then
writes whatever bytes a test gives it. Everything between the socket and the bot's message
sink is the product: jaraco's line buffer and parser, our `Connection`, the transport's event
handlers, its reader and `parse()` of every message that arrives.

After each input the server sends `PING :<token>`; the library answers it in the same pass
over the buffer that handled the input, so the PONG proves every line before it was handled
(a line that hangs the bot shows as a missing PONG). What may not happen, checked by `feed`:

- a handler of ours raising (the connection skips such a line with a logged traceback; one
  whose traceback goes through our code other than the refusal of an unsendable line is a bug);
- the reader logging an error for a message, or `parse()` raising on its text;
- a message whose text cannot be stored (not encodable as UTF-8) or whose sender is empty;
- the bot writing a line longer than 512 bytes, or one with NUL or a stray CR.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from irc.client import InvalidCharacters, MessageTooLong

from bot.config import load_config_text
from bot.core.ports import Message
from bot.transports.irc.transport import IrcTransport
from commands.grammar import parse
from storage.db import open_store, upgrade

BOT = "statusdesk"
CHANNEL = "#ops"
_OURS = str(Path(__file__).resolve().parents[2] / "bot")
# Lines the bot refuses to write (the connection's guard): refusing is the intended outcome.
_REFUSALS = (MessageTooLong, InvalidCharacters)


class WireFault(AssertionError):
    """The bot mishandled an input (see the module docstring for what counts)."""


@dataclass
class ScriptedServer:
    """Just enough of an IRC server to register one client and then feed it raw bytes."""

    writer: asyncio.StreamWriter | None = None
    received: list[bytes] = field(default_factory=list)
    registered: asyncio.Event = field(default_factory=asyncio.Event)
    pongs: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.registered.clear()
        try:
            while raw := await reader.readline():
                self._check(raw)
                self._answer(raw.rstrip(b"\r\n").decode("utf-8", "replace"), writer)
        except ConnectionError:
            pass

    def _check(self, raw: bytes) -> None:
        self.received.append(raw)
        if len(raw) > 512:
            self.problems.append(f"the bot wrote a line of {len(raw)} bytes: {raw[:80]!r}...")
        body = raw.rstrip(b"\r\n")
        if b"\0" in body or b"\r" in body:
            self.problems.append(f"the bot wrote NUL or CR inside a line: {raw[:200]!r}")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            self.problems.append(f"the bot wrote a line that is not UTF-8: {raw[:200]!r}")

    def _answer(self, line: str, writer: asyncio.StreamWriter) -> None:
        command, _, rest = line.partition(" ")
        out: list[str] = []
        if line.startswith("CAP LS"):
            out.append(":srv CAP * LS :account-tag message-tags")
        elif line.startswith("CAP REQ"):
            out.append(f":srv CAP * ACK {rest.removeprefix('REQ ')}")
        elif command == "USER":
            out += [f":srv 001 {BOT} :Welcome", f":srv 005 {BOT} CASEMAPPING=rfc1459 "
                    "CHANTYPES=# TARGMAX=NOTICE:4 :are supported"]
        elif command == "JOIN":
            for channel in rest.split(" ")[0].split(","):
                out += [f":{BOT}!bot@bot.example JOIN {channel}",
                        f":srv 366 {BOT} {channel} :End of NAMES"]
            self.registered.set()
        elif command == "PONG":
            token = rest.rsplit(":", 1)[-1].rsplit(" ", 1)[-1]
            waiter = self.pongs.pop(token, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        if out:
            writer.write("".join(f"{o}\r\n" for o in out).encode())


class _Skipped(logging.Handler):
    """Collects what the transport logs as errors, and lines skipped because of our code."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.faults: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is None or record.exc_info[1] is None:
            if record.levelno >= logging.ERROR:
                self.faults.append(record.getMessage())
            return
        error = record.exc_info[1]
        frames = traceback.extract_tb(error.__traceback__)
        # The first frame is Connection.process_data (ours, the catcher) or the reader loop.
        # Connection._process_line is the library's dispatch run on our split of the line
        # (bot/transports/irc/message_parts.py): what fails below it in the library's
        # handlers is the library's, as it was when the library called them itself.
        ours = [f for f in frames[1:] if f.filename.startswith(_OURS)
                and not (f.name == "_process_line" and f.filename.endswith("connection.py"))]
        if ours and not isinstance(error, _REFUSALS):
            text = "".join(traceback.format_exception(error))
            self.faults.append(f"{record.getMessage()}\n{text}")


class WireRig:
    def __init__(self, transport: IrcTransport, server: ScriptedServer) -> None:
        self.transport = transport
        self.server = server
        self.messages: list[Message] = []
        self._tokens = itertools.count()
        self._log = _Skipped()

    async def sink(self, message: Message) -> None:
        self.messages.append(message)
        if not message.sender:
            raise WireFault(f"a message without a sender: {message!r}")
        message.text.encode("utf-8")  # raises for text the database could not store
        parse(message.text, BOT, addressed=message.addressed)

    async def feed(self, data: bytes, within: float = 10.0) -> list[Message]:
        """Send `data` as the server would, then wait until the bot has handled all of it."""
        await asyncio.wait_for(self.server.registered.wait(), 30)
        writer = self.server.writer
        assert writer is not None
        token = f"fz{next(self._tokens)}"
        waiter = asyncio.get_running_loop().create_future()
        self.server.pongs[token] = waiter
        start = len(self.messages)
        # The CR LF first ends a last line the input left open, so the PING is a line of its own.
        writer.write(data + f"\r\nPING :{token}\r\n".encode())
        try:
            await asyncio.wait_for(waiter, within)
        except TimeoutError:
            raise WireFault(f"no PONG within {within}s after {data[:300]!r}") from None
        for _ in range(4):  # the reader task: queue -> message -> sink, no I/O in between
            await asyncio.sleep(0)
        faults = self._log.faults + self.server.problems
        if faults:
            self._log.faults, self.server.problems = [], []
            raise WireFault(f"input {data[:300]!r}:\n" + "\n".join(faults))
        return self.messages[start:]


@asynccontextmanager
async def wire_rig(tmp: Path) -> AsyncIterator[WireRig]:
    """The transport registered on a scripted server, ready to be fed (SQLite store in `tmp`)."""
    server = ScriptedServer()
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    config = load_config_text(
        f"database: {{url: 'sqlite+aiosqlite:///{tmp}/wire.db'}}\n"
        f"irc: [{{name: fuzz, host: 127.0.0.1, port: {port}, tls: false, nick: {BOT},"
        f" channels: ['{CHANNEL}'], rate: {{burst: 1000000, per_second: 1000000.0}}}}]\n"
    )
    store = open_store(config.database.url)
    await upgrade(store.engine)
    transport = IrcTransport(config.irc[0], address_as=BOT)
    rig = WireRig(transport, server)
    logger = logging.getLogger("statusdesk.irc")
    logger.addHandler(rig._log)
    try:
        await transport.start(rig.sink)
        await asyncio.wait_for(server.registered.wait(), 30)
        yield rig
    finally:
        logger.removeHandler(rig._log)
        await transport.stop()
        listener.close()
        await store.close()
