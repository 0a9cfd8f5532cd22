"""Figures a reliability, soak or security test measured (rounds survived, RSS, loop lag...).

A test calls `record("crash consistency", "50 rounds, 0 lost")`; conftest prints every figure in
a "statusdesk figures" section at the end of the run, so `make test-soak` shows what it
measured without `-s`, and bench/RESULTS.md can quote it.
"""

from __future__ import annotations

FIGURES: list[tuple[str, str]] = []


def record(topic: str, line: str) -> None:
    FIGURES.append((topic, line))
    print(f"[{topic}] {line}", flush=True)
