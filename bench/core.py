"""Commands per second through the desk, on SQLite and on PostgreSQL, measured side by side.

    .venv/bin/python bench/core.py [--commands 20000] [--channels 10]

Pushes the same deterministic mix of commands (alerts, oks, notices, status logs, incident
opens and state changes, notes, questions, kudos, refused attempts) through `Desk.handle`, one
at a time as chat delivers them, and prints commands/s and p50/p99 latency per backend. Each
alert, notice and ok queues one outbox row per channel, so `--channels` sets the fan-out.
PostgreSQL is STATUSDESK_TEST_PG_URL if set, else a throwaway cluster (initdb/pg_ctl) with
its default durability (fsync and synchronous_commit on); SQLite runs as statusdesk runs it
(WAL, synchronous=NORMAL).
The desk's own log is silenced (the refusals would each log a warning).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.ports import Channel, Identity, Message
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.db import open_store, upgrade
from tests.servers.postgres import throwaway_database

OPERATOR = Identity(transport="irc", nick="alice", network="oftc", account="alice")
STRANGER = Identity(transport="irc", nick="mallory", network="oftc")
WHITELIST = Whitelist([Principal("alice", frozenset({Role.ADMIN}), irc_account="alice")])


@dataclass
class Result:
    backend: str
    commands: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.commands / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def workload(count: int, seed: int = 7) -> list[tuple[Identity, str]]:
    """A deterministic mix shaped like a busy incident channel."""
    rng = random.Random(seed)
    lines: list[tuple[Identity, str]] = []
    open_ids: list[int] = []
    next_id = 1
    alert = False
    for n in range(count):
        roll = rng.random()
        if roll < 0.04:
            lines.append((OPERATOR, f"#status alert Gate is broken, run {n}"))
            if not alert:
                open_ids.append(next_id)
                next_id += 1
            alert = True
        elif roll < 0.07 and alert:
            lines.append((OPERATOR, "#status ok Gate fixed"))
            open_ids.pop(0) if open_ids else None
            alert = False
        elif roll < 0.15:
            lines.append((OPERATOR, f"#status notice Mirrors lagging, update {n}"))
        elif roll < 0.22:
            lines.append((OPERATOR, f"#status log restarted zuul-executor{n % 12:02d}"))
        elif roll < 0.27:
            lines.append((OPERATOR, f"#incident open sev{rng.randint(1, 4)} Outage number {n}"))
            open_ids.append(next_id)
            next_id += 1
        elif roll < 0.42 and open_ids:
            target = rng.choice(open_ids)
            state = rng.choice(["identified", "monitoring", "investigating"])
            lines.append((OPERATOR, f"#incident {target} {state} progress report {n}"))
        elif roll < 0.50 and len(open_ids) > 3:
            # Resolve as often as incidents open, so a handful stay open as in real life.
            target = open_ids.pop(0)
            lines.append((OPERATOR, f"#incident {target} resolved"))
        elif roll < 0.62 and open_ids:
            lines.append((OPERATOR, f"#log #{rng.choice(open_ids)} checked the logs, step {n}"))
        elif roll < 0.82:
            lines.append((STRANGER, rng.choice(["statusdesk: what's happening?", "#now",
                                                "#incident list"])))
        elif roll < 0.90:
            lines.append((STRANGER, f"#thanks everyone for fixing thing {n}"))
        else:
            lines.append((STRANGER, f"#status alert not allowed {n}"))
    return lines


async def run_backend(backend: str, url: str, lines: list[tuple[Identity, str]],
                      channels: int) -> Result:
    store = open_store(url)
    await upgrade(store.engine)
    targets = [Channel("irc", "oftc", f"#chan{i}") for i in range(channels)]
    desk = Desk(store, EventBus(), WHITELIST, lambda: targets, bot_nick="statusdesk")
    warmup = lines[:200]
    for identity, text in warmup:
        await desk.handle(Message("irc", "oftc", "#chan0", identity.nick, identity, text))
    latencies: list[float] = []
    started = time.perf_counter()
    for identity, text in lines:
        t0 = time.perf_counter()
        await desk.handle(Message("irc", "oftc", "#chan0", identity.nick, identity, text))
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    await store.close()
    return Result(backend, len(lines), elapsed, latencies)


async def main() -> int:
    # The refused attempts would each log a warning; measure the desk and the database.
    logging.getLogger("statusdesk").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--channels", type=int, default=10)
    args = parser.parse_args()
    lines = workload(args.commands)

    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        results.append(await run_backend("sqlite", sqlite_url, lines, args.channels))

        async with throwaway_database("bench") as pg_url:
            results.append(await run_backend("postgresql", pg_url, lines, args.channels))

    print(f"{args.commands} mixed commands, {args.channels} channels, one at a time")
    print(f"{'backend':<12}{'commands/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for r in results:
        print(f"{r.backend:<12}{r.rate:>12.0f}{r.percentile(0.5):>10.2f}"
              f"{r.percentile(0.99):>10.2f}{max(r.latencies) * 1000:>10.2f}")
    sqlite, pg = results
    print(f"postgresql/sqlite throughput ratio: {pg.rate / sqlite.rate:.2f}")
    print(f"mean latency: sqlite {statistics.mean(sqlite.latencies) * 1000:.2f} ms, "
          f"postgresql {statistics.mean(pg.latencies) * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
