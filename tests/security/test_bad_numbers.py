"""Every number the status page reads from a request, given what is not one (issue 16, part 4).

`/history?page=²`, a 23-digit page, `Last-Event-ID: ²` or 5,000 digits were each a 500 with
a full traceback in the log (50 requests: 58 KB). Now a bad query parameter or header is a
400, a bad path segment a 404, and nothing reaches the log.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.harness import API_TOKEN, Running, run_app

NOT_NUMBERS = {
    "superscript two": "²",
    "arabic-indic three": "٣",  # \d and int() take it for a 3: incident 3 exists below
    "fullwidth three": "３",
    "23 digits": "1" * 23,
    "5,000 digits": "9" * 5000,
    "past the integer column": "2147483648",
    "negative": "-1",
    "plus sign": "+1",
    "empty": "",
    "decimal": "1.5",
    "exponent": "1e3",
    "hex": "0x1",
    "spaced": " 1",
    "underscored": "1_0",
}
NOT_EVENT_IDS = {
    **{name: text for name, text in NOT_NUMBERS.items()
       # 2147483648 is a fine event id; an empty one is no id (below); spaces around a
       # header's value are not part of it (RFC 9110).
       if name not in ("past the integer column", "empty", "spaced")},
    "past 2**63": str(2**63),
}
ZERO_IS_BAD = {"zero": "0"}
"""Not a page, not an incident; a fine Last-Event-ID (nothing seen yet)."""


async def _raw(running: Running, head: bytes) -> tuple[int, bytes]:
    """A request written byte for byte (a client library would refuse some of these
    headers); the status and the first bytes of the answer."""
    port = int(running.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        status_line = await asyncio.wait_for(reader.readline(), 5)
        rest = await asyncio.wait_for(reader.read(2000), 5)
    finally:
        writer.close()
    return int(status_line.split()[1]), rest


async def test_every_numeric_input_refuses_what_is_not_a_number(
        db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with run_app(db_url, tmp_path) as running:
        for n in range(3):
            await running.say(f"#incident open Outage {n}")
        await running.settled()
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        assert (await running.get("/api/incidents/3/log.json", **auth))[0] == 200
        caplog.clear()
        with caplog.at_level(logging.INFO):
            for name, text in {**NOT_NUMBERS, **ZERO_IS_BAD}.items():
                status, _, body = await running.get(f"/history?page={text}")
                assert status == 400, (name, status)
                assert body.count(b"\n") == 1 and len(body) < 200, (name, body)
                assert (await running.get(f"/incidents/{text}"))[0] == 404, name
                for fmt in ("md", "json"):
                    path = f"/api/incidents/{text}/log.{fmt}"
                    assert (await running.get(path, **auth))[0] == 404, (name, fmt)
            for name, text in NOT_EVENT_IDS.items():
                head = (b"GET /api/events HTTP/1.1\r\nHost: statusdesk\r\nLast-Event-ID: "
                        + text.encode() + b"\r\nConnection: close\r\n\r\n")
                status, body = await _raw(running, head)
                assert status == 400, (name, status)
                assert body.rstrip().endswith(b"from 0 to 9223372036854775807"), (name, body)
            for text in ("", "0", "1"):
                head = (f"GET /api/events HTTP/1.1\r\nHost: statusdesk\r\nLast-Event-ID: "
                        f"{text}\r\n\r\n").encode()
                assert (await _raw(running, head))[0] == 200, text
        logged = [r for r in caplog.records if r.name.startswith(("statusdesk", "aiohttp"))]
        assert not [r for r in logged if r.exc_info or r.levelno >= logging.WARNING], [
            r.getMessage()[:200] for r in logged]
        assert sum(len(r.getMessage()) for r in logged) < 2000
        # Still the real pages for real numbers.
        assert (await running.get("/history?page=1"))[0] == 200
        assert (await running.get("/incidents/3"))[0] == 200
        assert (await running.get("/incidents/0003"))[0] == 200


async def test_a_last_event_id_from_an_earlier_process_gets_a_reset(
        sqlite_url: str, tmp_path: Path) -> None:
    """Ids count from 1 in each process: a client that saw id 500 before a restart cannot be
    told what it missed, so it is told to reload instead of silently missing changes."""
    async with run_app(sqlite_url, tmp_path) as running:
        head = (b"GET /api/events HTTP/1.1\r\nHost: statusdesk\r\nLast-Event-ID: 500\r\n"
                b"\r\n")
        port = int(running.base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head)
            seen = b""
            async with asyncio.timeout(5):
                while b"event: reset" not in seen:
                    chunk = await reader.read(4096)
                    assert chunk, seen
                    seen += chunk
        finally:
            writer.close()
