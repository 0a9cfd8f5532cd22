"""`#now` and the page rebuild's load with 100,000 captured chat lines in an open incident.

    .venv/bin/python bench/now_query.py [--lines 100000] [--pairs 21] [--quick]

Two databases per backend, filled alike: one incident open through the desk, then --lines
timeline rows in it, 98% captured chat (private) and 2% public notes spread through them,
and nine other open incidents. One database is at head; in the other the index that keeps
public reads away from captured chat (ix_incident_events_public, migration 0013) is dropped,
as before issue 21. Then --pairs interleaved pairs of (`#now` through `Desk.handle` on each)
and of (the page rebuild's load, `load_page_state`, on each); medians and the ratio.
Goal (issue 21): `#now` <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.ports import Channel, Identity, Message
from bot.web.state import load_page_state
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.db import open_store, upgrade
from storage.models import TimelineEntry
from storage.unit_of_work import Store
from tests.servers.postgres import start_postgres

OPERATOR = Identity(transport="irc", nick="alice", network="oftc", account="alice")
READER = Identity(transport="irc", nick="bob", network="oftc")
WHITELIST = Whitelist([Principal("alice", frozenset({Role.ADMIN}), irc_account="alice")])
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def message(identity: Identity, line: str) -> Message:
    return Message("irc", "oftc", "#chan0", identity.nick, identity, line)


async def filled(url: str, lines: int, *, with_index: bool) -> tuple[Store, Desk]:
    store = open_store(url)
    await upgrade(store.engine)
    desk = Desk(store, EventBus(), WHITELIST, lambda: [Channel("irc", "oftc", "#chan0")],
                bot_nick="statusdesk")
    for n in range(10):
        await desk.handle(message(OPERATOR, f"#incident open sev2 Outage {n}"))
    async with store.engine.begin() as connection:
        batch: list[dict[str, Any]] = []
        for n in range(lines):
            public = n % 50 == 0
            batch.append({
                "incident_id": 1, "at": T0 + timedelta(seconds=n),
                "kind": "note" if public else "chat", "actor": "carol",
                "identity": None, "transport": "irc", "network": "oftc", "channel": "#chan0",
                "old_value": None, "new_value": None,
                "text": f"line {n}: the mirrors answer in 40 ms again", "public": public})
            if len(batch) == 10_000:
                await connection.execute(insert(TimelineEntry), batch)
                batch = []
        if batch:
            await connection.execute(insert(TimelineEntry), batch)
        if not with_index:
            await connection.execute(text("DROP INDEX ix_incident_events_public"))
        await connection.execute(text("ANALYZE"))
    return store, desk


async def median_pairs(new: Callable[[], Awaitable[Any]], old: Callable[[], Awaitable[Any]],
                       pairs: int) -> tuple[float, float, float, float]:
    """Median wall ms of each, then median CPU ms of each (the process's, every thread):
    on a shared machine the wall time includes waiting for a core; CPU time does not."""
    await new()
    await old()
    walls: tuple[list[float], list[float]] = ([], [])
    cpus: tuple[list[float], list[float]] = ([], [])
    for _ in range(pairs):
        for side, action in enumerate((new, old)):
            started, cpu = time.perf_counter(), time.process_time()
            await action()
            walls[side].append(time.perf_counter() - started)
            cpus[side].append(time.process_time() - cpu)
    return (statistics.median(walls[0]) * 1000, statistics.median(walls[1]) * 1000,
            statistics.median(cpus[0]) * 1000, statistics.median(cpus[1]) * 1000)


async def bench_backend(name: str, urls: tuple[str, str], args: argparse.Namespace
                        ) -> list[str]:
    new_store, new_desk = await filled(urls[0], args.lines, with_index=True)
    old_store, old_desk = await filled(urls[1], args.lines, with_index=False)
    answer = await new_desk.handle(message(READER, "#now"))
    assert answer, "#now gave no answer"
    now_new, now_old, now_cpu, now_old_cpu = await median_pairs(
        lambda: new_desk.handle(message(READER, "#now")),
        lambda: old_desk.handle(message(READER, "#now")), args.pairs)
    page_new, page_old, page_cpu, page_old_cpu = await median_pairs(
        lambda: load_page_state(new_store, title="Status", url="http://status.example"),
        lambda: load_page_state(old_store, title="Status", url="http://status.example"),
        max(5, args.pairs // 3))
    await new_store.close()
    await old_store.close()
    return [
        f"{name}: one open incident with {args.lines} rows (98% captured chat), 9 more open",
        f"  #now: {now_new:.2f} ms median of {args.pairs} pairs; without the index "
        f"{now_old:.2f} ms; ratio {now_new / now_old:.2f}x (goal <= 5 ms: "
        f"{'met' if now_new <= 5 else 'NOT met'}); CPU {now_cpu:.2f} ms vs "
        f"{now_old_cpu:.2f} ms",
        f"  page rebuild's load (load_page_state): {page_new:.1f} ms; without the index "
        f"{page_old:.1f} ms; ratio {page_new / page_old:.2f}x; CPU {page_cpu:.1f} ms vs "
        f"{page_old_cpu:.1f} ms",
    ]


async def main() -> int:
    logging.getLogger("statusdesk").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="20,000 lines, 7 pairs")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.quick:
        args.lines, args.pairs = 20_000, 7
    out: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            out += await bench_backend("sqlite", (f"sqlite+aiosqlite:///{tmp}/new.db",
                                                  f"sqlite+aiosqlite:///{tmp}/old.db"), args)
        if args.backend in ("postgresql", "both"):
            import asyncpg

            server = start_postgres(durable=True)
            try:
                admin = await asyncpg.connect(server.dsn)
                for database in ("now_new", "now_old"):
                    await admin.execute(f"CREATE DATABASE {database}")
                await admin.close()
                out += await bench_backend("postgresql", (server.url("now_new"),
                                                          server.url("now_old")), args)
            finally:
                server.stop()
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
