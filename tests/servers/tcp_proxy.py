"""A loopback TCP relay in front of a real server, which a test can make misbehave the way
networks do: go silent (`freeze`), refuse connections (`accepting = False`), hold back what
the server says and let it through later in order (`hold`/`release`), hold back what a client
says from the first line that matches a test's predicate on (`hold_upstream_from`/
`release_upstream`: a lookup that takes as long as the test wants). It also notes when each
line a client sends passes through (`sent`): between the bot and an IRC server that is the
bot's output rate exactly as the server's flood protection judges it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from tests.servers.ports import free_port


class TcpRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepting = True
        """While False, connections are accepted and dropped at once (a refused connection,
        as a client sees it)."""
        self.frozen = False
        self.sent: list[tuple[float, str]] = []
        """(time.monotonic(), line) of every line clients sent upstream, in order."""
        self.connections = 0
        self._downstream_open = asyncio.Event()
        self._downstream_open.set()
        self._upstream_open = asyncio.Event()
        self._upstream_open.set()
        self._hold_from: Callable[[str], bool] | None = None
        self.held_upstream: list[str] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def freeze(self) -> None:
        """From now on, swallow everything in both directions (connections stay open)."""
        self.frozen = True

    def thaw(self) -> None:
        """Drop the frozen connections; new ones pass traffic again."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        self.frozen = False

    def hold(self) -> None:
        """Keep what the server says until `release` (the client's lines still go through)."""
        self._downstream_open.clear()

    def release(self) -> None:
        self._downstream_open.set()

    def hold_upstream_from(self, predicate: Callable[[str], bool]) -> None:
        """From the first client line matching `predicate` on, keep what clients send (in
        order) until `release_upstream`; lines before it pass as usual."""
        self._hold_from = predicate

    def release_upstream(self) -> None:
        self._hold_from = None
        self._upstream_open.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._upstream(reader, up_writer),
                             self._downstream(up_reader, writer), return_exceptions=True)

    async def _upstream(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        # Read on while lines are held back, so the test sees what the client sent after.
        lines: asyncio.Queue[tuple[bytes, bool] | None] = asyncio.Queue()

        async def forward() -> None:
            while (item := await lines.get()) is not None:
                line, held = item
                if held:
                    await self._upstream_open.wait()
                if not self.frozen:
                    writer.write(line)
                    await writer.drain()

        forwarding = asyncio.create_task(forward())
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").rstrip()
                self.sent.append((time.monotonic(), text))
                if self._hold_from is not None and self._hold_from(text):
                    self._upstream_open.clear()
                held = not self._upstream_open.is_set()
                if held:
                    self.held_upstream.append(text)
                lines.put_nowait((line, held))
            lines.put_nowait(None)
            await forwarding
        finally:
            forwarding.cancel()
            writer.close()
            self._writers.discard(writer)

    async def _downstream(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._downstream_open.wait()
                if not self.frozen:
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)

    async def stop(self) -> None:
        self.release()
        self.release_upstream()
        self.thaw()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
