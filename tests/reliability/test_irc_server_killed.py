"""ngIRCd SIGKILLed in the middle of a 20-channel broadcast and started again on the same
port: the bot reconnects, joins its channels again and the notice reaches every channel —
including those whose line the bot had written but the server died before relaying — and no
watcher sees it twice.

A watcher dies with the server, so what is observable is: the watchers of the first server
(one per channel) saw the notice in some channels before the kill; the watchers of the
restarted server, in the channels first and alone with the bot, see it in all the others.
The bot reaches the restarted server through a gate the test opens only once those watchers
are in, so nothing the bot re-sends at once can slip past them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.conftest import start_ngircd_or_fail
from tests.figures import record
from tests.irc_bot import running_bot, unique
from tests.irc_client import RawClient
from tests.servers.ngircd import NgircdServer
from tests.servers.tcp_proxy import TcpRelay

CHANNELS = 20
KILL_AFTER = 5
"""Channels the notice must have reached (on the watchers' side) when ngIRCd is killed."""
TEXT = "the package mirrors are rebuilding, expect failed jobs until 15:00"


@asynccontextmanager
async def watchers(server: NgircdServer, channels: list[str]) -> AsyncIterator[list[RawClient]]:
    """One client in each channel (joined before the bot gets there)."""
    clients = await asyncio.gather(*(RawClient.connect(server.host, server.port,
                                                       unique("w")) for _ in channels))
    try:
        await asyncio.gather(*(c.join(ch) for c, ch in zip(clients, channels, strict=True)))
        yield list(clients)
    finally:
        for client in clients:
            await client.close()


def seen(clients: list[RawClient], channels: list[str], text: str) -> Counter[str]:
    """How often each channel's watcher saw the notice."""
    counts: Counter[str] = Counter()
    for client, channel in zip(clients, channels, strict=True):
        counts[channel] += len(client.matching(
            lambda m, c=channel: m.command == "NOTICE"  # type: ignore[misc]
            and m.params[0] == c and m.text == text))
    return +counts  # channels where it was seen at all


async def until(condition: object, within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.02)


@pytest.fixture
def server() -> Iterator[NgircdServer]:
    server = start_ngircd_or_fail()
    try:
        yield server
    finally:
        server.cleanup()


async def test_ngircd_killed_mid_broadcast_every_channel_gets_the_notice_once(
    server: NgircdServer, sqlite_url: str, tmp_path: Path
) -> None:
    channels = [unique(f"#b{n:02d}-") for n in range(CHANNELS)]
    gate = TcpRelay("127.0.0.1", server.port)
    await gate.start()
    text = f"NOTICE: {TEXT}"
    try:
        async with watchers(server, channels) as first, \
                running_bot(sqlite_url, gate.port, channels, nick=unique("desk"),
                            rate="{burst: 20, per_second: 20.0}") as bot:
            await bot.joined(within=60)
            replies = await bot.console(f"#status notice {TEXT}")
            assert replies == ["Notice sent."]
            await until(lambda: sum(seen(first, channels, text).values()) >= KILL_AFTER,
                        within=60)
            gate.accepting = False
            server.stop()  # SIGKILL, mid-broadcast
            killed_at = time.monotonic()
            before = seen(first, channels, text)
            assert KILL_AFTER <= len(before) < CHANNELS, before
            assert max(before.values()) == 1, before

            server.start()
            async with watchers(server, channels) as second:
                gate.accepting = True
                missing = [c for c in channels if c not in before]
                await until(lambda: all(seen(second, channels, text)[c] for c in missing),
                            within=90)
                complete_at = time.monotonic()
                await asyncio.sleep(2.0)  # anything sent twice would have arrived by now
                after = seen(second, channels, text)
                assert max(after.values(), default=0) == 1, after
                assert set(before) | set(after) == set(channels)
                repeated = sorted(set(before) & set(after))
                assert bot.irc.health()["connects"] >= 2
    finally:
        await gate.stop()
    record("server faults",
           f"ngIRCd killed mid-broadcast at {len(before)}/{CHANNELS} channels; "
           f"{CHANNELS}/{CHANNELS} delivered {complete_at - killed_at:.1f} s after the kill "
           f"(restart included); {len(repeated)} channel(s) got it again after the restart")
