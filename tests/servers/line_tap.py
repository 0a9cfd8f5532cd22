"""A loopback TCP proxy that notes when each line a client sends passes through it.

Between the bot and a real IRC server it measures the bot's own output rate exactly, as the
server receives it, without touching the bot: what a server's flood protection judges.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from tests.servers.ports import free_port


@dataclass
class LineTap:
    target_host: str
    target_port: int
    port: int = field(default_factory=free_port)
    sent: list[tuple[float, str]] = field(default_factory=list)
    """(time.monotonic(), line) of every line clients sent upstream, in order."""
    connections: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(self.target_host,
                                                             self.target_port)
        await asyncio.gather(self._upstream(reader, up_writer),
                             self._pump(up_reader, writer), return_exceptions=True)

    async def _upstream(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                self.sent.append((time.monotonic(), line.decode("utf-8", "replace").rstrip()))
                writer.write(line)
                await writer.drain()
        finally:
            writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
