"""IRC: how fast an alert reaches 50 channels, and what ordinary chatter costs the bot.

    .venv/bin/python bench/irc_broadcast.py [--quick] [--channels 50] [--chatter 20000]
                                            [--talkers 50] [--rounds 3]

1. Broadcast. statusdesk (the whole app, in this process) gets `#status alert` and must put
   the notice and the new topic in every channel; a separate raw client (the watcher) times
   how long until it has seen all of them, and counts the lines the bot sent (NOTICE lines,
   TOPIC lines, confirmation PINGs). Three servers:
   - InspIRCd (advertises `MAXTARGETS=20`), `rate: {burst: 5, per_second: 1.0}`, with its
     default connect class and with one that refills 2 penalty units a second (InspIRCd
     charges a TOPIC 2);
   - ngIRCd (no TARGMAX: one NOTICE per channel), the same rate;
   - ngIRCd with a flood exemption (`MaxPenaltyTime = 0`) and `rate: {burst: 400,
     per_second: 400}`, against statusbot's way on the same server (every NOTICE, then every
     TOPIC, each followed by a fixed 2 s sleep).
   Printed per server: the lines, the floor that `rate` sets for that many lines
   (`(lines - burst) / per_second`), the time and its ratio to the floor; for the
   exempt server the ratio to statusbot's way; and whether anyone was disconnected.
2. Chatter. `--talkers` clients say ordinary lines in a channel of a flood-exempt ngIRCd;
   statusdesk (a child process running the app) and a bare `irc` library client (a child
   process that only counts lines) both read them. Each measures its CPU seconds from a
   start marker to an end marker said after the last line, `--rounds` times; printed: the
   CPU per 20,000 lines for each and the median of the per-round ratios.

Neither run may get anyone disconnected: the script checks and says so. `--quick` (what
`make bench` runs): 10 channels, 4,000 chatter lines, 2 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
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
from tests.servers.inspircd import start_inspircd
from tests.servers.ngircd import start_ngircd
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


async def broadcast(server: Any, count: int, burst: int, per_second: float,
                    statusbot: bool) -> dict[str, Any]:
    channels = [f"#bench-{i:03d}" for i in range(count)]
    rate = f"{{burst: {burst}, per_second: {per_second}}}"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        async with running_bot(url, server.port, channels, nick="statusdesk",
                               rate=rate) as bot:
            await bot.joined(within=300)
            watcher = await RawClient.connect(server.host, server.port, "watcher")
            await join_all(watcher, channels)
            # Nothing of the bot's left to write (JOINs, WHOs) and its bucket full again.
            for _ in range(3000):
                health = bot.irc.health()
                if not health["queued_lines"] and not health["unconfirmed_messages"]:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(burst / per_second + 1)
            conn = bot.irc._conn
            sent_before = dict(conn.lines_sent)
            text = "gerrit is down, we are working on it"
            since = watcher.mark()
            started = time.monotonic()
            await bot.console(f"#status alert {text}")
            ours = await seen_everything(watcher, channels, f"NOTICE: {text}", text, since)
            ours -= started
            await asyncio.sleep(0.5)  # a PING written right after the last TOPIC counts too
            sent = {k: v - sent_before.get(k, 0) for k, v in conn.lines_sent.items()
                    if v - sent_before.get(k, 0)}
            features = conn.features
            health = bot.irc.health()
            bot_ok = health["connects"] == 1 and health["connected"]
            result: dict[str, Any] = {
                "channels": count, "seconds": round(ours, 1), "sent": sent,
                "targmax": getattr(features, "targmax", None),
                "maxtargets": getattr(features, "maxtargets", None),
                "never_disconnected": bot_ok}
            # Every line counts for the server's flood limit, so for `rate`: the PING that
            # confirms the announcement (the outbox's exactly-once needs it) too.
            result["floor"] = round(max(0, sum(sent.values()) - burst) / per_second, 1)
            if statusbot:
                result["statusbot_s"] = round(await statusbot_way(server, watcher, channels), 1)
            await watcher.close()
    return result


async def statusbot_way(server: Any, watcher: RawClient, channels: list[str]) -> float:
    """statusbot's way: every command followed by a fixed 2 s sleep, notices then topics."""
    client = await RawClient.connect(server.host, server.port, "statusbot")
    await join_all(client, channels)
    text = "gerrit is back"
    since = watcher.mark()
    started = time.monotonic()
    for channel in channels:
        await client.send(f"NOTICE {channel} :NOTICE: {text}")
        await asyncio.sleep(STATUSBOT_SLEEP)
    for channel in channels:
        await client.send(f"TOPIC {channel} :{text}")
        await asyncio.sleep(STATUSBOT_SLEEP)
    theirs = await seen_everything(watcher, channels, f"NOTICE: {text}", text, since)
    if client.matching(lambda m: m.command == "ERROR"):
        raise RuntimeError("the statusbot-style client was disconnected")
    await client.close()
    return theirs - started


# --- part 2: chatter CPU --------------------------------------------------------------------


START, END = "#bench-start", "#bench-end"
"""Markers said around each round's chatter: the bot's desk gets them (they start with #)
and ignores them (no such command); the bare client sees them like any line."""


def bot_reader(port: int, channel: str) -> None:
    """Child: the statusdesk app; CPU seconds and lines read between the markers."""

    class MarkedApp(App):
        at = (0.0, 0, 0)

        async def _on_message(self, message: Message) -> None:
            if message.text in (START, END):
                transport = next(iter(self.transports))
                conn = transport._conn  # type: ignore[attr-defined]
                # (getattr: the same bench runs on code from before the chatter filter.)
                now = (time.process_time(), conn.lines_received,
                       getattr(conn, "lines_ignored", 0))
                if message.text == START:
                    MarkedApp.at = now
                    print("started", flush=True)
                else:
                    cpu, received, ignored = (a - b for a, b in
                                              zip(now, MarkedApp.at, strict=True))
                    print(json.dumps({"cpu": cpu, "received": received - 1,
                                      "ignored": ignored}), flush=True)
            await super()._on_message(message)

    async def run_app() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config_text(
                f"database: {{url: 'sqlite+aiosqlite:///{tmp}/bench.db'}}\n"
                f"status_page: {{listen: '127.0.0.1:{free_port()}'}}\n"
                f"irc: [{{name: bench, host: 127.0.0.1, port: {port}, tls: false, "
                f"nick: statusdesk, channels: ['{channel}']}}]\n")
            app = MarkedApp(config)
            task = asyncio.create_task(app.run())
            transport = None
            while transport is None or transport.health()["channels"][channel] != "joined":
                await asyncio.sleep(0.05)
                transport = next(iter(app.transports), None)
            print("ready", flush=True)
            await task

    asyncio.run(run_app())


def bare_reader(port: int, channel: str, lines: int) -> None:
    """Child: a bare `irc` library client on its asyncio reactor, only counting lines."""
    from irc.client_aio import AioReactor

    async def read() -> None:
        reactor = AioReactor(loop=asyncio.get_running_loop())
        connection = reactor.server()
        state = {"seen": 0, "cpu": 0.0}

        def on_welcome(conn: Any, _event: Any) -> None:
            conn.join(channel)

        def on_join(conn: Any, event: Any) -> None:
            if event.source.nick == conn.get_nickname():
                print("ready", flush=True)

        def on_pubmsg(_conn: Any, event: Any) -> None:
            text = event.arguments[0]
            if text == START:
                state["seen"], state["cpu"] = 0, time.process_time()
                print("started", flush=True)
            elif text == END:
                print(json.dumps({"cpu": time.process_time() - state["cpu"],
                                  "received": state["seen"]}), flush=True)
            else:
                state["seen"] += 1
                if state["seen"] == lines:
                    print("counted", flush=True)

        reactor.add_global_handler("welcome", on_welcome)
        reactor.add_global_handler("join", on_join)
        reactor.add_global_handler("pubmsg", on_pubmsg)
        await connection.connect("127.0.0.1", port, "bare")
        await asyncio.Event().wait()

    asyncio.run(read())


async def expect(child: Any, want: str, within: float) -> str:
    line = (await asyncio.wait_for(child.stdout.readline(), within)).decode().strip()
    if want and line != want:
        raise RuntimeError(f"a reader said {line!r}, not {want!r}")
    return line


async def chatter(server: Any, total: int, talkers: int, rounds: int) -> dict[str, Any]:
    channel = "#chatter"
    children = {
        role: await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--role", role, "--port", str(server.port),
            "--channel", channel, "--chatter", str(total),
            stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for role in ("bot", "bare")
    }
    try:
        for child in children.values():
            await expect(child, "ready", 120)
        rng = random.Random(3)
        clients = [await RawClient.connect(server.host, server.port, f"talker{i}")
                   for i in range(talkers)]
        await asyncio.gather(*(c.send(f"JOIN {channel}") for c in clients))
        await asyncio.sleep(2)
        share = [total // talkers + (1 if i < total % talkers else 0) for i in range(talkers)]

        async def talk(client: RawClient, count: int) -> None:
            for _ in range(count):
                await client.send(f"PRIVMSG {channel} :{chatter_line(rng)}")

        per_round: list[dict[str, Any]] = []
        for _ in range(rounds):
            await clients[0].send(f"PRIVMSG {channel} :{START}")
            for child in children.values():
                await expect(child, "started", 60)
            started = time.monotonic()
            await asyncio.gather(*(talk(c, n) for c, n in zip(clients, share, strict=True)))
            await expect(children["bare"], "counted", 600)
            elapsed = time.monotonic() - started
            await clients[0].send(f"PRIVMSG {channel} :{END}")
            results = {role: json.loads(await expect(child, "", 600))
                       for role, child in children.items()}
            per_round.append({"seconds": elapsed, **{
                f"{role}_{key}": value for role, r in results.items()
                for key, value in r.items()}})
        kicked = [c.nick for c in clients if c.matching(lambda m: m.command == "ERROR")]
        for client in clients:
            await client.close()
    finally:
        for child in children.values():
            if child.returncode is None:
                child.kill()
            await child.wait()
    per = 20_000 / total
    ratios = [r["bot_cpu"] / r["bare_cpu"] for r in per_round]
    return {"lines": total, "rounds": per_round, "talkers_disconnected": kicked,
            "statusdesk_cpu_per_20k": round(statistics.median(
                r["bot_cpu"] for r in per_round) * per, 3),
            "bare_irc_cpu_per_20k": round(statistics.median(
                r["bare_cpu"] for r in per_round) * per, 3),
            "ratios": [round(r, 2) for r in ratios],
            "ratio": round(statistics.median(ratios), 2)}


def report_broadcast(name: str, result: dict[str, Any], goal_floor: bool) -> None:
    sent = result["sent"]
    lines = sum(sent.values())
    print(f"broadcast, {name}, {result['channels']} channels (TARGMAX "
          f"{result['targmax']}, MAXTARGETS {result['maxtargets']}): {lines} lines "
          f"({', '.join(f'{v} {k}' for k, v in sorted(sent.items()))}) in "
          f"{result['seconds']} s; never disconnected: {result['never_disconnected']}")
    if goal_floor:
        floor = result["floor"]
        ratio = result["seconds"] / floor if floor else float("inf")
        print(f"  floor set by rate for {lines} lines: {floor} s; ratio {ratio:.2f} (goal <= 1.1: "
              f"{'met' if ratio <= 1.1 else 'not met'})")
    if "statusbot_s" in result:
        ratio = result["seconds"] / result["statusbot_s"]
        print(f"  statusbot's way on the same server: {result['statusbot_s']} s; ratio "
              f"{ratio:.3f} (goal <= 0.05: {'met' if ratio <= 0.05 else 'not met'})")


async def run(args: argparse.Namespace) -> None:
    if args.channels and "inspircd" in args.servers:
        server: Any = start_inspircd()
        try:
            report_broadcast("InspIRCd", await broadcast(server, args.channels, 5, 1.0,
                                                         statusbot=False), True)
        finally:
            server.cleanup()
        # InspIRCd charges a TOPIC 2 penalty units and refills 1 a second by default
        # (`commandrate="1000"`): a class refilling 2 a second keeps up with `rate`.
        server = start_inspircd(connect_options=' commandrate="2000"')
        try:
            report_broadcast('InspIRCd, connect class commandrate="2000"',
                             await broadcast(server, args.channels, 5, 1.0,
                                             statusbot=False), True)
        finally:
            server.cleanup()
    if args.channels and "ngircd" in args.servers:
        server = start_ngircd()
        try:
            report_broadcast("ngIRCd", await broadcast(server, args.channels, 5, 1.0,
                                                       statusbot=False), True)
        finally:
            server.cleanup()
    if args.channels and "exempt" in args.servers:
        server = start_ngircd(unthrottled=True)
        try:
            report_broadcast("ngIRCd with a flood exemption (MaxPenaltyTime = 0), rate "
                             "{burst: 400, per_second: 400}",
                             await broadcast(server, args.channels, 400, 400.0,
                                             statusbot=True), False)
        finally:
            server.cleanup()
    if args.chatter:
        server = start_ngircd(unthrottled=True)
        try:
            result = await chatter(server, args.chatter, args.talkers, args.rounds)
        finally:
            server.cleanup()
        print(f"chatter: {result['lines']} lines x {len(result['rounds'])} rounds; CPU per "
              f"20,000 lines (median): statusdesk {result['statusdesk_cpu_per_20k']} s, bare "
              f"irc client {result['bare_irc_cpu_per_20k']} s; ratios {result['ratios']}, "
              f"median {result['ratio']} (goal <= 1.5: "
              f"{'met' if result['ratio'] <= 1.5 else 'not met'}); talkers disconnected: "
              f"{result['talkers_disconnected'] or 'none'}")
        for r in result["rounds"]:
            print(f"  round: {r['seconds']:.1f} s; statusdesk read {r['bot_received']} lines "
                  f"({r['bot_ignored']} skipped unparsed), bare client counted "
                  f"{r['bare_received']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 channels, 4,000 chatter lines, 2 rounds")
    parser.add_argument("--channels", type=int, default=None, help="0: no broadcast")
    parser.add_argument("--chatter", type=int, default=None, help="0: no chatter")
    parser.add_argument("--talkers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--servers", default="inspircd,ngircd,exempt",
                        help="broadcast on which of inspircd,ngircd,exempt")
    parser.add_argument("--role", choices=["bot", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.channels is None:
        args.channels = 10 if args.quick else 50
    if args.chatter is None:
        args.chatter = 4_000 if args.quick else 20_000
    if args.rounds is None:
        args.rounds = 2 if args.quick else 3
    if args.role == "bot":
        bot_reader(args.port, args.channel)
    elif args.role == "bare":
        bare_reader(args.port, args.channel, args.chatter)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
