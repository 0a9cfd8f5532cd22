"""`statusdesk run` SIGKILLed half-way through a catch-up on Synapse: the gap it was applying
is read again at the next start, and every command in it is applied exactly once (those that
had run are not run again, the others are)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
from sqlalchemy import text as text_sql

from bot.transports.matrix.backfill import SYNC_TIMELINE_LIMIT
from tests.figures import record
from tests.harness import opened_store
from tests.matrix_scene import Scene
from tests.reliability.crash_rig import all_joined, health
from tests.servers.ports import free_port

COMMANDS = 20
"""Enough that applying them takes well over the poll below that stops the bot among them,
and few enough that a catch-up and its replay stay within a whitelisted person's command
burst (30): the desk's flood control applies to late commands as to live ones."""


class Bot:
    """`statusdesk run` in its own process, as an operator would start it."""

    def __init__(self, tmp_path: Path, config: Path, name: str) -> None:
        self.log_path = tmp_path / f"bot-{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "-c", str(config)],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(30)
        self._log.close()

    def tail(self) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])


async def applied(db_url: str) -> list[str]:
    """The text of every accepted `#status notice`, in the order applied."""
    async with opened_store(db_url) as store, store.reading() as tx:
        rows = (await tx.session.execute(text_sql(
            "SELECT text FROM audit_log WHERE outcome = 'accepted' "
            "AND command = '#status notice' ORDER BY id"))).scalars().all()
    return [str(row) for row in rows]


def accepted_count(db: sqlite3.Connection) -> int:
    """How many `#status notice` commands are applied so far, read with the standard library's
    driver on one open connection: a fraction of a millisecond, where opening a store for each
    poll took tens, long enough for the bot to apply the whole gap in between."""
    return int(db.execute(
        "SELECT count(*) FROM audit_log WHERE outcome = 'accepted' "
        "AND command = '#status notice'").fetchone()[0])


async def test_killed_during_back_fill_every_command_once(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    port = free_port()
    config = tmp_path / "statusdesk.yaml"
    config.write_text(f"database: {{url: '{sqlite_url}'}}\n"
                      f"status_page: {{listen: '127.0.0.1:{port}', title: Backfill}}\n"
                      + scene.config())
    loop = asyncio.get_running_loop()

    async def ready(bot: Bot, http: aiohttp.ClientSession) -> None:
        end = loop.time() + 90
        while not all_joined(await health(http, port), ["matrix/localhost"]):
            assert bot.popen.poll() is None, bot.tail()
            assert loop.time() < end, bot.tail()
            await asyncio.sleep(0.05)

    async with aiohttp.ClientSession() as http:
        first = Bot(tmp_path, config, "first")
        try:
            await ready(first, http)
            await alice.say(scene.ops, "#status notice before the gap")
            await alice.wait_for(scene.from_bot(scene.ops, "NOTICE: before the gap"))
            await asyncio.sleep(1.0)  # the sync token after it is saved
        finally:
            first.kill()

        # The gap: the commands first (beyond a sync's window), then chatter.
        texts = [f"gap {n}" for n in range(COMMANDS)]
        for text in texts:
            await alice.say(scene.ops, f"#status notice {text}")
        for n in range(SYNC_TIMELINE_LIMIT):
            await scene.mallory.say(scene.ops, f"chatter {n}")

        second = Bot(tmp_path, config, "second")
        db = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"), timeout=5)
        try:
            end = loop.time() + 90
            while accepted_count(db) < 1 + COMMANDS // 4:
                assert second.popen.poll() is None, second.tail()
                assert loop.time() < end, second.tail()
                await asyncio.sleep(0.001)
        finally:
            second.kill()
            db.close()
        at_kill = len(await applied(sqlite_url)) - 1
        assert at_kill < COMMANDS, "the kill came after the whole gap was applied"

        third = Bot(tmp_path, config, "third")
        try:
            await ready(third, http)
            for room in scene.rooms:
                await alice.wait_for(scene.from_bot(room, f"NOTICE: {texts[-1]}"), within=90)
            await asyncio.sleep(2.0)  # anything applied twice would have been by now
        finally:
            third.kill()

    assert await applied(sqlite_url) == ["#status notice before the gap"] + [
        f"#status notice {text}" for text in texts]
    for room in scene.rooms:
        notices = [s.body for s in alice.messages(room, "m.notice", scene.bot)
                   if s.body.startswith("NOTICE: gap ")]
        # Once each (the effects cut off by the kill go out after the restart, their order
        # among the others is the outbox's business).
        assert sorted(notices) == sorted(f"NOTICE: {text}" for text in texts), notices
    record("matrix catch-up", f"SIGKILLed after {at_kill}/{COMMANDS} commands of a "
           f"{COMMANDS + SYNC_TIMELINE_LIMIT}-event gap: after the restart {COMMANDS}/"
           f"{COMMANDS} applied once each, in order; every notice once per room")
