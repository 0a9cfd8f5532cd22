"""PostgreSQL stopped and started again under a steady stream of commands (`statusdesk run`
on the console, a real subprocess): the bot re-establishes its connections by itself, every
command typed during the outage is applied once PostgreSQL is back (or refused in so many
words; never silently dropped), and /healthz says 503 while the database is away, 200 after.

The server is one of this module's own: stopping the session's shared one would disturb
every other test using it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.ha.leadership import asyncpg_dsn
from commands.replies import database_unavailable
from tests.conftest import admin_sql, start_postgres_or_fail
from tests.console_bot import (
    Bot,
    HealthWatch,
    http_get,
    wait_for_http,
    wait_for_role,
    write_console_config,
)
from tests.figures import record
from tests.servers.postgres import PostgresServer

COMMANDS = 60
INTERVAL = 0.1
"""Seconds between two commands: a steady stream, ten a second."""
HALT_AT = 15
"""The command after which PostgreSQL is stopped."""
OUTAGE = 3.0
"""Seconds PostgreSQL stays down."""

APPLIED = "<statusdesk> op: Logged on the status page."
REFUSED = f"<statusdesk> op: {database_unavailable('#status log')}"


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PostgresServer]:
    """Not the session's server: this one is stopped and started under the test."""
    server = start_postgres_or_fail()
    try:
        yield server
    finally:
        server.stop()


async def _posts(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT text, count(*) AS n FROM status_posts GROUP BY text")
        return {row["text"]: int(row["n"]) for row in rows}
    finally:
        await connection.close()


def _status_health(port: int) -> tuple[float, float, int]:
    """(asked at, answered at, status) of one look at /healthz; status 0: no answer."""
    asked = time.monotonic()
    try:
        status, _, _ = http_get(port, "/healthz")
    except OSError:
        status = 0
    return asked, time.monotonic(), status


def _replies(bot: Bot, count: int, timeout: float) -> list[str]:
    """The next `count` answers to `#status log` on the bot's stdout."""
    return [line for _, line in bot.answers(
        count, timeout, lambda line: line in (APPLIED, REFUSED) or "op:" in line)]


def test_commands_typed_while_postgresql_restarts_are_applied_once(
    own_pg: PostgresServer, tmp_path: Path
) -> None:
    assert own_pg.halt is not None and own_pg.resume is not None
    asyncio.run(admin_sql(own_pg, "CREATE DATABASE restarts"))
    url = own_pg.url("restarts")
    config, port = write_console_config(tmp_path, url)
    bot = Bot(config, tmp_path)
    health: HealthWatch[tuple[float, float, int]] | None = None
    times: dict[str, float] = {}
    try:
        wait_for_http(port, 60)
        wait_for_role(port, "leader", 60)
        health = HealthWatch(port, _status_health)

        def restart() -> None:
            assert own_pg.halt is not None and own_pg.resume is not None
            times["halting"] = time.monotonic()
            own_pg.halt()
            times["down"] = time.monotonic()
            time.sleep(OUTAGE)
            times["resuming"] = time.monotonic()
            own_pg.resume()
            times["up"] = time.monotonic()

        restarter = threading.Thread(target=restart)
        for n in range(COMMANDS):
            bot.type(f"#status log load {n}")
            if n == HALT_AT:
                restarter.start()
            time.sleep(INTERVAL)
        restarter.join(timeout=90)
        assert "up" in times, "PostgreSQL did not come back"

        answers = _replies(bot, COMMANDS, timeout=90)
        wait_for_role(port, "leader", 60)
        status, _, body = http_get(port, "/healthz")
        assert status == 200, body
        assert json.loads(body)["database"] == "ok"
    finally:
        if health is not None:
            health.close()
        code, stderr = bot.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr

    unexpected = [a for a in answers if a not in (APPLIED, REFUSED)]
    assert not unexpected, unexpected
    posts = asyncio.run(_posts(url))
    applied = [f"load {n}" for n, a in enumerate(answers) if a == APPLIED]
    refused = [f"load {n}" for n, a in enumerate(answers) if a == REFUSED]
    # Every answer tells the truth: applied ones are there exactly once, refused ones not.
    assert {text: posts.get(text) for text in applied} == dict.fromkeys(applied, 1)
    assert [text for text in refused if text in posts] == []
    # A few seconds' outage is well within the bot's patience: nothing had to be refused.
    assert refused == []

    assert health is not None
    during = [s for asked, answered, s in health.seen
              if times["down"] < asked and answered < times["resuming"]]
    after = [(answered, s) for asked, answered, s in health.seen if asked > times["up"]]
    assert during and all(s == 503 for s in during), during
    back = next(t for t, s in after if s == 200) - times["up"]
    assert all(s == 200 for t, s in after if t > times["up"] + back), after
    record("server faults", f"PostgreSQL stopped for {OUTAGE:.0f} s under {1 / INTERVAL:.0f} "
           f"commands/s: {len(applied)}/{COMMANDS} applied once, 0 lost, 0 refused; /healthz "
           f"503 during the outage, 200 again {back:.1f} s after PostgreSQL was back")
