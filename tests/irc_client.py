"""A small raw-socket IRC client for the tests: it watches what the bot does on a real server.

Deliberately independent of the bot's transport and of the `irc` library, so a bug there
cannot hide itself in the tests. It keeps every line it received; tests wait for lines
matching a predicate.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    raw: str
    tags: dict[str, str]
    source: str
    command: str
    params: list[str]

    @property
    def nick(self) -> str:
        return self.source.split("!", 1)[0]

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""


def parse(raw: str) -> Line:
    tags: dict[str, str] = {}
    rest = raw
    if rest.startswith("@"):
        tag_text, _, rest = rest[1:].partition(" ")
        for item in tag_text.split(";"):
            key, _, value = item.partition("=")
            tags[key] = value
    source = ""
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
    head, sep, trailing = rest.partition(" :")
    words = head.split()
    params = words[1:] + ([trailing] if sep else [])
    return Line(raw, tags, source, words[0].upper() if words else "", params)


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 nick: str) -> None:
        self.nick = nick
        self.lines: list[Line] = []
        self.received_at: list[float] = []
        """`time.monotonic()` when each of `lines` arrived."""
        self._reader = reader
        self._writer = writer
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, host: str, port: int, nick: str, *, caps: tuple[str, ...] = (),
                      sasl: tuple[str, str] | None = None) -> RawClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer, nick)
        wanted = list(caps) + (["sasl"] if sasl else [])
        if wanted:
            await client.send("CAP LS 302")
        await client.send(f"NICK {nick}")
        # A nick may hold `[]{}|^` that a server refuses in a user name.
        user = "".join(c for c in nick if c.isalnum()) or "user"
        await client.send(f"USER {user} 0 * :statusdesk test client")
        if wanted:
            await client.send("CAP REQ :" + " ".join(wanted))
            await client.wait_for(lambda m: m.command == "CAP" and m.params[1] in ("ACK", "NAK"))
            if sasl:
                await client.send("AUTHENTICATE PLAIN")
                await client.wait_for(lambda m: m.command == "AUTHENTICATE")
                token = base64.b64encode(f"{sasl[0]}\0{sasl[0]}\0{sasl[1]}".encode()).decode()
                await client.send(f"AUTHENTICATE {token}")
                await client.wait_for(lambda m: m.command in ("903", "904"))
            await client.send("CAP END")
        await client.wait_for(lambda m: m.command == "001", within=20)
        return client

    async def _read(self) -> None:
        try:
            while True:
                data = await self._reader.readline()
                if not data:
                    break
                line = parse(data.decode("utf-8", "replace").rstrip("\r\n"))
                if line.command == "PING":
                    self._writer.write(f"PONG :{line.text}\r\n".encode())
                async with self._changed:
                    self.lines.append(line)
                    self.received_at.append(time.monotonic())
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def send(self, line: str) -> None:
        self._writer.write(line.encode() + b"\r\n")
        await self._writer.drain()

    async def send_bytes(self, line: bytes) -> None:
        """A line as raw bytes, invalid UTF-8 included (what a hostile client can send)."""
        self._writer.write(line + b"\r\n")
        await self._writer.drain()

    def mark(self) -> int:
        """A position in the lines received; `wait_for(since=...)` looks only after it."""
        return len(self.lines)

    async def wait_for(self, predicate: Callable[[Line], bool], *, since: int = 0,
                       within: float = 15.0) -> Line:
        async def search() -> Line:
            index = since
            async with self._changed:
                while True:
                    while index < len(self.lines):
                        line = self.lines[index]
                        index += 1
                        if predicate(line):
                            return line
                    if self._task.done():
                        raise ConnectionError(f"{self.nick}: the server closed the connection")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(search(), within)
        except TimeoutError:
            tail = "\n".join(m.raw for m in self.lines[since:][-20:])
            raise AssertionError(f"{self.nick}: no matching line in {within}s; last lines:\n"
                                 f"{tail}") from None

    def matching(self, predicate: Callable[[Line], bool], *, since: int = 0) -> list[Line]:
        return [line for line in self.lines[since:] if predicate(line)]

    async def join(self, *channels: str) -> None:
        for channel in channels:
            since = self.mark()
            await self.send(f"JOIN {channel}")
            await self.wait_for(lambda m, c=channel: m.command == "366"  # type: ignore[misc]
                                and m.params[1].lower() == c.lower(), since=since)

    async def say(self, target: str, text: str) -> None:
        await self.send(f"PRIVMSG {target} :{text}")

    async def topic(self, channel: str) -> str | None:
        """The channel's topic as the server reports it now."""
        since = self.mark()
        await self.send(f"TOPIC {channel}")
        line = await self.wait_for(lambda m: m.command in ("331", "332")
                                   and m.params[1].lower() == channel.lower(), since=since)
        return line.text if line.command == "332" else None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("QUIT :bye")
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
