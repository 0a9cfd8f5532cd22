"""One update to 5,000 confirmed subscribers: how long until the last mail is accepted, and
what the burst does to chat.

    .venv/bin/python bench/subscribers_notify.py [--subscribers 5000] [--per-minute 1000000]

Starts `statusdesk run` (SQLite, console on a pipe) with `subscribers.email` pointing at an
aiosmtpd server in this process (plain SMTP on loopback; it counts mails and notes when each
was accepted, nothing else). First the chat latency of `#log 1 ...` (a write, answered on
the console) is measured with nobody subscribed; then the subscribers are written straight
into the database as confirmed, `#incident 1 identified ...` is typed, and the time from
typing it to the last mail accepted is measured while `#log` commands keep being typed, one
at a time, each waiting for its answer, 100 ms apart. `--per-minute` is the configured
rate: the default is high enough to measure the machine rather than the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.subscribers.tokens import digest, new_nonce
from storage.db import open_store, upgrade
from storage.models import utcnow
from tests.console_bot import Bot, wait_for_http, write_console_config
from tests.servers.ports import free_port

CHAT_PAUSE = 0.1
"""Between chat commands during the burst: a busy incident channel, not a flood."""


class Counting:
    """Counts accepted mails and notes the time of each (monotonic)."""

    def __init__(self) -> None:
        self.accepted: list[float] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.accepted.append(time.monotonic())
        return "250 OK"


async def add_subscribers(db_url: str, count: int) -> None:
    store = open_store(db_url)
    try:
        now = utcnow()
        async with store.transaction() as tx:
            for n in range(count):
                row = await tx.subscribers.add(
                    f"bench{n}@example.net", [], at=now, created_from=None,
                    unsubscribe_hash=digest(new_nonce()), nonce=new_nonce())
                row.confirmed_at = now
    finally:
        await store.close()


def command_latency(bot: Bot, n: int) -> float:
    """Type one `#log`, wait for its answer; seconds."""
    started = time.monotonic()
    bot.type(f"#log 1 bench note {n}")
    deadline = started + 60
    while time.monotonic() < deadline:
        try:
            line = bot.lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if "Noted on incident #1." in line:
            return time.monotonic() - started
    raise RuntimeError(f"no answer to #log: {bot.stderr()[-2000:]}")


def summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{name}: {len(ordered)} commands, p50 {statistics.median(ordered) * 1000:.1f} ms,"
            f" p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--per-minute", type=int, default=1_000_000)
    parser.add_argument("--baseline-commands", type=int, default=100)
    args = parser.parse_args()

    counting = Counting()
    smtp_port = free_port()
    controller = Controller(counting, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        store = open_store(db_url)
        asyncio.run(upgrade(store.engine))
        asyncio.run(store.close())
        extra = ("subscribers:\n"
                 f"  email: {{host: 127.0.0.1, port: {smtp_port}, starttls: false,"
                 f" from: status@example.org, per_minute: {args.per_minute}}}\n")
        config, port = write_console_config(tmp, db_url, extra=extra)
        bot = Bot(config, tmp)
        try:
            wait_for_http(port)
            bot.type("#incident open sev3 Bench incident")
            baseline = [command_latency(bot, n) for n in range(args.baseline_commands)]
            asyncio.run(add_subscribers(db_url, args.subscribers))
            started = time.monotonic()
            bot.type("#incident 1 identified one update for everyone")
            during: list[float] = []
            n = 0
            while len(counting.accepted) < args.subscribers:
                if time.monotonic() - started > 1800:
                    raise RuntimeError(f"only {len(counting.accepted)} mails in 30 min")
                during.append(command_latency(bot, 100_000 + n))
                n += 1
                time.sleep(CHAT_PAUSE)
            last = counting.accepted[-1]
            first = counting.accepted[0]
            code, stderr = bot.close()
            if code != 0:
                raise RuntimeError(f"bot exited {code}: {stderr[-2000:]}")
        finally:
            if bot.process.poll() is None:
                bot.kill()
            controller.stop()
    total = last - started
    print(f"subscribers: {args.subscribers}, per_minute: {args.per_minute}")
    print(f"command to last mail accepted: {total:.2f} s "
          f"(first mail after {first - started:.2f} s); "
          f"{args.subscribers / (last - first):.0f} mails/s once started")
    print(summary("chat #log latency, nobody subscribed", baseline))
    print(summary("chat #log latency during the burst", during))
    implied = args.subscribers / 600
    print(f"at the default per_minute 600 the same burst takes {implied:.1f} min "
          f"({implied * 60:.0f} s)")


if __name__ == "__main__":
    main()
