"""A byte relay in front of PostgreSQL that loses one COMMIT's answer on purpose.

Armed with a marker (bytes a command's statement parameters carry, e.g. its unique text), it
waits on each connection for the marker to go by, then for the next `COMMIT` the client sends
on that connection: it passes the COMMIT to the server, lets the server act on it, drops the
server's answer and closes the connection. The client saw its transaction's statements
succeed and its COMMIT go out, and then lost the connection: it cannot know whether the
transaction committed. (It did.) Every other byte passes untouched, before and after.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.servers.ports import free_port

COMMIT = b"COMMIT"
SETTLE = 0.3
"""How long the server gets to act on the COMMIT before the connection goes."""


class CommitCutter:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.cuts = 0
        self._marker: bytes | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def arm(self, marker: bytes) -> None:
        """Cut the COMMIT that follows `marker` on the same connection (once)."""
        self._marker = marker

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        answer_lost = asyncio.Event()
        down = asyncio.create_task(self._downstream(up_reader, writer, answer_lost))
        self._tasks.add(down)
        down.add_done_callback(self._tasks.discard)
        marker_seen = False
        try:
            while data := await reader.read(65536):
                marker = self._marker
                if marker is not None and marker in data:
                    marker_seen = True
                if marker_seen and marker is not None and COMMIT in data:
                    self._marker = None
                    answer_lost.set()
                    up_writer.write(data)
                    await up_writer.drain()
                    await asyncio.sleep(SETTLE)
                    self.cuts += 1
                    break
                up_writer.write(data)
                await up_writer.drain()
        finally:
            down.cancel()
            with contextlib.suppress(BaseException):
                await down
            writer.transport.abort()
            up_writer.transport.abort()

    @staticmethod
    async def _downstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          answer_lost: asyncio.Event) -> None:
        try:
            while data := await reader.read(65536):
                if answer_lost.is_set():
                    continue  # the COMMIT's answer, and anything after it, never arrives
                writer.write(data)
                await writer.drain()
        finally:
            # The server hung up (after a Terminate, say): so does the relay, or the
            # client waits for an end that never comes.
            writer.transport.abort()
