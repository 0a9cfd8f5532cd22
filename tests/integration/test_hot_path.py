"""The hot GETs answered below aiohttp (bot/web/hot_path.py) against aiohttp's own answer to
the same request, on the app running in-process.

aiohttp answers a request whose head arrives in two reads (the hot path takes only a whole
head in one), so each request is sent both ways, on fresh connections, and the answers are
compared byte for byte, all but the Date line. The hot path's counter tells which answered,
so a comparison of aiohttp with itself cannot pass for one of both."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.web.hot_path import HotPath
from tests.harness import Running, run_app

PATHS = ("/", "/api/v2/summary.json", "/alert.json", "/feed.atom", "/history",
         "/static/statusdesk.css")
ENCODINGS = ("", "gzip", "br", "gzip, deflate, br", "gzip;q=0, br;q=0", "*")


def _hot(running: Running) -> HotPath:
    hot = running.app.http_limits.guard.hot_path
    assert hot is not None
    return hot


async def _exchange(running: Running, head: bytes, *, split: bool,
                    head_only: bool = False) -> bytes:
    """Send `head` on a new connection (in two reads when `split`), read the answer: the
    head and Content-Length bytes of body (`head_only`: the head)."""
    port = int(running.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if split:
            writer.write(head[:5])
            await writer.drain()
            await asyncio.sleep(0.05)  # its own read on the server
            writer.write(head[5:])
        else:
            writer.write(head)
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = next((int(line.split(b":")[1]) for line in answer.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if length is not None and not head_only:
            answer += await asyncio.wait_for(reader.readexactly(length), 5)
        return answer
    finally:
        writer.close()


def _without_date(answer: bytes) -> bytes:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    dates = [line for line in lines if line.startswith(b"Date: ")]
    assert len(dates) == 1, head
    return b"\r\n".join(line for line in lines if not line.startswith(b"Date: ")) \
        + b"\r\n\r\n" + body


async def _both_ways(running: Running, head: bytes) -> tuple[bytes, bytes]:
    """(the hot path's answer, aiohttp's), checking that each came from where it should."""
    hot = _hot(running)
    before = hot.answered
    fast = await _exchange(running, head, split=False)
    assert hot.answered == before + 1, f"not answered by the hot path: {head!r}"
    slow = await _exchange(running, head, split=True)
    assert hot.answered == before + 1, f"answered by the hot path: {head!r}"
    return _without_date(fast), _without_date(slow)


async def _compressed(running: Running) -> None:
    await running.settled()
    # The variants are made in a thread after the change is announced.
    for _ in range(200):
        if all(doc.compressed for path in PATHS if (doc := running.app.snapshot.hot(path))):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the documents were never compressed")


async def test_hot_documents_are_the_bytes_aiohttp_sends(
        sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        await running.say("#status alert Gate is broken")
        await running.say("#incident open sev2 Mirror lag")
        await _compressed(running)
        compared = 0
        for path in PATHS:
            for accept in ENCODINGS:
                head = (f"GET {path} HTTP/1.1\r\nHost: statusdesk\r\nUser-Agent: test\r\n"
                        + (f"Accept-Encoding: {accept}\r\n" if accept else "") + "\r\n")
                fast, slow = await _both_ways(running, head.encode())
                assert fast == slow, (path, accept)
                assert fast.startswith(b"HTTP/1.1 200 OK\r\n")
                compared += 1
                # A conditional GET with the ETag just served: 304 both ways.
                etag = next(line for line in fast.split(b"\r\n")
                            if line.startswith(b"ETag: "))[6:]
                conditional = head.replace("\r\n\r\n", "\r\nIf-None-Match: ").encode() \
                    + b"W/" + etag + b', "other"\r\n\r\n'
                fast, slow = await _both_ways(running, conditional)
                assert fast == slow
                assert fast.startswith(b"HTTP/1.1 304 Not Modified\r\n")
                assert fast.endswith(b"\r\n\r\n")
        assert compared == len(PATHS) * len(ENCODINGS)


@pytest.mark.parametrize("head", [
    b"GET /?page=2 HTTP/1.1\r\nHost: statusdesk\r\n\r\n",
    b"GET /%61lert.json HTTP/1.1\r\nHost: statusdesk\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: statusdesk\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: statusdesk\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: statusdesk\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: statusdesk\r\nContent-Length: 0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: st\xc3\xa4tusdesk\r\n\r\n",
    b"GET /incidents/999 HTTP/1.1\r\nHost: statusdesk\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: statusdesk\r\nHost: other\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: statusdesk\r\nAccept: */*\r\nAccept: text/html\r\n\r\n",
    b"GET /no-such-page HTTP/1.1\r\nHost: statusdesk\r\n\r\n",
    b"GET /api/events HTTP/1.1\r\nHost: statusdesk\r\nLast-Event-ID: x\r\n\r\n",
])
async def test_what_is_out_of_the_ordinary_is_left_to_aiohttp(
        sqlite_url: str, tmp_path: Path, head: bytes) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        await running.say("#incident open sev2 Mirror lag")
        await running.settled()
        hot = _hot(running)
        before = hot.answered
        answer = await _exchange(running, head, split=False, head_only=True)
        assert answer.startswith(b"HTTP/1."), answer
        assert hot.answered == before


async def test_a_request_aiohttp_answers_takes_the_connection_for_good(
        sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        await running.settled()
        hot = _hot(running)
        port = int(running.base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            before = hot.answered
            for head, by_hot in ((b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1),
                                 (b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 0),
                                 (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0)):
                writer.write(head)
                answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                assert answer.startswith(b"HTTP/1.1 200 OK"), answer
                length = int(answer.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                assert hot.answered == before + by_hot
                before = hot.answered
        finally:
            writer.close()


async def test_a_live_update_stream_is_what_aiohttp_streams(
        sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        await running.say("#status notice first")
        await running.settled()
        hot = _hot(running)
        stream = running.app.snapshot.stream
        head = b"GET /api/events HTTP/1.1\r\nHost: statusdesk\r\nLast-Event-ID: 0\r\n\r\n"
        port = int(running.base.rsplit(":", 1)[1])
        clients = []
        for split in (False, True):
            before = hot.answered
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if split:
                writer.write(head[:5])
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(head[5:])
            else:
                writer.write(head)
            opening = await asyncio.wait_for(reader.readuntil(b"\n\n\r\n"), 5)
            # The replay (Last-Event-ID: 0) comes in the same chunk as the retry line.
            while b"event: change" not in opening:
                opening += await asyncio.wait_for(reader.readuntil(b"\n\n\r\n"), 5)
            assert hot.answered == before + (0 if split else 1)
            clients.append((reader, writer, _without_date(opening)))
        fast, slow = clients[0][2], clients[1][2]
        assert fast.split(b"\r\n\r\n")[0] == slow.split(b"\r\n\r\n")[0]
        # aiohttp writes the head and the first chunk apart; the bytes are the same.
        assert fast == slow
        assert stream.client_count == 2
        await running.say("#status alert Gate is broken")
        events = [await asyncio.wait_for(reader.readuntil(b"\n\n\r\n"), 5)
                  for reader, _, _ in clients]
        assert events[0] == events[1] and b"event: change" in events[0]
        health = await _health(running)
        assert health["live_clients"] == 2
        for _, writer, _ in clients:
            writer.close()
        for _ in range(250):
            if stream.client_count == 0 and (await _health(running))["live_clients"] == 0:
                break
            await asyncio.sleep(0.02)
        assert stream.client_count == 0
        assert (await _health(running))["live_clients"] == 0


async def _health(running: Running) -> dict[str, int]:
    _, _, body = await running.get("/healthz")
    return json.loads(body)["http"]  # type: ignore[no-any-return]


async def test_a_stream_ended_at_shutdown_ends_with_its_last_chunk(
        sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        await running.settled()
        port = int(running.base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/events HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"retry: 2000\n\n\r\n"), 5)
        assert _hot(running).answered == 1
    # Stopped: the stream's last chunk, then the connection closed.
    rest = await asyncio.wait_for(reader.read(), 5)
    assert rest == b"0\r\n\r\n"
    writer.close()


async def test_a_client_that_does_not_read_is_left_to_aiohttps_flow_control(
        sqlite_url: str, tmp_path: Path) -> None:
    """Requests sent one after the other without reading the answers: once the connection's
    buffer is over its high-water mark the hot path stops answering (aiohttp waits for the
    buffer to drain), and every answer still arrives, in order."""
    async with run_app(sqlite_url, tmp_path) as running:
        await running.say("#incident open sev2 Mirror lag")
        await running.settled()
        hot = _hot(running)
        port = int(running.base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"GET /api/v2/summary.json HTTP/1.1\r\nHost: statusdesk\r\n\r\n"
        before = hot.answered
        sent = 0
        try:
            while sent < 20_000 and hot.answered - before == sent:
                writer.write(request)
                sent += 1
                await asyncio.sleep(0)  # the server reads it on its own
                await asyncio.sleep(0)
            assert hot.answered - before < sent, "the hot path answered every request"
            answers = 0
            while answers < sent:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                await asyncio.wait_for(reader.readexactly(length), 10)
                answers += 1
        finally:
            writer.close()
