"""IRC and Matrix as one desk: how long an alert typed on Matrix takes to reach both networks.

    .venv/bin/python bench/cross_network.py [--alerts 50] [--gap 1.0]

Starts a throwaway ngIRCd and a throwaway Synapse (tests/servers/; Synapse comes from its own
cached virtualenv, built on first use), and statusdesk as a child process (`statusdesk run`,
SQLite) with one IRC channel and one Matrix room. The IRC network is configured with
`rate: {burst: 20, per_second: 10}`, so the bot's own flood control never holds a line back
here: what is measured is the path through Synapse, the desk, the outbox and the transports.

Alice (whitelisted, on Matrix) sends `#status alert Bench alert N`; the clock starts just
before her client sends it and stops for each observer when it sees the announcement:
(a) a raw IRC client in the channel reading `NOTICE: Bench alert N`, and (b) Bob, a second
Matrix client in the room, reading the `m.notice`. Then Alice sends `#status ok`, the script
waits until both the IRC and the Matrix topic are back, and pauses `--gap` seconds so that
ngIRCd's per-client throttle (about 1.5 lines a second sustained, see the IRC section of
bench/RESULTS.md) is drained before the next alert: each alert is a fresh announcement on an
idle bot. Printed: p50, p95 and max of both latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.irc_client import RawClient
from tests.matrix_client import PASSWORD, MatrixUser, Seen
from tests.servers.ngircd import NgircdServer, start_ngircd
from tests.servers.ports import free_port
from tests.servers.synapse import SynapseServer, start_synapse

CHANNEL = "#bench"
BOT_NICK = "deskbench"
ORIGINAL_TOPIC = "Bench channel"


def write_config(directory: Path, ngircd: NgircdServer, synapse: SynapseServer, bot: str,
                 room: str, alice: str, web_port: int) -> Path:
    path = directory / "config.yaml"
    path.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{directory / 'bench.db'}'}}\n"
        f"status_page: {{listen: '127.0.0.1:{web_port}', title: Bench}}\n"
        "incidents: {remind_after: 1d}\n"
        "irc:\n"
        f"  - {{name: bench, host: '{ngircd.host}', port: {ngircd.port}, tls: false,"
        f" nick: {BOT_NICK}, channels: ['{CHANNEL}'], rate: {{burst: 20, per_second: 10}}}}\n"
        "matrix:\n"
        f"  homeserver: {synapse.base_url}\n"
        f"  user_id: '{bot}'\n"
        f"  password: '{PASSWORD}'\n"
        f"  rooms: ['{room}']\n"
        "users:\n"
        f"  - {{name: alice, roles: [status], matrix: '{alice}'}}\n"
    )
    return path


def start_bot(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`statusdesk run` in a child process, so its work does not share our event loop and
    the observers' clocks read only what the bot and the servers cost."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "-c", str(config)],
            cwd=config.parent, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, env={**os.environ, "USER": "bench"},
        )


def health(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            parsed: dict[str, Any] = json.loads(response.read())
            return parsed
    except (OSError, urllib.error.URLError, ValueError):
        return {}


async def ready(port: int, process: subprocess.Popen[bytes], room: str, log: Path) -> None:
    """Both transports connected and in their channel (the bot creates the IRC channel, so
    it holds op there and can set the topic)."""
    for _ in range(1200):
        if process.poll() is not None:
            output = await asyncio.to_thread(log.read_text, errors="replace")
            raise RuntimeError(f"statusdesk exited: {output[-3000:]}")
        transports = (await asyncio.to_thread(health, port)).get("transports", {})
        irc, matrix = transports.get("irc/bench", {}), transports.get("matrix/localhost", {})
        if (irc.get("channels", {}).get(CHANNEL) == "joined"
                and matrix.get("channels", {}).get(room) == "joined"):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"statusdesk never joined both sides: {transports}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"{name}: p50 {statistics.median(ms):.0f} ms, p95 {percentile(ms, 0.95):.0f} ms,"
            f" max {max(ms):.0f} ms (n={len(ms)})")


async def timed(waiting: Any, started: float) -> float:
    await waiting
    return time.monotonic() - started


async def one_alert(number: int, alice: MatrixUser, bob: MatrixUser, watcher: RawClient,
                    room: str, bot: str) -> tuple[float, float]:
    text = f"Bench alert {number}: object storage is slow"
    since, mark = watcher.mark(), len(bob.seen)

    def on_matrix(seen: Seen) -> bool:
        return (seen.room_id == room and seen.sender == bot and seen.kind == "m.notice"
                and seen.body == f"NOTICE: {text}")

    irc_seen = watcher.wait_for(lambda m: m.command == "NOTICE" and m.nick == BOT_NICK
                                and m.text == f"NOTICE: {text}", since=since, within=60)
    matrix_seen = bob.wait_for(on_matrix, within=60, after=mark)
    started = time.monotonic()
    tasks = [asyncio.ensure_future(timed(irc_seen, started)),
             asyncio.ensure_future(timed(matrix_seen, started))]
    await alice.say(room, f"#status alert {text}")
    irc_latency, matrix_latency = await asyncio.gather(*tasks)

    # Wait for the alert's topic on both sides, then clear it and wait for the originals.
    await watcher.wait_for(lambda m: m.command == "TOPIC" and m.text == text, since=since,
                           within=60)
    await bob.wait_for(lambda s: s.room_id == room and s.kind == "topic" and s.body == text,
                       within=60, after=mark)
    since, mark = watcher.mark(), len(bob.seen)
    await alice.say(room, "#status ok")
    await watcher.wait_for(lambda m: m.command == "TOPIC" and m.text == ORIGINAL_TOPIC,
                           since=since, within=60)
    await bob.wait_for(lambda s: s.room_id == room and s.kind == "topic"
                       and s.body == ORIGINAL_TOPIC, within=60, after=mark)
    return irc_latency, matrix_latency


async def bench(alerts: int, gap: float) -> None:
    ngircd = start_ngircd()
    try:
        print("starting Synapse (the first run builds its virtualenv)...", flush=True)
        synapse = await asyncio.to_thread(start_synapse)
    except BaseException:
        ngircd.cleanup()
        raise
    process: subprocess.Popen[bytes] | None = None
    clients: list[MatrixUser] = []
    watcher: RawClient | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="statusdesk-cross-") as tmp:
            directory = Path(tmp)
            tag = uuid.uuid4().hex[:6]
            bot = synapse.register(f"bot{tag}", PASSWORD)
            synapse.register(f"alice{tag}", PASSWORD)
            synapse.register(f"bob{tag}", PASSWORD)
            alice = await MatrixUser.login(synapse, f"alice{tag}")
            clients.append(alice)
            bob = await MatrixUser.login(synapse, f"bob{tag}")
            clients.append(bob)
            room = await alice.create_room(invite=(bot, bob.user_id), power={bot: 50},
                                           topic=ORIGINAL_TOPIC)
            await bob.wait_until(lambda: room in bob.client.rooms)

            web_port = free_port()
            config = write_config(directory, ngircd, synapse, bot, room, alice.user_id,
                                  web_port)
            log = directory / "statusdesk.log"
            process = await asyncio.to_thread(start_bot, config, log)
            await ready(web_port, process, room, log)
            watcher = await RawClient.connect(ngircd.host, ngircd.port, "watcher")
            await watcher.join(CHANNEL)
            since = watcher.mark()
            await watcher.send(f"TOPIC {CHANNEL} :{ORIGINAL_TOPIC}")
            await watcher.wait_for(lambda m: m.command == "TOPIC", since=since)
            await asyncio.sleep(1.0)

            irc_times: list[float] = []
            matrix_times: list[float] = []
            started = time.monotonic()
            for number in range(1, alerts + 1):
                irc_latency, matrix_latency = await one_alert(number, alice, bob, watcher,
                                                              room, bot)
                irc_times.append(irc_latency)
                matrix_times.append(matrix_latency)
                if number % 10 == 0:
                    print(f"  {number}/{alerts} alerts", flush=True)
                await asyncio.sleep(gap)
            elapsed = time.monotonic() - started
            disconnected = watcher.matching(lambda m: m.command == "ERROR")
            bot_health = (await asyncio.to_thread(health, web_port)).get("transports", {})
            irc_connects = bot_health.get("irc/bench", {}).get("connects")

            print(f"{alerts} alerts from Matrix (each followed by #status ok) in {elapsed:.0f} s")
            print(summary("Matrix send -> NOTICE on IRC     ", irc_times))
            print(summary("Matrix send -> m.notice on Matrix", matrix_times))
            print(f"IRC connections made by the bot: {irc_connects}; "
                  f"watcher disconnected: {bool(disconnected)}")
    finally:
        if watcher is not None:
            await watcher.close()
        for client in clients:
            await client.close()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        ngircd.cleanup()
        await asyncio.to_thread(synapse.destroy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--gap", type=float, default=1.0,
                        help="seconds of quiet after each alert's #status ok")
    args = parser.parse_args()
    asyncio.run(bench(args.alerts, args.gap))


if __name__ == "__main__":
    main()
