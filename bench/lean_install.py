"""Issue 22: what `make run` installs. A fresh venv (`python3 -m venv`), then
`pip install -c constraints.txt .` as the Makefile does; its size by `du -sm` against the
goal of 150 MB, and the same with every extra (`.[all]`) beside it. Then the lean venv is
used: `python -m statusdesk` runs the console bot on SQLite, and a Matrix / PostgreSQL
configuration is refused naming the extras.

    python bench/lean_install.py           # '.' and '.[all]'
    python bench/lean_install.py --quick   # '.' only, no console run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_MB = 150


def du_mb(path: Path) -> int:
    return int(subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def install(target: str, where: Path) -> tuple[int, int, float]:
    """A fresh venv at `where` with `target` installed: (MB, distributions, seconds)."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    subprocess.run([str(where / "bin" / "pip"), "install", "--quiet", "-c",
                    str(REPO / "constraints.txt"), target], cwd=REPO, check=True,
                   stderr=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    listed = subprocess.run([str(where / "bin" / "pip"), "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    return du_mb(where), len(listed), seconds


def use(venv: Path, scratch: Path) -> list[str]:
    """What the lean venv does with the embedded default and with configurations that need
    the extras (the checks' outcome, one line each)."""
    python = str(venv / "bin" / "python")
    run = subprocess.run([python, "-m", "statusdesk", "run"], cwd=scratch, capture_output=True,
                         text=True, input="#status alert Gerrit is down\n", timeout=120,
                         check=False)
    lines = [f"console on SQLite: exit {run.returncode}, "
             f"{'announced' if 'NOTICE: Gerrit is down' in run.stdout else 'NOT announced'}"]
    config = scratch / "extras.yaml"
    config.write_text("database: {url: 'postgresql+asyncpg://desk:pw@db.example.org/desk'}\n"
                      "matrix: {homeserver: 'https://m.example.org', user_id: '@b:example.org',"
                      " password: x, rooms: ['#a:example.org']}\n")
    check = subprocess.run([python, "-m", "statusdesk", "check-config", "-c", str(config)],
                           cwd=scratch, capture_output=True, text=True, timeout=60, check=False)
    lines.append(f"check-config of a Matrix + PostgreSQL file: exit {check.returncode}")
    lines += ["  " + line for line in check.stderr.splitlines()]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="'.' only, no console run")
    args = parser.parse_args()
    targets = ["."] if args.quick else [".", ".[all]"]
    with tempfile.TemporaryDirectory(prefix="lean-install-") as tmp:
        rows = []
        for i, target in enumerate(targets):
            rows.append((target, *install(target, Path(tmp) / f"venv{i}")))
        print("fresh venv + pip install -c constraints.txt TARGET")
        print(f"{'target':<8} {'MB':>5} {'distributions':>14} {'seconds':>8}")
        for target, mb, count, seconds in rows:
            print(f"{target:<8} {mb:>5} {count:>14} {seconds:>8.0f}")
        lean = rows[0][1]
        verdict = "met" if lean <= GOAL_MB else "not met"
        print(f"lean install ('.'): {lean} MB, goal <= {GOAL_MB} MB: {verdict}")
        if not args.quick:
            scratch = Path(tmp) / "run"
            scratch.mkdir()
            for line in use(Path(tmp) / "venv0", scratch):
                print(line)
    subprocess.run(["rm", "-rf", str(REPO / "build")], check=False)
    return 0 if lean <= GOAL_MB else 1


if __name__ == "__main__":
    sys.exit(main())
