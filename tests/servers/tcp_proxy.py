"""A loopback TCP proxy that can go silent: connections stay open but nothing passes, the
way a dead route or a hung server looks to a client."""

from __future__ import annotations

import asyncio
import contextlib

from tests.servers.ports import free_port


class FreezingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer),
                             return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.frozen:
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()

    def freeze(self) -> None:
        """From now on, swallow everything in both directions (connections stay open)."""
        self.frozen = True

    def thaw(self) -> None:
        """Drop the frozen connections; new ones pass traffic again."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        self.frozen = False

    async def stop(self) -> None:
        self.thaw()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
