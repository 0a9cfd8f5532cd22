"""IRC: how fast an alert reaches 50 channels, and what ordinary chatter costs the bot.

    .venv/bin/python bench/irc_broadcast.py [--channels 50] [--chatter 20000] [--talkers 100]

On a throwaway ngIRCd (tests/servers/ngircd.py):

1. Broadcast. statusdesk (the whole app, in this process, the default `rate` of 5 lines then
   1 a second) gets `#status alert` and must put a NOTICE and the new topic in every channel;
   a separate raw client times how long until it has seen all of them. Then a baseline
   sends the same lines the way statusbot does (one command, then a fixed 2 s sleep) and is
   timed the same way. Printed: both times and their ratio.
2. Chatter. `--talkers` clients say `--chatter` ordinary lines in a channel; statusdesk (a
   child process running the app) and a bare `irc` library client (a child process that
   only reads) count them; each reports the CPU seconds it spent from the first line to the
   last. Printed: CPU seconds per 20,000 lines for each, and their ratio.

Neither run may get anyone disconnected for flooding: the script checks and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import App
from bot.config import load_config_text
from bot.core.ports import Message
from tests.irc_bot import running_bot
from tests.irc_client import RawClient
from tests.servers.ngircd import NgircdServer, start_ngircd
from tests.servers.ports import free_port

STATUSBOT_SLEEP = 2.0
SENTENCE = ("the build farm is slow again, anyone looking at the mirror in region two? I think "
            "the cache expired; let us wait for the next periodic job before we dig deeper")
WORDS = SENTENCE.split()


def chatter_line(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))


# --- part 1: broadcast ----------------------------------------------------------------------


async def seen_everything(watcher: RawClient, channels: list[str], notice: str, topic: str,
                          since: int) -> float:
    want = {("NOTICE", c) for c in channels} | {("TOPIC", c) for c in channels}

    def done(_line: Any) -> bool:
        for line in watcher.lines[since:]:
            if line.command == "NOTICE" and line.text == notice:
                want.discard(("NOTICE", line.params[0]))
            elif line.command == "TOPIC" and line.text == topic:
                want.discard(("TOPIC", line.params[0]))
        return not want

    await watcher.wait_for(done, since=since, within=900)
    return time.monotonic()


async def join_all(client: RawClient, channels: list[str]) -> None:
    for start in range(0, len(channels), 20):
        await client.send("JOIN " + ",".join(channels[start:start + 20]))
    await client.wait_for(lambda m: m.command == "366" and m.params[1] == channels[-1],
                          within=300)


async def broadcast(server: NgircdServer, count: int) -> dict[str, Any]:
    channels = [f"#bench-{i:03d}" for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        async with running_bot(url, server.port, channels, nick="statusdesk",
                               network_extra=", rate: {burst: 5, per_second: 1.0}") as bot:
            await bot.joined(within=300)
            watcher = await RawClient.connect(server.host, server.port, "watcher")
            await join_all(watcher, channels)
            text = "gerrit is down, we are working on it"
            since = watcher.mark()
            started = time.monotonic()
            await bot.console(f"#status alert {text}")
            ours = await seen_everything(watcher, channels, f"NOTICE: {text}", text, since)
            ours -= started
            health = bot.irc.health()
            bot_ok = health["connects"] == 1 and health["connected"]

            # statusbot's way: every command followed by a 2 s sleep, notices then topics.
            statusbot = await RawClient.connect(server.host, server.port, "statusbot")
            await join_all(statusbot, channels)
            text = "gerrit is back"
            since = watcher.mark()
            started = time.monotonic()
            for channel in channels:
                await statusbot.send(f"NOTICE {channel} :NOTICE: {text}")
                await asyncio.sleep(STATUSBOT_SLEEP)
            for channel in channels:
                await statusbot.send(f"TOPIC {channel} :{text}")
                await asyncio.sleep(STATUSBOT_SLEEP)
            theirs = await seen_everything(watcher, channels, f"NOTICE: {text}", text, since)
            theirs -= started
            baseline_ok = not statusbot.matching(lambda m: m.command == "ERROR")
            await statusbot.close()
            await watcher.close()
    return {"channels": count, "statusdesk_s": round(ours, 1), "statusbot_s": round(theirs, 1),
            "ratio": round(theirs / ours, 2), "never_disconnected": bot_ok and baseline_ok}


# --- part 2: chatter CPU --------------------------------------------------------------------


def bot_reader(port: int, channel: str, lines: int) -> None:
    """Child: the statusdesk app, counting the messages its transport hands to the desk."""

    class CountingApp(App):
        seen = 0
        first_cpu = 0.0

        async def _on_message(self, message: Message) -> None:
            if CountingApp.seen == 0:
                CountingApp.first_cpu = time.process_time()
            await super()._on_message(message)
            CountingApp.seen += 1
            if CountingApp.seen == lines:
                cpu = time.process_time() - CountingApp.first_cpu
                print(json.dumps({"cpu": cpu, "lines": CountingApp.seen}), flush=True)
                self.request_stop()

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config_text(
                f"database: {{url: 'sqlite+aiosqlite:///{tmp}/bench.db'}}\n"
                f"status_page: {{listen: '127.0.0.1:{free_port()}'}}\n"
                f"irc: [{{name: bench, host: 127.0.0.1, port: {port}, tls: false, "
                f"nick: statusdesk, channels: ['{channel}']}}]\n")
            app = CountingApp(config)
            task = asyncio.create_task(app.run())
            transport = None
            while transport is None or transport.health()["channels"][channel] != "joined":
                await asyncio.sleep(0.05)
                transport = next(iter(app.transports), None)
            print("ready", flush=True)
            await task

    asyncio.run(main())


def bare_reader(port: int, channel: str, lines: int) -> None:
    """Child: a bare `irc` library client on its asyncio reactor, only counting lines."""
    from irc.client_aio import AioReactor

    async def main() -> None:
        reactor = AioReactor(loop=asyncio.get_running_loop())
        connection = reactor.server()
        done = asyncio.Event()
        state = {"seen": 0, "first": 0.0}

        def on_welcome(conn: Any, _event: Any) -> None:
            conn.join(channel)

        def on_join(conn: Any, event: Any) -> None:
            if event.source.nick == conn.get_nickname():
                print("ready", flush=True)

        def on_pubmsg(_conn: Any, _event: Any) -> None:
            if state["seen"] == 0:
                state["first"] = time.process_time()
            state["seen"] += 1
            if state["seen"] == lines:
                cpu = time.process_time() - state["first"]
                print(json.dumps({"cpu": cpu, "lines": state["seen"]}), flush=True)
                done.set()

        reactor.add_global_handler("welcome", on_welcome)
        reactor.add_global_handler("join", on_join)
        reactor.add_global_handler("pubmsg", on_pubmsg)
        await connection.connect("127.0.0.1", port, "bare")
        await done.wait()
        connection.disconnect("bye")

    asyncio.run(main())


async def chatter(server: NgircdServer, total: int, talkers: int) -> dict[str, Any]:
    channel = "#chatter"
    children = {
        role: await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--role", role, "--port", str(server.port),
            "--channel", channel, "--chatter", str(total),
            stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for role in ("bot", "bare")
    }
    for role, child in children.items():
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 120)
        if line.strip() != b"ready":
            raise RuntimeError(f"{role} reader did not start: {line!r}")
    rng = random.Random(3)
    clients = [await RawClient.connect(server.host, server.port, f"talker{i}")
               for i in range(talkers)]
    await asyncio.gather(*(c.send(f"JOIN {channel}") for c in clients))
    await asyncio.sleep(2)

    async def talk(client: RawClient, count: int) -> None:
        for _ in range(count):
            await client.send(f"PRIVMSG {channel} :{chatter_line(rng)}")

    started = time.monotonic()
    share = [total // talkers + (1 if i < total % talkers else 0) for i in range(talkers)]
    await asyncio.gather(*(talk(c, n) for c, n in zip(clients, share, strict=True)))
    results = {}
    for role, child in children.items():
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 1800)
        results[role] = json.loads(line)
        await asyncio.wait_for(child.wait(), 60)
    elapsed = time.monotonic() - started
    kicked = [c.nick for c in clients if c.matching(lambda m: m.command == "ERROR")]
    for client in clients:
        await client.close()
    per = 20_000 / total
    return {"lines": total, "seconds": round(elapsed, 1),
            "statusdesk_cpu_per_20k": round(results["bot"]["cpu"] * per, 2),
            "bare_irc_cpu_per_20k": round(results["bare"]["cpu"] * per, 2),
            "ratio": round(results["bot"]["cpu"] / results["bare"]["cpu"], 2),
            "talkers_disconnected": kicked}


async def run(args: argparse.Namespace) -> None:
    server = start_ngircd()
    try:
        print(f"ngIRCd on port {server.port}")
        if args.channels:
            result = await broadcast(server, args.channels)
            print(f"broadcast to {result['channels']} channels (NOTICE + TOPIC each): "
                  f"statusdesk {result['statusdesk_s']} s, statusbot-style "
                  f"{result['statusbot_s']} s, {result['ratio']}x faster; never disconnected: "
                  f"{result['never_disconnected']}")
        if args.chatter:
            result = await chatter(server, args.chatter, args.talkers)
            print(f"chatter: {result['lines']} lines in {result['seconds']} s; CPU per 20,000 "
                  f"lines: statusdesk {result['statusdesk_cpu_per_20k']} s, bare irc client "
                  f"{result['bare_irc_cpu_per_20k']} s, ratio {result['ratio']}; talkers "
                  f"disconnected: {result['talkers_disconnected'] or 'none'}")
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--chatter", type=int, default=20_000)
    parser.add_argument("--talkers", type=int, default=100)
    parser.add_argument("--role", choices=["bot", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "bot":
        bot_reader(args.port, args.channel, args.chatter)
    elif args.role == "bare":
        bare_reader(args.port, args.channel, args.chatter)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
