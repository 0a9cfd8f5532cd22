"""The start-up heap is frozen out of full garbage collections (bot/observability/gc_pauses.py).

Each check runs in a fresh interpreter: freezing is process-wide, and pytest's own heap is
not what `statusdesk run` starts with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.figures import record

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import gc, json, time
import bot.app, bot.web.pages, storage.models  # what `statusdesk run` has loaded when up
from bot.web import pages
pages._env.get_template("incident.html")

def full_collection() -> float:
    started = time.perf_counter()
    gc.collect(2)
    return time.perf_counter() - started

before = min(full_collection() for _ in range(3))
tracked_before = len(gc.get_objects())
from bot.observability.gc_pauses import freeze_startup_heap
frozen = freeze_startup_heap()
after = min(full_collection() for _ in range(3))
print(json.dumps({"frozen": frozen, "tracked_before": tracked_before,
                  "tracked_after": len(gc.get_objects()), "before": before, "after": after}))
"""


def test_freezing_the_start_up_heap_takes_it_out_of_full_collections() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    probe = json.loads(done.stdout)
    # Everything alive was frozen, and a full collection now walks next to nothing of it.
    assert probe["frozen"] >= probe["tracked_before"] * 0.9
    assert probe["tracked_after"] < probe["tracked_before"] * 0.05, probe
    record("gc", f"full collection over the start-up heap ({probe['tracked_before']} objects):"
                 f" {probe['before'] * 1000:.1f} ms before freezing, {probe['after'] * 1e6:.1f} µs"
                 f" after")
