"""PostgreSQL turns read-only under `statusdesk run` (console, a real subprocess), as after a
failover that leaves the bot's address on a hot standby: `default_transaction_read_only` set
on its database, and its sessions cut so that it reconnects to find them read-only.

A command is answered at once "not applied: the database is read-only ... say it again",
with nothing recorded; questions are still answered; /healthz says `unwritable: read-only`
(503); the log has one line about it, no traceback. When the database takes writes again
the bot notices by itself, with nobody typing (its write probe, on fresh connections: a
session stays read-only for life), and /healthz is 200 again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import asyncpg

from bot.ha.leadership import asyncpg_dsn
from commands.replies import database_unwritable
from tests.conftest import admin_sql
from tests.console_bot import Bot, http_get, wait_for_http, write_console_config
from tests.figures import record
from tests.servers.postgres import PostgresServer

APPLIED = "op: Logged on the status page."
REFUSED = "op: " + database_unwritable("#status log", "the database is read-only")


def _health(port: int) -> tuple[int, str, str]:
    """(status, database, role) as /healthz says."""
    status, _, body = http_get(port, "/healthz")
    detail = json.loads(body)
    return status, str(detail.get("database")), str(detail.get("role"))


def _until(condition: object, within: float, what: str) -> float:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: never happened within {within:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started


async def _posts(url: str) -> list[str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return [row["text"] for row in
                await connection.fetch("SELECT text FROM status_posts ORDER BY id")]
    finally:
        await connection.close()


def test_a_read_only_database_refuses_commands_and_is_noticed_writable_again_unprompted(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    name = f"read_only_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin_sql(pg_server, f"CREATE DATABASE {name}"))
    url = pg_server.url(name)
    config, port = write_console_config(tmp_path, url)
    bot = Bot(config, tmp_path)
    try:
        wait_for_http(port, 60)
        _until(lambda: _health(port)[2] == "leader", 60, "leading")
        bot.type("#status log before the failover")
        bot.expect(f"<statusdesk> {APPLIED}")

        asyncio.run(admin_sql(
            pg_server, f"ALTER DATABASE {name} SET default_transaction_read_only = on"))
        asyncio.run(admin_sql(
            pg_server, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
        # Its lease session was cut too: it reconnects, and as nobody can take the lease
        # from a database that takes no writes, it leads on.
        _until(lambda: _health(port)[2] == "leader", 30, "leading")

        asked = time.monotonic()
        bot.type("#status log during the failover")
        bot.expect(f"<statusdesk> {REFUSED}")
        answered_in = time.monotonic() - asked
        assert answered_in < 5, answered_in  # at once, not after the 30 s of retries
        assert _health(port)[:2] == (503, "unwritable: read-only")
        bot.type("#now")
        bot.expect("<statusdesk> op: All clear: no alert and no open incidents.")

        asyncio.run(admin_sql(
            pg_server, f"ALTER DATABASE {name} SET default_transaction_read_only = off"))
        noticed = _until(lambda: _health(port)[:2] == (200, "ok"), 20,
                         "/healthz ok again without a command")
        bot.type("#status log after the failover")
        bot.expect(f"<statusdesk> {APPLIED}")
    finally:
        code, stderr = bot.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    episode = [line for line in stderr.splitlines() if "writ" in line]
    assert len(episode) == 2, episode
    assert ("WARNING statusdesk.database: the database cannot take writes: the database is "
            "read-only (ReadOnlySQLTransactionError: cannot execute") in episode[0], episode
    assert "database writable again after 1 refused command" in episode[1], episode
    assert asyncio.run(_posts(url)) == ["before the failover", "after the failover"]
    record("server faults", f"PostgreSQL read-only (default_transaction_read_only, sessions "
           f"cut): refused in {answered_in:.2f} s 'not applied: the database is read-only', "
           f"nothing recorded; 2 log lines; /healthz 503 unwritable, 200 again "
           f"{noticed:.1f} s after it took writes, with no command typed")
