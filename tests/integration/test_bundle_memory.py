"""The bundle of a 50,000-event incident in bounded memory: members go through spooled
temporary files, never a list of every event. Measured in a fresh process, from its peak RSS
(VmHWM) less its RSS once everything is imported and the store is open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from storage.db import open_store, upgrade
from storage.models import Incident, TimelineEntry

REPO = Path(__file__).resolve().parents[2]
EVENTS = 50_000
LIMIT_MB = 100
T0 = datetime(2026, 1, 1, tzinfo=UTC)

CHILD = """
import asyncio, json, sys
from bot.incidents.bundle import write_bundle
from storage.db import open_store

def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

async def main(url, out):
    store = open_store(url)
    async with store.reading() as tx:  # connect and warm up before the baseline
        await tx.incidents.get(1)
    before = kib("VmRSS")
    with open(out, "wb") as handle:
        await write_bundle(store, 1, handle)
    await store.close()
    print(json.dumps({"before_kib": before, "peak_kib": kib("VmHWM")}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def _fill(url: str) -> None:
    store = open_store(url)
    await upgrade(store.engine)
    try:
        async with store.engine.begin() as connection:
            await connection.execute(insert(Incident), [{
                "id": 1, "title": "A long one", "severity": 2, "state": "investigating",
                "lead": "alice", "manager": "bob", "is_alert": False, "opened_by": "alice",
                "opened_at": T0, "updated_at": T0}])
            for start in range(0, EVENTS, 10_000):
                await connection.execute(insert(TimelineEntry), [{
                    "incident_id": 1, "at": T0 + timedelta(seconds=n),
                    "kind": "chat" if n % 2 else "note", "actor": f"nick{n % 7}",
                    "identity": None, "transport": "irc", "network": "oftc",
                    "channel": f"#chan{n % 5}", "old_value": None, "new_value": None,
                    "text": f"event {n}: checked the mirrors, all nodes answering in 40 ms",
                    "public": False,
                } for n in range(start, start + 10_000)])
    finally:
        await store.close()


async def test_bundle_of_50000_events_stays_under_100_mb(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'big.db'}"
    await _fill(url)
    out = tmp_path / "big.tar.gz"
    done = subprocess.run(  # noqa: ASYNC221 - the measurement needs a process of its own
        [sys.executable, "-c", CHILD, url, str(out)], capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    growth_mb = (figures["peak_kib"] - figures["before_kib"]) / 1024
    print(f"bundle of {EVENTS} events: peak RSS growth {growth_mb:.1f} MB")
    assert growth_mb <= LIMIT_MB
    with tarfile.open(out) as archive:
        members = {m.name: m.size for m in archive.getmembers()}
    assert sorted(members) == sorted(["postmortem.md", "log.json", "bugs.json", "pages.json",
                                      *(f"chat/#chan{n}.log" for n in range(5))])
    assert members["postmortem.md"] > 5 * 1024 * 1024  # really the whole incident
    assert sum(members[f"chat/#chan{n}.log"] for n in range(5)) > EVENTS // 2 * 60
