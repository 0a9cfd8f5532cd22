"""The database's disk fills up under `statusdesk run` (console, SQLite on a tiny tmpfs of
its own) while people keep typing long `#status log` lines.

Every command is answered either "applied" or "not applied: the database disk is full ...
say it again"; what was acknowledged is in the database exactly once, what was refused is
not there at all; the log says so in two lines (not a traceback per command); /healthz
says `unwritable: disk full` (503) from the first refusal until space is freed; questions
and the page keep being answered meanwhile. Freeing space mends it without a restart.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ha.write_probe import PROBE_SECONDS
from commands.replies import database_unwritable
from tests.console_bot import Bot, HealthWatch, http_get, wait_for_http, write_console_config
from tests.figures import record
from tests.tmpfs import small_tmpfs

DISK_SIZE = "600k"
FILLER_BYTES = 96 * 1024
"""Placed on the disk before the bot starts, deleted to free space again."""
COMMANDS = 200
LONG_TEXT = "the disk fills up " + "x" * 880

APPLIED = "<statusdesk> op: Logged on the status page."
REFUSED = ("<statusdesk> op: "
           + database_unwritable("#status log", "the database disk is full"))


def _answers(bot: Bot, count: int, timeout: float) -> list[tuple[float, str]]:
    """The next `count` lines addressed to op, with when each came (monotonic)."""
    return bot.answers(count, timeout, lambda line: line.startswith("<statusdesk> op:"))


def _database_health(port: int) -> tuple[float, int, str]:
    """(answered at, status, its `database`) of one look at /healthz."""
    status, _, body = http_get(port, "/healthz")
    return time.monotonic(), status, json.loads(body).get("database", "")


def _health(port: int) -> tuple[int, str]:
    status, _, body = http_get(port, "/healthz")
    return status, str(json.loads(body)["database"])


def _metric(port: int, name: str) -> float:
    _, _, body = http_get(port, "/metrics")
    match = re.search(rf"^{re.escape(name)} (\S+)$", body.decode(), re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", DISK_SIZE) as path:
        yield path


def test_a_full_disk_refuses_commands_in_so_many_words_and_mends_when_space_is_freed(
    disk: Path, tmp_path: Path
) -> None:
    database = disk / "statusdesk.db"
    filler = disk / "filler"
    filler.write_bytes(b"\0" * FILLER_BYTES)
    config, port = write_console_config(tmp_path, f"sqlite+aiosqlite:///{database}")
    bot = Bot(config, tmp_path)
    health: HealthWatch[tuple[float, int, str]] | None = None
    try:
        wait_for_http(port, 60)
        health = HealthWatch(port, _database_health)
        started = time.monotonic()
        for n in range(COMMANDS):
            bot.type(f"#status log {n}: {LONG_TEXT}")
        answers = _answers(bot, COMMANDS, timeout=60)
        took = time.monotonic() - started
        lines = [line for _, line in answers]
        applied = [n for n, line in enumerate(lines) if line == APPLIED]
        refused = [n for n, line in enumerate(lines) if line == REFUSED]
        assert len(applied) + len(refused) == COMMANDS, lines
        assert applied and refused, "the disk should have filled up part of the way"
        first_refused_at = answers[refused[0]][0]

        # Still full: the probe finds it so too, and the answer stays 503.
        time.sleep(PROBE_SECONDS * 1.5)
        assert _health(port) == (503, "unwritable: disk full")
        # Reads go on: a question is answered, the page is served with what was applied.
        bot.type("#now")
        now = [line for _, line in _answers(bot, 2, 10)]
        assert now == ["<statusdesk> op: All clear: no alert and no open incidents.",
                       f"<statusdesk> op: Status page: http://127.0.0.1:{port}"], now
        status, _, page = http_get(port, "/")
        assert status == 200 and f"{applied[-1]}: the disk fills up".encode() in page
        assert _metric(port, 'statusdesk_commands_total{outcome="unwritable"}') == len(refused)
        assert _metric(port, "statusdesk_database_writes_refused_total") >= len(refused)
        assert _metric(port, "statusdesk_database_writable") == 0

        filler.unlink()
        freed_at = time.monotonic()
        bot.type("#status log after the disk was freed")
        assert _answers(bot, 1, 20)[0][1] == APPLIED
        assert _health(port) == (200, "ok")
        assert _metric(port, "statusdesk_database_writable") == 1
    finally:
        if health is not None:
            health.close()
        code, stderr = bot.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    episode = [line for line in stderr.splitlines() if "writ" in line]
    assert len(episode) == 2, episode
    assert "WARNING statusdesk.database: the database cannot take writes: the database disk " \
           "is full (OperationalError: database or disk is full)" in episode[0], episode
    assert f"database writable again after {len(refused)} refused commands" in episode[1], \
        episode
    assert not [line for line in stderr.splitlines() if " ERROR " in line], stderr

    # Nothing half-applied: what was acknowledged is there once, what was refused is not.
    connection = sqlite3.connect(database)
    try:
        posts = [text for (text,) in connection.execute("SELECT text FROM status_posts")]
        audited = connection.execute(
            "SELECT count(*) FROM audit_log WHERE command = '#status log'").fetchone()[0]
    finally:
        connection.close()
    assert sorted(posts) == sorted([f"{n}: {LONG_TEXT}" for n in applied]
                                   + ["after the disk was freed"])
    assert audited == len(applied) + 1

    assert health is not None
    during = [(status, db) for at, status, db in health.seen if first_refused_at < at < freed_at]
    assert during and all(s == (503, "unwritable: disk full") for s in during), during
    record("server faults", f"SQLite disk full ({DISK_SIZE} tmpfs): {COMMANDS} long "
           f"#status log in {took:.1f} s, {len(applied)} applied, {len(refused)} refused "
           f"'not applied ... say it again', 0 half-applied; 2 log lines; /healthz 503 "
           f"unwritable ({len(during)} polls), 200 again at the first command after freeing")
