"""Incident logs at scale: 10,000 incidents and 1,000,000 timeline events, SQLite and PostgreSQL.

    .venv/bin/python bench/incident_log.py [--incidents 10000] [--events 1000000] [--big 50000]

Fills each database (one incident gets --big events, the others share the rest), then
measures, per backend: the Markdown and JSON export of the big incident (time, and peak
Python memory with tracemalloc in a separate run), and the queries behind /history and an
incident page (median of 50), and prints the query plans so you can see the indexes used.
Goals: export <= 1 s and <= 100 MB extra memory; page queries <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bot.incidents.export import export_json, export_markdown
from bot.web.snapshot import HISTORY_PAGE_SIZE
from bot.web.state import incident_view
from storage.db import open_store, upgrade
from storage.models import Incident, TimelineEntry
from storage.unit_of_work import Store
from tests.servers.postgres import throwaway_database

T0 = datetime(2025, 1, 1, tzinfo=UTC)
KINDS = ["note", "state", "status.notice", "chat", "severity", "lead", "bug", "topic"]
BATCH = 10_000


async def fill(store: Store, incidents: int, events: int, big: int) -> int:
    """Returns the id of the big incident."""
    rng = random.Random(1)
    async with store.engine.begin() as connection:
        rows = []
        for n in range(1, incidents + 1):
            opened = T0 + timedelta(hours=n)
            resolved = n <= incidents - 10
            rows.append({
                "id": n, "title": f"Outage {n}: service degraded", "severity": n % 4 + 1,
                "state": "resolved" if resolved else "investigating", "lead": "alice",
                "manager": "bob", "is_alert": False, "opened_by": "alice", "opened_at": opened,
                "acknowledged_at": None, "identified_at": opened + timedelta(minutes=20),
                "monitoring_at": None,
                "resolved_at": opened + timedelta(hours=2) if resolved else None,
                "updated_at": opened + timedelta(hours=2),
            })
        for start in range(0, len(rows), BATCH):
            await connection.execute(insert(Incident), rows[start:start + BATCH])
        big_id = incidents // 2
        rest = events - big
        batch: list[dict[str, Any]] = []
        written = 0
        for n in range(events):
            incident_id = big_id if n < big else 1 + (n - big) * incidents // max(rest, 1)
            kind = KINDS[n % len(KINDS)]
            batch.append({
                "incident_id": incident_id, "at": T0 + timedelta(seconds=n), "kind": kind,
                "actor": rng.choice(["alice", "bob", "carol", "dave"]),
                "identity": "alice via irc/oftc account=alice", "transport": "irc",
                "network": "oftc", "channel": "#opendev",
                "old_value": "identified" if kind == "state" else None,
                "new_value": "monitoring" if kind == "state" else None,
                "text": f"event {n}: checked the mirrors, all nodes answering in 40 ms",
                "public": kind in ("state", "status.notice"),
            })
            if len(batch) == BATCH:
                await connection.execute(insert(TimelineEntry), batch)
                written += len(batch)
                batch = []
        if batch:
            await connection.execute(insert(TimelineEntry), batch)
        if store.dialect == "postgresql":
            # Explicit ids bypassed the sequence; and give the planner fresh statistics.
            await connection.execute(text(
                "SELECT setval('incidents_id_seq', (SELECT max(id) FROM incidents))"))
            await connection.execute(text("ANALYZE"))
        else:
            await connection.execute(text("ANALYZE"))
    return big_id


async def export_once(store: Store, incident_id: int, writer: Any) -> int:
    size = 0
    async with store.reading() as tx:
        incident = await tx.incidents.get(incident_id)
        assert incident is not None
        async for chunk in writer(incident, tx.timeline):
            size += len(chunk)
    return size


async def timed(action: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Median milliseconds of `repeat` runs (after one warm-up)."""
    await action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def history_query(store: Store) -> None:
    async with store.reading() as tx:
        rows = await tx.incidents.list_resolved(limit=HISTORY_PAGE_SIZE + 1, offset=200)
        entries = await tx.timeline.entries_of([i.id for i in rows[:HISTORY_PAGE_SIZE]],
                                               public_only=True)
        [incident_view(i, entries[i.id]) for i in rows[:HISTORY_PAGE_SIZE]]


async def incident_page_query(store: Store, incident_id: int) -> None:
    async with store.reading() as tx:
        incident = await tx.incidents.get(incident_id)
        assert incident is not None
        entries = await tx.timeline.entries_of([incident.id], public_only=True)
        incident_view(incident, entries[incident.id])


async def plans(store: Store, big_id: int) -> list[str]:
    queries = {
        "history": "SELECT id FROM incidents WHERE state = 'resolved' "
                   "ORDER BY resolved_at DESC, id DESC LIMIT 21 OFFSET 200",
        "incident timeline": f"SELECT * FROM incident_events WHERE incident_id = {big_id} "
                             "ORDER BY id",
        "export batch": f"SELECT * FROM incident_events WHERE incident_id = {big_id} "
                        "AND id > 1000 ORDER BY id LIMIT 500",
    }
    prefix = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    lines = []
    async with store.engine.connect() as connection:
        for name, sql in queries.items():
            result = await connection.execute(text(prefix + sql))
            plan = " / ".join(str(row[-1]) for row in result)
            lines.append(f"  plan {name}: {plan}")
    return lines


async def bench_backend(name: str, url: str, args: argparse.Namespace) -> list[str]:
    store = open_store(url)
    await upgrade(store.engine)
    started = time.perf_counter()
    big_id = await fill(store, args.incidents, args.events, args.big)
    fill_seconds = time.perf_counter() - started
    out = [f"{name}: filled {args.incidents} incidents / {args.events} events in "
           f"{fill_seconds:.0f}s"]
    for label, writer in (("markdown", export_markdown), ("json", export_json)):
        gc.collect()
        started = time.perf_counter()
        size = await export_once(store, big_id, writer)
        seconds = time.perf_counter() - started
        gc.collect()
        tracemalloc.start()
        await export_once(store, big_id, writer)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.append(f"  export {label} of {args.big} events: {seconds:.2f} s, "
                   f"{size / 1e6:.1f} MB written, peak Python memory {peak / 1e6:.1f} MB "
                   "(goal <= 1 s, <= 100 MB)")
    history = await timed(lambda: history_query(store), 50)
    page = await timed(lambda: incident_page_query(store, 3), 50)
    big_page = await timed(lambda: incident_page_query(store, big_id), 5)
    out.append(f"  /history page 11 query: {history:.1f} ms median (goal <= 20 ms)")
    out.append(f"  incident page query (~{args.events // args.incidents} events): "
               f"{page:.1f} ms median (goal <= 20 ms)")
    out.append(f"  incident page query ({args.big} events, rendered once per change): "
               f"{big_page:.0f} ms median")
    out.extend(await plans(store, big_id))
    await store.close()
    return out


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=50_000)
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        lines += await bench_backend("sqlite", f"sqlite+aiosqlite:///{tmp}/log.db", args)
        async with throwaway_database("incident_log") as pg_url:
            lines += await bench_backend("postgresql", pg_url, args)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
