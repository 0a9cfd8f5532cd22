"""Incident export against its floor, and the event loop during it: SQLite and PostgreSQL.

    .venv/bin/python bench/export.py [--events 50000] [--pairs 7] [--quick]

One incident with --events timeline events (the mix of bench/incident_log.py). Per
backend, --pairs interleaved pairs of (the JSON export | the plain-read floor) and of (the
Markdown export | the floor); the ratio of each pair, and their median, is the figure.
The floor: the same rows read with one plain SQL statement through the same driver
(no ORM, no type conversion) and formatted the plainest way (one JSON array; one Markdown
table line per row by f-string, no escaping), the least any export of those rows can do.
While each export runs, a ticker on the event loop asks to wake every
5 ms; how late it wakes is the loop lag (p99, max), what chat and the page would feel.
Goals (issue 21): export <= 2x the floor, loop-lag p99 <= 20 ms during an export.

The process's garbage collector is set as `statusdesk run` sets its own (start-up heap
frozen, full collections spread: bot/observability/gc_pauses.py) once the database is
filled: without it every full collection walked this process's whole heap, 70-85 ms with
the loop stopped, one or two per export, and the lag measured was the bench's heap, not the
export (SQLite JSON p99 63 ms, 6 ms with it, same run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from incident_log import fill  # the same fill as bench/incident_log.py

from bot.incidents.export import export_json, export_markdown
from bot.observability.gc_pauses import freeze_startup_heap, spread_full_collections
from storage.db import open_store, upgrade
from storage.unit_of_work import Store
from tests.servers.postgres import throwaway_database

TICK = 0.005


class LoopLag:
    """Wakes every TICK seconds and records how late (wall clock), and how much CPU the
    event loop's thread spent between two wake-ups (`held`): on a busy shared machine the
    first also counts time the process waited for a core, the second only work done on the
    loop."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self.held: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK
            cpu = time.thread_time()
            await asyncio.sleep(TICK)
            self.late.append(max(0.0, loop.time() - due))
            self.held.append(time.thread_time() - cpu)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def p99(self, held: bool = False) -> float:
        ordered = sorted(self.held if held else self.late)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def export_once(store: Store, incident_id: int,
                      writer: Callable[..., AsyncIterator[str]]) -> int:
    size = 0
    async with store.reading() as tx:
        incident = await tx.incidents.get(incident_id)
        assert incident is not None
        async for chunk in writer(incident, tx.timeline):
            size += len(chunk)
    return size


async def floor_once(store: Store, incident_id: int, fmt: str) -> int:
    """Read the rows with one plain statement and format them the plainest way: one JSON
    array (json), one table line per row with f-strings (markdown)."""
    sql = ("SELECT id, at, kind, actor, identity, transport, network, channel, old_value, "
           "new_value, text, public FROM incident_events WHERE incident_id = "
           f"{int(incident_id)} ORDER BY id")
    async with store.engine.connect() as connection:
        rows = (await connection.exec_driver_sql(sql)).all()
    if fmt == "json":
        return len(json.dumps([[str(v) if v is not None else None for v in row]
                               for row in rows], ensure_ascii=False))
    return len("".join([f"| {r[1]} | {r[3]} | {r[6]}/{r[7]} | {r[2]} | {r[8] or ''} "
                        f"{r[9] or ''} {r[10]} |\n" for r in rows]))


async def timed(action: Callable[[], Any]) -> tuple[float, LoopLag]:
    with LoopLag() as lag:
        started = time.perf_counter()
        await action()
        seconds = time.perf_counter() - started
    return seconds, lag


async def bench_backend(name: str, url: str, args: argparse.Namespace) -> list[str]:
    store = open_store(url)
    await upgrade(store.engine)
    big_id = await fill(store, 100, args.events, args.events)
    freeze_startup_heap()
    spread_full_collections()
    out = [f"{name}: one incident of {args.events} events"]
    for label, writer in (("json", export_json), ("markdown", export_markdown)):
        floors: list[float] = []
        await export_once(store, big_id, writer)  # warm-up
        await floor_once(store, big_id, label)
        ratios, exports, lags, helds, worst = [], [], [], [], 0.0
        for _ in range(args.pairs):
            seconds, lag = await timed(lambda w=writer: export_once(store, big_id, w))
            floor, _ = await timed(lambda f=label: floor_once(store, big_id, f))
            ratios.append(seconds / floor)
            exports.append(seconds)
            floors.append(floor)
            lags.append(lag.p99())
            helds.append(lag.p99(held=True))
            worst = max(worst, max(lag.late, default=0.0))
        ratio = statistics.median(ratios)
        lag_p99 = statistics.median(lags) * 1000
        held_p99 = statistics.median(helds) * 1000
        out.append(
            f"  export {label}: {statistics.median(exports):.2f} s, floor "
            f"{statistics.median(floors):.2f} s, ratio {ratio:.2f}x median of {args.pairs} "
            f"pairs ({min(ratios):.2f}-{max(ratios):.2f}) (goal <= 2x: "
            f"{'met' if ratio <= 2 else 'NOT met'}); loop lag during it p99 {lag_p99:.1f} ms, "
            f"max {worst * 1000:.1f} ms (goal p99 <= 20 ms: "
            f"{'met' if lag_p99 <= 20 else 'NOT met'}); loop thread CPU between 5 ms ticks "
            f"p99 {held_p99:.1f} ms")
    await store.close()
    return out


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="10,000 events, 3 pairs")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.quick:
        args.events, args.pairs = 10_000, 3
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            lines += await bench_backend("sqlite", f"sqlite+aiosqlite:///{tmp}/export.db", args)
        if args.backend in ("postgresql", "both"):
            async with throwaway_database("export") as pg_url:
                lines += await bench_backend("postgresql", pg_url, args)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
