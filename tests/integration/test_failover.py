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

from bot.ha.leadership import asyncpg_dsn
from tests.console_bot import (
    Bot,
    http_get,
    role_of,
    wait_for_http,
    wait_for_role,
    write_console_config,
)
from tests.irc_bot import unique
from tests.irc_client import RawClient
from tests.lease_rig import irc_config, irc_joined, until
from tests.servers.ngircd import NgircdServer


class SseListener:
    """An /api/events client in a thread, collecting the change kinds it is told."""

    def __init__(self, port: int) -> None:
        self.kinds: list[str] = []
        self._response = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/events",
                                                timeout=60)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self._response:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    self.kinds.append(json.loads(line[6:])["kind"])
        except (OSError, ValueError, AttributeError):
            pass  # closed by the test, or the instance went away

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
    first_config, first_port = write_console_config(tmp_path, pg_url, "first")
    second_config, second_port = write_console_config(tmp_path, pg_url, "second")
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


# --- the same on IRC: the standby rejoins the channels ------------------------------------


async def test_on_irc_the_new_leader_rejoins_and_announces_once(
    pg_url: str, tmp_path: Path, ngircd: NgircdServer
) -> None:
    nick = unique("desk")
    channels = [unique("#fo-a-"), unique("#fo-b-")]
    first_config, first_port = irc_config(tmp_path, "first", pg_url, ngircd, nick, channels,
                                          lease=None, remind_after=None)
    second_config, second_port = irc_config(tmp_path, "second", pg_url, ngircd, nick,
                                            channels, lease=None, remind_after=None)
    first = Bot(first_config, tmp_path)
    second: Bot | None = None
    sse: SseListener | None = None
    watcher = alice = None
    try:
        wait_for_http(first_port)
        await until(lambda: irc_joined(first_port, channels), 30, "first bot joined")
        second = Bot(second_config, tmp_path)
        wait_for_http(second_port)
        assert role_of(second_port) == "standby"
        assert "irc/testnet" not in json.loads(http_get(second_port, "/healthz")[2])[
            "transports"]  # a standby does not even connect
        sse = SseListener(second_port)
        watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
        await watcher.join(*channels)
        alice = await RawClient.connect(ngircd.host, ngircd.port, "alice")
        await alice.join(channels[0])

        await alice.say(channels[0], "#status alert Gate is down")
        for channel in channels:
            await watcher.wait_for(lambda m, c=channel: m.command == "NOTICE"  # type: ignore[misc]
                                   and m.params[0] == c and m.text == "NOTICE: Gate is down")
        sse.wait_for("alert.set")

        first.kill()
        took = await until(lambda: role_of(second_port) == "leader", 10, "standby leads")
        rejoined = await until(lambda: irc_joined(second_port, channels), 30,
                               "new leader joined")
        print(f"new leader {took:.2f}s after the kill, in every channel "
              f"{took + rejoined:.2f}s after it")

        since = watcher.mark()
        await alice.say(channels[0], "#status notice Working on it")
        for channel in channels:
            await watcher.wait_for(lambda m, c=channel: m.command == "NOTICE"  # type: ignore[misc]
                                   and m.params[0] == c and m.text == "NOTICE: Working on it",
                                   since=since)
        # The dead leader's connection can outlive it on the server for a moment, so the new
        # one may have registered as NICK_ and answer under it until it takes NICK back.
        reply = await alice.wait_for(lambda m: m.command == "PRIVMSG"
                                     and m.nick in (nick, f"{nick}_")
                                     and "Notice sent" in m.text)
        assert reply.text == "alice: Notice sent (added to incident #1)."
        await until(lambda: json.loads(http_get(second_port, "/healthz")[2])["transports"][
            "irc/testnet"]["nick"] == nick, 30, "new leader has its nick back")
        sse.wait_for("status.posted")
        await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
        seen = [(m.params[0], m.text) for m in watcher.lines if m.command == "NOTICE"]
        for channel in channels:
            assert seen.count((channel, "NOTICE: Gate is down")) == 1
            assert seen.count((channel, "NOTICE: Working on it")) == 1
        assert await _count(pg_url, "SELECT count(*) FROM status_posts") == 2
        assert await _count(pg_url, "SELECT count(*) FROM audit_log "
                                    "WHERE outcome = 'accepted'") == 2
        # Nothing left waiting. (A notice the old leader was writing when it died is given
        # up rather than repeated: the watcher above saw it once either way.)
        assert await _count(pg_url, "SELECT count(*) FROM outbox "
                                    "WHERE delivered_at IS NULL AND failed_at IS NULL") == 0
    finally:
        if sse is not None:
            sse.close()
        for client in (watcher, alice):
            if client is not None:
                await client.close()
        for bot in (first, second):
            if bot is not None and bot.process.poll() is None:
                bot.kill()
