"""The leader lease end to end: two `statusdesk run` processes on IRC (ngIRCd) sharing one
PostgreSQL, a watcher in the channels. A leader that is stopped (SIGSTOP) or cut off from
PostgreSQL is replaced within 10 s; a command posted then is applied by the new leader; the
old one, resumed or reconnected, says nothing more in any channel and reports itself standby.
A killed leader (SIGKILL) is still replaced within a second."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.ha.leadership import asyncpg_dsn
from tests.console_bot import Bot, http_get
from tests.figures import record
from tests.irc_bot import unique
from tests.irc_client import RawClient
from tests.lease_rig import RelayThread, health, irc_config, irc_joined, role, said_by, until
from tests.servers.ngircd import NgircdServer

TAKEOVER_LIMIT = 10.0
KILL_LIMIT = 1.0


@dataclass
class Pair:
    old: Bot
    new: Bot
    old_port: int
    new_port: int
    old_nick: str
    new_nick: str
    channels: list[str]
    watcher: RawClient
    alice: RawClient
    db_url: str


async def _fetch(db_url: str, query: str) -> object:
    connection = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def _notices(pair: Pair, nick: str, text: str, since: int) -> None:
    for channel in pair.channels:
        await pair.watcher.wait_for(
            lambda m, c=channel: m.command == "NOTICE"  # type: ignore[misc]
            and m.params[0] == c and m.nick == nick and m.text == f"NOTICE: {text}",
            since=since, within=45)


@pytest.fixture
async def pair(pg_url: str, tmp_path: Path, ngircd: NgircdServer,
               request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    """The old leader leading and joined, the new one standing by, watcher and alice in."""
    channels = [unique("#ls-a-"), unique("#ls-b-")]
    old_nick, new_nick = unique("old"), unique("new")
    old_url = getattr(request, "param", pg_url)
    if callable(old_url):
        old_url = old_url(pg_url)
    old_config, old_port = irc_config(tmp_path, "old", old_url, ngircd, old_nick, channels)
    new_config, new_port = irc_config(tmp_path, "new", pg_url, ngircd, new_nick, channels)
    old = Bot(old_config, tmp_path)
    new: Bot | None = None
    watcher = alice = None
    try:
        await until(lambda: irc_joined(old_port, channels), 30, "old leader joined")
        new = Bot(new_config, tmp_path)
        await until(lambda: role(new_port) == "standby", 20, "second instance stands by")
        watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
        await watcher.join(*channels)
        alice = await RawClient.connect(ngircd.host, ngircd.port, "alice")
        await alice.join(channels[0])
        yield Pair(old, new, old_port, new_port, old_nick, new_nick, channels, watcher, alice,
                   pg_url)
    finally:
        for client in (watcher, alice):
            if client is not None:
                await client.close()
        for name, bot in (("old", old), ("new", new)):
            if bot is not None and bot.process.poll() is None:
                with_stopped_resumed(bot)
                bot.kill()
            if bot is not None:  # shown when the test fails
                print(f"--- stderr of the {name} instance ---\n{bot.stderr()}")


def with_stopped_resumed(bot: Bot) -> None:
    """A stopped process ignores SIGKILL's cleanup until it runs: resume it first."""
    os.kill(bot.process.pid, signal.SIGCONT)


async def _alert_then_lose_leader(pair: Pair, lose: object) -> float:
    """The alert goes out from the old leader; `lose()` it; seconds until the new leads."""
    since = pair.watcher.mark()
    await pair.alice.say(pair.channels[0], "#status alert Gate is down")
    await _notices(pair, pair.old_nick, "Gate is down", since)
    started = time.monotonic()
    lose()  # type: ignore[operator]
    await until(lambda: role(pair.new_port) == "leader", TAKEOVER_LIMIT + 5, "new leader")
    return time.monotonic() - started


async def _new_leader_applies_a_command(pair: Pair) -> None:
    await until(lambda: irc_joined(pair.new_port, pair.channels), 30, "new leader joined")
    since = pair.watcher.mark()
    await pair.alice.say(pair.channels[0], "#status notice Working on it")
    try:
        await _notices(pair, pair.new_nick, "Working on it", since)
    except AssertionError:
        connection = await asyncpg.connect(asyncpg_dsn(pair.db_url))
        try:
            for row in await connection.fetch("SELECT * FROM outbox ORDER BY id"):
                print(dict(row))
        finally:
            await connection.close()
        raise
    reply = await pair.alice.wait_for(lambda m: m.command == "PRIVMSG"
                                      and m.nick == pair.new_nick and "Notice sent" in m.text)
    assert reply.text == "alice: Notice sent (added to incident #1)."


def _said_once_each(pair: Pair, text: str) -> None:
    seen = [(m.params[0], m.text) for m in pair.watcher.lines if m.command == "NOTICE"]
    for channel in pair.channels:
        assert seen.count((channel, f"NOTICE: {text}")) == 1, seen


async def test_a_stopped_leader_is_replaced_and_says_nothing_when_resumed(
    pair: Pair, pg_url: str
) -> None:
    pid = pair.old.process.pid
    took = await _alert_then_lose_leader(pair, lambda: os.kill(pid, signal.SIGSTOP))
    record("lease takeover", f"SIGSTOP of the leader -> standby leads in {took:.2f}s "
                             f"(lease 5s)")
    assert took <= TAKEOVER_LIMIT
    # The stopped one's IRC connection is still in the channels: alice's command is waiting
    # in its socket too, to be read the moment it runs again.
    await _new_leader_applies_a_command(pair)

    resumed = pair.watcher.mark()
    os.kill(pid, signal.SIGCONT)
    stepped = await until(lambda: role(pair.old_port) == "standby", 10, "old leader steps down")
    await asyncio.sleep(3.0)  # anything it would still say has arrived by now
    assert said_by(pair.watcher, pair.old_nick, resumed) == []
    print(f"standby led {took:.2f}s after SIGSTOP; the resumed one said standby after "
          f"{stepped:.2f}s and sent nothing")
    _said_once_each(pair, "Gate is down")
    _said_once_each(pair, "Working on it")
    assert await _fetch(pg_url, "SELECT count(*) FROM status_posts") == 2
    assert await _fetch(pg_url, "SELECT count(*) FROM audit_log "
                                "WHERE outcome = 'accepted'") == 2
    lease = health(pair.new_port)["lease"]
    assert lease["term"] == await _fetch(pg_url, "SELECT term FROM leader_lease")  # type: ignore[index]
    assert lease["term"] == 2  # type: ignore[index]
    metrics = http_get(pair.new_port, "/metrics")[2].decode()
    assert "statusdesk_leader_term 2.0" in metrics
    assert "statusdesk_leader_lease_expiry_seconds " in metrics
    assert health(pair.old_port)["role"] == "standby"


@dataclass
class Cut:
    relay: RelayThread | None = None

    def url(self, pg_url: str) -> str:
        parsed = make_url(pg_url)
        self.relay = RelayThread(parsed.host or "127.0.0.1", parsed.port or 5432)
        return parsed.set(port=self.relay.port).render_as_string(hide_password=False)


CUT = Cut()


@pytest.mark.parametrize("pair", [CUT.url], indirect=True)
async def test_a_leader_cut_off_from_postgresql_is_replaced_and_says_nothing(
    pair: Pair, pg_url: str
) -> None:
    relay = CUT.relay
    assert relay is not None
    try:
        took = await _alert_then_lose_leader(pair, relay.freeze)
        record("lease takeover", f"network cut between the leader and PostgreSQL -> standby "
                                 f"leads in {took:.2f}s (lease 5s)")
        assert took <= TAKEOVER_LIMIT
        cut_off = pair.watcher.mark()
        await _new_leader_applies_a_command(pair)
        await until(lambda: role(pair.old_port) == "standby", 15, "cut-off one stands by")
        await asyncio.sleep(2.0)
        assert said_by(pair.watcher, pair.old_nick, cut_off) == []
        _said_once_each(pair, "Gate is down")
        _said_once_each(pair, "Working on it")
        assert await _fetch(pg_url, "SELECT term FROM leader_lease") == 2
        # The cut-off one's sessions were ended at the takeover: a transaction it had open
        # would otherwise keep its row locks, and the new leader's writes would wait on them.
        assert "database session(s) of the previous leader" in pair.new.stderr()
    finally:
        relay.close()
        CUT.relay = None


async def test_a_killed_leader_is_still_replaced_within_a_second(pair: Pair) -> None:
    took = await _alert_then_lose_leader(pair, pair.old.process.kill)
    record("lease takeover", f"SIGKILL of the leader -> standby leads in {took:.2f}s")
    assert took <= KILL_LIMIT
    await _new_leader_applies_a_command(pair)
