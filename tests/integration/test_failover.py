"""Two `statusdesk run` processes on one PostgreSQL database: one leads, one stands by and
takes over when the leader is SIGKILLed — every command applied once, every announcement
delivered once, and the standby's SSE clients told of every change."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from pathlib import Path

import asyncpg

from bot.leadership import asyncpg_dsn
from tests.console_bot import Bot, http_get, wait_for_http
from tests.servers.ports import free_port


def _config(tmp_path: Path, name: str, db_url: str) -> tuple[Path, int]:
    port = free_port()
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"database: {{url: '{db_url}'}}\n"
        "console: true\n"
        f"status_page: {{listen: '127.0.0.1:{port}', title: Test}}\n"
    )
    return path, port


def role_of(port: int) -> str:
    status, _, body = http_get(port, "/healthz")
    assert status == 200, body
    return str(json.loads(body)["role"])


def wait_for_role(port: int, role: str, timeout: float = 20.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if role_of(port) == role:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"instance on {port} never became {role}")


class SseListener:
    """An /api/events client in a thread, collecting the change kinds it is told."""

    def __init__(self, port: int) -> None:
        self.kinds: list[str] = []
        self._response = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/events",
                                                timeout=60)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self._response:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                self.kinds.append(json.loads(line[6:])["kind"])

    def wait_for(self, kind: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if kind in self.kinds:
                return
            time.sleep(0.05)
        raise AssertionError(f"SSE never told of {kind}; got {self.kinds}")

    def close(self) -> None:
        self._response.close()


async def _count(db_url: str, query: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


async def test_the_standby_takes_over_when_the_leader_is_killed(
    pg_url: str, tmp_path: Path
) -> None:
    first_config, first_port = _config(tmp_path, "first", pg_url)
    second_config, second_port = _config(tmp_path, "second", pg_url)
    first = Bot(first_config, tmp_path)
    second: Bot | None = None
    sse: SseListener | None = None
    try:
        wait_for_http(first_port)
        wait_for_role(first_port, "leader")
        second = Bot(second_config, tmp_path)
        wait_for_http(second_port)
        assert role_of(second_port) == "standby"
        sse = SseListener(second_port)

        first.type("#status alert Gate is down")
        first.expect("-statusdesk- NOTICE: Gate is down")
        first.expect("*** statusdesk changed the topic of console to: Gate is down")
        sse.wait_for("alert.set")  # a standby's page follows the leader's changes

        first.kill()
        took = wait_for_role(second_port, "leader")
        print(f"standby became leader {took:.2f}s after the leader was killed")
        assert took < 5.0

        second.type("#status notice Working on it")
        second.expect("<statusdesk> op: Notice sent (added to incident #1).")
        second.expect("-statusdesk- NOTICE: Working on it")
        sse.wait_for("status.posted")
        # The alert went out once, from the old leader: the new one does not repeat it.
        assert "-statusdesk- NOTICE: Gate is down" not in second.seen

        assert await _count(pg_url, "SELECT count(*) FROM status_posts") == 2
        assert await _count(pg_url, "SELECT count(*) FROM incidents") == 1
        for _ in range(100):  # the last delivery is recorded just after it is written
            if not await _count(pg_url, "SELECT count(*) FROM outbox "
                                        "WHERE delivered_at IS NULL"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("effects left undelivered")
        code, stderr = second.close()
        assert code == 0, stderr
    finally:
        if sse is not None:
            sse.close()
        for bot in (first, second):
            if bot is not None and bot.process.poll() is None:
                bot.kill()
