"""A dead service on loopback: it accepts connections and never answers a byte (what a
provider behind a hung load balancer or a firewall dropping replies looks like)."""

from __future__ import annotations

import asyncio
import contextlib

from tests.servers.ports import free_port


class BlackHole:
    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    async def __aenter__(self) -> BlackHole:
        self.port = free_port()
        self._server = await asyncio.start_server(self._swallow, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
