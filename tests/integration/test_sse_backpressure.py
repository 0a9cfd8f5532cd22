"""A client that stops reading /api/events is dropped; the others keep up."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from bot.core.events import StatusPosted
from bot.web.sse import EventStream
from tests.servers.ports import free_port


async def test_a_stalled_client_is_dropped_and_never_slows_the_others() -> None:
    stream = EventStream()
    app = web.Application()
    app.router.add_get("/api/events", stream.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    received = 0
    # The stalled client: a small receive buffer, a request, and then it never reads.
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        async with aiohttp.ClientSession() as http:
            reader = await http.get(f"http://127.0.0.1:{port}/api/events")

            progress = asyncio.Condition()

            async def read_all() -> None:
                nonlocal received
                async for line in reader.content:
                    if line.startswith(b"id: "):
                        received += 1
                        async with progress:
                            progress.notify_all()

            reading = asyncio.create_task(read_all())
            for _ in range(200):
                if stream.client_count == 2:
                    break
                await asyncio.sleep(0.01)
            assert stream.client_count == 2
            total = 0
            event = StatusPosted(at=datetime.now(UTC), incident_id=None, post="log", text="x")
            async with asyncio.timeout(60):
                while stream.dropped_total == 0:
                    stream.publish([event] * 50)
                    total += 50
                    # A healthy client keeps up (on a loaded machine too): pace the burst to
                    # it. The stalled client still falls behind without limit.
                    async with progress:
                        await progress.wait_for(lambda sent=total: sent - received <= 100)
                async with progress:
                    await progress.wait_for(lambda: received == total)
            print(f"stalled client dropped after {total} events")
            assert stream.dropped_total == 1
            assert stream.client_count == 1
            assert received == total  # the reading client got every single event
            reading.cancel()
            reader.close()
    finally:
        stalled.close()
        await runner.cleanup()
