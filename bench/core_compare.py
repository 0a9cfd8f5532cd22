"""bench/core.py before and after a change, side by side in one run.

    .venv/bin/python bench/core_compare.py --baseline bf407b4 [--pairs 5] [--commands 5000]

Checks the baseline revision out into a temporary git worktree and runs its own
bench/core.py against its own code, then this tree's bench/core.py against this tree's
code, alternately (`--pairs` times, the order flipping each pair), so both see the same
noise of a shared machine. Prints, per backend, the median commands/s and p99 of each side
and the median of the per-pair ratios (after/before).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^(sqlite|postgresql)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$")


@dataclass(frozen=True)
class Figures:
    rate: float
    p50: float
    p99: float


def run(tree: Path, commands: int, channels: int) -> dict[str, Figures]:
    out = subprocess.run(
        [sys.executable, str(tree / "bench" / "core.py"), "--commands", str(commands),
         "--channels", str(channels)],
        cwd=tree, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    ).stdout
    found = {}
    for line in out.splitlines():
        match = ROW.match(line.strip())
        if match:
            found[match[1]] = Figures(float(match[2]), float(match[3]), float(match[4]))
    if set(found) != {"sqlite", "postgresql"}:
        raise SystemExit(f"unexpected output from {tree}/bench/core.py:\n{out}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare with")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--commands", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline],
                       cwd=HERE, check=True, capture_output=True)
        try:
            before: list[dict[str, Figures]] = []
            after: list[dict[str, Figures]] = []
            for pair in range(args.pairs):
                order = [(base, before), (HERE, after)]
                for tree, into in order if pair % 2 == 0 else reversed(order):
                    into.append(run(tree, args.commands, args.channels))
                print(f"pair {pair + 1}/{args.pairs}: "
                      + ", ".join(f"{b} {before[-1][b].rate:.0f} -> {after[-1][b].rate:.0f}/s"
                                  for b in ("sqlite", "postgresql")), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=HERE,
                           check=False, capture_output=True)
    print(f"\n{args.commands} mixed commands, {args.channels} channels, {args.pairs} "
          f"interleaved pairs; baseline {args.baseline} vs this tree (medians)")
    print(f"{'backend':<12}{'before/s':>10}{'after/s':>10}{'ratio':>8}"
          f"{'p99 before':>12}{'p99 after':>11}{'ratio':>8}")
    for backend in ("sqlite", "postgresql"):
        rates = [a[backend].rate / b[backend].rate for a, b in zip(after, before, strict=True)]
        p99s = [a[backend].p99 / b[backend].p99 for a, b in zip(after, before, strict=True)]
        print(f"{backend:<12}"
              f"{statistics.median(b[backend].rate for b in before):>10.0f}"
              f"{statistics.median(a[backend].rate for a in after):>10.0f}"
              f"{statistics.median(rates):>8.2f}"
              f"{statistics.median(b[backend].p99 for b in before):>12.2f}"
              f"{statistics.median(a[backend].p99 for a in after):>11.2f}"
              f"{statistics.median(p99s):>8.2f}")
    print("throughput ratio > 1 is faster after; p99 ratio < 1 is faster after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
