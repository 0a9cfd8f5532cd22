"""The status page's limits with the app running in-process, each made small enough to
reach: live-update clients per address and overall, the request-head and body deadlines."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.harness import Running, run_app

SSE = b"GET /api/events HTTP/1.1\r\nHost: statusdesk\r\n\r\n"


class Raw:
    """One client connection from a chosen loopback address."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, running: Running, source: str = "127.0.0.1") -> Raw:
        port = int(running.base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       local_addr=(source, 0))
        return cls(reader, writer)

    async def head(self) -> tuple[int, dict[str, str]]:
        status = int((await asyncio.wait_for(self.reader.readline(), 5)).split()[1])
        headers = {}
        while (line := await asyncio.wait_for(self.reader.readline(), 5)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    async def closed_within(self, seconds: float) -> bool:
        """True when the server closes the connection within `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                while await self.reader.read(4096):
                    pass
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.writer.close()


async def _stream(running: Running, source: str) -> tuple[int, dict[str, str], Raw]:
    client = await Raw.open(running, source)
    client.writer.write(SSE)
    status, headers = await client.head()
    return status, headers, client


async def _health(running: Running) -> dict[str, int]:
    _, _, body = await running.get("/healthz")
    return json.loads(body)["http"]  # type: ignore[no-any-return]


async def test_live_clients_are_capped_per_address_and_overall(
        sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path, page_extra="limits: {live_clients: 4, "
                       "live_clients_per_address: 2}") as running:
        live = []
        for _ in range(2):
            status, _, client = await _stream(running, "127.0.0.1")
            assert status == 200
            live.append(client)
        # The third from the same address: turned away at once, with its connection back.
        status, headers, refused = await _stream(running, "127.0.0.1")
        assert status == 503
        assert headers["retry-after"] == "30"
        body = await asyncio.wait_for(refused.reader.read(), 5)
        assert body == b"too many live-update clients from your address; the page still " \
                       b"works, reload it later\n"
        assert await refused.closed_within(1)
        # Other addresses still get in, up to the overall cap.
        for _ in range(2):
            status, _, client = await _stream(running, "127.0.0.2")
            assert status == 200
            live.append(client)
        status, _, full = await _stream(running, "127.0.0.3")
        assert status == 503
        assert (await asyncio.wait_for(full.reader.read(), 5)).startswith(
            b"too many live-update clients;")
        # The page itself is still served to everyone.
        assert (await running.get("/"))[0] == 200
        health = await _health(running)
        assert health["live_clients"] == 4 and health["live_refused"] == 2
        # A client that leaves gives its place back.
        live.pop(0).close()
        for _ in range(100):
            if (await _health(running))["live_clients"] == 3:
                break
            await asyncio.sleep(0.02)
        status, _, again = await _stream(running, "127.0.0.1")
        assert status == 200
        live.append(again)
        _, _, metrics = await running.get("/metrics")
        assert b'statusdesk_sse_refused_total{reason="address"} 1.0' in metrics
        assert b'statusdesk_sse_refused_total{reason="full"} 1.0' in metrics
        for client in (*live, refused, full):
            client.close()


async def test_a_request_head_must_arrive_within_header_timeout(
        sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path,
                       page_extra="limits: {header_timeout: 1s}") as running:
        slow = await Raw.open(running)
        slow.writer.write(b"GET / HTTP/1.1\r\nHost: statusdesk\r\nX-Slow: ")
        idle = await Raw.open(running)  # keep-alive: one request, then nothing
        idle.writer.write(b"GET /alert.json HTTP/1.1\r\nHost: statusdesk\r\n\r\n")
        assert (await idle.head())[0] == 200
        prompt = await Raw.open(running)
        await asyncio.sleep(0.5)
        prompt.writer.write(b"GET /alert.json HTTP/1.1\r\nHost: statusdesk\r\n"
                            b"Connection: close\r\n\r\n")
        assert (await prompt.head())[0] == 200
        started = time.monotonic()
        assert await slow.closed_within(2.5)
        assert await idle.closed_within(2.5)
        assert time.monotonic() - started < 2.5
        assert (await _health(running))["header_timeouts"] >= 2
        for client in (slow, idle, prompt):
            client.close()


async def test_a_request_body_must_arrive_within_body_timeout(
        sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path,
                       page_extra="limits: {body_timeout: 1s}") as running:
        client = await Raw.open(running)
        client.writer.write(b"POST / HTTP/1.1\r\nHost: statusdesk\r\nContent-Length: 100\r\n"
                            b"\r\n" + b"x" * 10)
        started = time.monotonic()
        status, headers = await client.head()
        assert status == 408 and 0.9 < time.monotonic() - started < 3
        assert headers.get("connection") == "close"
        assert await client.closed_within(4)  # after 2 s of lingering (http_limits.py)
        assert (await _health(running))["body_timeouts"] == 1
        client.close()
