"""Two `statusdesk run` processes on IRC sharing one PostgreSQL, for the leader-lease tests
and bench/failover.py: each instance has its own nick (so a watcher in the channels can tell
who said what) and reaches PostgreSQL through its own TcpRelay (so one of them can be cut off).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.console_bot import http_get
from tests.irc_client import Line, RawClient
from tests.servers.ngircd import NgircdServer
from tests.servers.ports import free_port

SAID = ("PRIVMSG", "NOTICE", "TOPIC")
"""What counts as speaking in a channel (a QUIT as it steps down does not)."""


class ByteRelay:
    """A loopback TCP relay for a binary protocol (tests/servers/tcp_proxy.py's TcpRelay
    forwards what clients send line by line, and PostgreSQL's startup packet has no newline).
    `freeze()` is a network cut: from then on nothing passes either way, nothing is closed."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def freeze(self) -> None:
        self.frozen = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        # Cancelled at close: swallowed, as asyncio's server callback would report it.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                                 return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.frozen:
                    writer.write(data)
                    await writer.drain()
        finally:
            if not self.frozen:
                writer.close()

    async def stop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


class RelayThread:
    """A ByteRelay on an event loop of its own, so that a test's blocking calls never stall
    the traffic it relays."""

    def __init__(self, host: str, port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.relay = ByteRelay(host, port)
        asyncio.run_coroutine_threadsafe(self.relay.start(), self._loop).result(10)

    @property
    def port(self) -> int:
        return self.relay.port

    def freeze(self) -> None:
        """The network between the instance and PostgreSQL goes silent (nothing is closed)."""
        self._loop.call_soon_threadsafe(self.relay.freeze)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _stop(self) -> None:
        await self.relay.stop()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def irc_config(directory: Path, name: str, db_url: str, ngircd: NgircdServer, nick: str,
               channels: list[str], lease: str | None = "5s",
               remind_after: str | None = "1d") -> tuple[Path, int]:
    """A bot's configuration file on `ngircd` (Alice may use it), and its page's port.
    `lease` and `remind_after` None: the defaults."""
    port = free_port()
    path = directory / f"{name}.yaml"
    listed = ", ".join(f"'{c}'" for c in channels)
    path.write_text(
        f"database: {{url: '{db_url}'" + (f", lease: {lease}" if lease else "") + "}\n"
        f"status_page: {{listen: '127.0.0.1:{port}', title: Test}}\n"
        + (f"incidents: {{remind_after: {remind_after}}}\n" if remind_after else "")
        + "irc:\n"
        f"  - {{name: testnet, host: 127.0.0.1, port: {ngircd.port}, tls: false, nick: {nick},\n"
        f"     channels: [{listed}], rate: {{burst: 10, per_second: 5.0}}}}\n"
        "users:\n"
        "  - {name: alice, roles: [status, incident], irc: {nick: alice}}\n"
    )
    return path, port


def health(port: int) -> dict[str, object]:
    _, _, body = http_get(port, "/healthz")
    detail: dict[str, object] = json.loads(body)
    return detail


def irc_joined(port: int, channels: list[str]) -> bool:
    try:
        irc = health(port)["transports"].get("irc/testnet")  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return False
    return bool(irc and irc["connected"]
                and all(irc["channels"].get(c) == "joined" for c in channels))


def role(port: int) -> str | None:
    try:
        return str(health(port)["role"])
    except (OSError, ValueError, KeyError):
        return None


async def until(condition: Callable[[], bool], within: float, what: str,
                every: float = 0.05) -> float:
    """Seconds until `condition()` holds (it runs in a thread: it may block)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await asyncio.to_thread(condition):
            return time.monotonic() - started
        await asyncio.sleep(every)
    raise AssertionError(f"{what}: not within {within}s")


def said_by(watcher: RawClient, nick: str, since: int) -> list[Line]:
    """What `nick` said in the channels (or to anyone) since the watcher's mark `since`."""
    return watcher.matching(lambda m: m.command in SAID and m.nick == nick, since=since)
