"""One alert to 10,000 live-update (SSE) clients: how long until the last has it, and what an
idle client costs the bot in memory.

    .venv/bin/python bench/sse_fanout.py [--quick] [--clients 10000] [--rounds 5]

Starts `statusdesk run` (SQLite, console on a pipe, live-client limits raised to let every
client in from 127.0.0.1), then a client process (plain asyncio protocols, no HTTP library, so
it stays light) that opens `--clients` connections to /api/events. The bot's RSS is read
(/proc/PID/status) before the clients connect and once all have their stream open: the
difference divided by the clients is the memory per idle client. Then `#status alert ...` is
typed `--rounds` times (`#status ok` in between), and for each the time from writing the line
to the last client receiving `alert.set` is taken (both processes read the same monotonic
clock). The open-file limit is raised with resource.setrlimit (both processes inherit it).

Goal (issue 21): all 10,000 clients within 500 ms; at most 8 KiB per idle client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.ports import free_port

REPO = Path(__file__).resolve().parent.parent
RESERVE_FDS = 64
"""`status_page.limits.reserve_fds` of the bench's bot: SQLite and the console need few."""


def raise_file_limit(wanted: int) -> int:
    """Raise the open-file limit (soft, and hard where allowed: root may) to `wanted`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        with contextlib.suppress(ValueError, OSError):  # not allowed: the hard one stays
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if target != resource.RLIM_INFINITY and target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --- the client process ---------------------------------------------------------------------


class _Stream(asyncio.Protocol):
    def __init__(self, crowd: _Crowd) -> None:
        self.crowd = crowd
        self.seen = 0
        self.ready = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no asyncio.Transport subclass, but write all the same.
        typing.cast(asyncio.WriteTransport, transport).write(
            b"GET /api/events HTTP/1.1\r\nHost: bench\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        if not self.ready and b"retry:" in data:
            self.ready = True
            self.crowd.on_ready()
        alerts = data.count(b'"alert.set"')
        for _ in range(alerts):
            self.seen += 1
            self.crowd.on_alert(self.seen)

    def connection_lost(self, exc: Exception | None) -> None:
        self.crowd.lost += 1


class _Crowd:
    def __init__(self, size: int) -> None:
        self.size = size
        self.ready = 0
        self.lost = 0
        self.all_ready = asyncio.Event()
        self.received: dict[int, list[float]] = {}
        self.round_done: dict[int, asyncio.Event] = {}

    def on_ready(self) -> None:
        self.ready += 1
        if self.ready == self.size:
            self.all_ready.set()

    def on_alert(self, round_number: int) -> None:
        times = self.received.setdefault(round_number, [])
        times.append(time.perf_counter())
        if len(times) == self.size:
            self.round_done.setdefault(round_number, asyncio.Event()).set()


async def crowd_main(port: int, size: int, rounds: int) -> None:
    crowd = _Crowd(size)
    loop = asyncio.get_running_loop()
    for start in range(0, size, 500):
        await asyncio.gather(*(loop.create_connection(lambda: _Stream(crowd), "127.0.0.1",
                                                      port)
                               for _ in range(min(500, size - start))))
    try:
        await asyncio.wait_for(crowd.all_ready.wait(), 120)
    except TimeoutError:
        print(f"only {crowd.ready} of {size} streams opened ({crowd.lost} closed)", flush=True)
        return
    print("ready", flush=True)
    for number in range(1, rounds + 1):
        done = crowd.round_done.setdefault(number, asyncio.Event())
        with contextlib.suppress(TimeoutError):  # then it says how many had it
            await asyncio.wait_for(done.wait(), 30)
        times = crowd.received.get(number, [])
        print(f"round {number} {len(times)} {max(times, default=0.0):.6f}", flush=True)


# --- the bench ------------------------------------------------------------------------------


async def bench(port: int, bot: subprocess.Popen[str], clients: int, rounds: int
                ) -> tuple[list[float], list[int], float]:
    """(seconds to the last client per round, clients reached per round, KiB per client)."""
    assert bot.stdin is not None
    await asyncio.sleep(3)  # the setup's changes rendered and the heap settled
    before = rss_kib(bot.pid)
    crowd = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--crowd", str(port), str(clients), str(rounds),
        stdout=asyncio.subprocess.PIPE)
    assert crowd.stdout is not None
    line = await asyncio.wait_for(crowd.stdout.readline(), 180)
    assert line.strip() == b"ready", line
    await asyncio.sleep(2)
    per_client = (rss_kib(bot.pid) - before) / clients
    seconds, reached = [], []
    for number in range(1, rounds + 1):
        started = time.perf_counter()
        bot.stdin.write(f"#status alert fan-out round {number}\n")
        bot.stdin.flush()
        words = (await asyncio.wait_for(crowd.stdout.readline(), 60)).split()
        reached.append(int(words[2]))
        seconds.append(float(words[3]) - started)
        await asyncio.sleep(1)
        bot.stdin.write("#status ok round over\n")
        bot.stdin.flush()
        await asyncio.sleep(1)
    await crowd.wait()
    return seconds, reached, per_client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2,000 clients, 2 rounds")
    parser.add_argument("--crowd", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.crowd:
        import uvloop

        uvloop.run(crowd_main(*args.crowd))
        return 0
    clients, rounds = (2000, 2) if args.quick else (args.clients, args.rounds)
    # The bot gives live clients at most half of the connections its limit leaves after
    # `reserve_fds` (1,024) and room for a burst of accepts (bot/web/http_limits.py).
    limit = raise_file_limit(2 * clients + 4096)
    fits = (limit - RESERVE_FDS - 1024) // 2 - 16  # the crowd's own fds are its own
    if fits < clients:
        print(f"the open-file limit is {limit} (the hard limit; raising it needs "
              f"CAP_SYS_RESOURCE): {fits} live clients fit, not {clients}; measuring {fits}")
        clients = fits
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        (work / "config.yaml").write_text(
            f"database: {{url: 'sqlite+aiosqlite:///{work}/bench.db'}}\n"
            "console: true\n"
            f"status_page: {{listen: '127.0.0.1:{port}', title: 'Bench Status',"
            " public_url: 'https://status.example.org',"
            f" limits: {{live_clients: {clients + 100},"
            f" live_clients_per_address: {clients + 100}, reserve_fds: {RESERVE_FDS}}}}}\n"
        )
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "-c", str(work / "config.yaml"),
             "--log-level", "warning"],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        try:
            from bench.page_update import populate, wait_http

            asyncio.run(wait_http(f"http://127.0.0.1:{port}/healthz"))
            populate(bot)
            seconds, reached, per_client = asyncio.run(bench(port, bot, clients, rounds))
        finally:
            if bot.stdin:
                bot.stdin.close()
            bot.wait(timeout=60)
    ms = [s * 1000 for s in seconds]
    print(f"{clients} SSE clients, {rounds} rounds; open-file limit {limit}")
    print("  last client has the alert after (ms): "
          + ", ".join(f"{m:.0f}" for m in ms) + f"; median {statistics.median(ms):.0f}")
    print(f"  clients reached per round: {reached}")
    print(f"  bot RSS per idle client: {per_client:.2f} KiB")
    time_met = statistics.median(ms) <= 500 and all(r == clients for r in reached)
    print(f"  goal <= 500 ms to all: {'met' if time_met else 'NOT met'}; "
          f"goal <= 8 KiB per client: {'met' if per_client <= 8 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
