"""The incident bundle at scale: a 50,000-event incident in a 1,000,000-event SQLite database.

    .venv/bin/python bench/bundle.py [--incidents 10000] [--events 1000000] [--big 50000]
                                     [--runs 3] [--keep DB]

Fills the database with bulk inserts (bench/incident_log.py's rows: an eighth of them
captured chat, in one channel), then bundles the big incident in a fresh process per run, as
`statusdesk incidents bundle` does: wall time of the bundle, and peak RSS growth (VmHWM less
the RSS once imported and connected). Goal: <= 100 MB for 50,000 events.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from incident_log import fill

from storage.db import open_store, upgrade

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import asyncio, json, sys, time
from bot.incidents.bundle import write_bundle
from storage.db import open_store

def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

async def main(url, incident, out):
    store = open_store(url)
    async with store.reading() as tx:
        await tx.incidents.get(incident)
    before = kib("VmRSS")
    started = time.perf_counter()
    with open(out, "wb") as handle:
        await write_bundle(store, incident, handle)
    seconds = time.perf_counter() - started
    await store.close()
    print(json.dumps({"seconds": seconds, "before_kib": before, "peak_kib": kib("VmHWM")}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


async def prepare(url: str, incidents: int, events: int, big: int) -> int:
    store = open_store(url)
    try:
        await upgrade(store.engine)
        started = time.perf_counter()
        big_id = await fill(store, incidents, events, big)
        print(f"filled {events} events in {incidents} incidents in "
              f"{time.perf_counter() - started:.1f} s")
        return big_id
    finally:
        await store.close()


async def migrate(url: str) -> None:
    store = open_store(url)
    try:
        await upgrade(store.engine)
    finally:
        await store.close()


def bundle_once(url: str, incident: int, out: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, url, str(incident), str(out)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="database file to reuse (filled if absent)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        db = args.keep or Path(scratch) / "bench.db"
        url = f"sqlite+aiosqlite:///{db}"
        big_id = args.incidents // 2
        if not db.exists():
            big_id = asyncio.run(prepare(url, args.incidents, args.events, args.big))
        else:
            asyncio.run(migrate(url))  # a kept database may predate the newest migration
        out = Path(scratch) / "bundle.tar.gz"
        runs = [bundle_once(url, big_id, out) for _ in range(args.runs)]
        seconds = statistics.median(r["seconds"] for r in runs)
        growth = max(r["peak_kib"] - r["before_kib"] for r in runs) / 1024
        size = out.stat().st_size / 1024 / 1024
        print(f"bundle of a {args.big}-event incident from a {args.events}-event database "
              f"(SQLite): {seconds:.2f} s (median of {args.runs}), peak RSS growth "
              f"{growth:.1f} MB (worst of {args.runs}), {size:.1f} MB .tar.gz "
              f"(goal <= 100 MB)")


if __name__ == "__main__":
    main()
