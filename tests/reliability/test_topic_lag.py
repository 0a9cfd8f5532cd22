"""A topic change whose echo is late must not make the next one look done already.

Found by the crash test: ngIRCd paces a client's TOPIC lines, so after a backlog the echo of
an alert's topic came later than the bot waits for it; the restore that followed saw the old
topic still in place, skipped sending it, and the alert's topic, applied afterwards, stayed.
"""

from __future__ import annotations

import asyncio

from tests.conftest import start_ngircd_or_fail
from tests.irc_bot import running_bot, unique
from tests.irc_client import RawClient
from tests.servers.tcp_proxy import TcpRelay


async def test_a_late_echo_does_not_swallow_the_next_topic(sqlite_url: str) -> None:
    server = start_ngircd_or_fail()
    proxy = TcpRelay(server.host, server.port)
    await proxy.start()
    channel = unique("#lag-")
    watcher = None
    try:
        async with running_bot(sqlite_url, proxy.port, [channel], nick=unique("lag"),
                               host="127.0.0.1") as bot:
            await bot.joined()
            watcher = await RawClient.connect(server.host, server.port, unique("watch"))
            await watcher.join(channel)
            await bot.irc.set_topic(channel, "Original topic")
            assert await watcher.topic(channel) == "Original topic"

            proxy.hold()  # the alert's TOPIC goes out; its echo is held back
            # Each set_topic returns once the server confirmed it (the PONG behind it), which
            # the held-back echo direction delays: issue both, then let the echoes through.
            alert = asyncio.create_task(bot.irc.set_topic(channel, "Alert: gate is down"))
            await asyncio.sleep(0.3)
            restore = asyncio.create_task(bot.irc.set_topic(channel, "Original topic"))
            await asyncio.sleep(0.3)
            proxy.release()
            await asyncio.wait_for(asyncio.gather(alert, restore), 30)

            for _ in range(100):
                if bot.irc.health()["queued_lines"] == 0:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            assert await watcher.topic(channel) == "Original topic"
    finally:
        if watcher is not None:
            await watcher.close()
        await proxy.stop()
        server.cleanup()
