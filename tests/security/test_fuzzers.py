"""The atheris harnesses (tests/security/fuzz/) run as subprocesses: briefly in `make test`,
for 2,000,000 executions or 5 minutes each under `make test-soak`.

A crash or a hang fails the test with the input that caused it, which libFuzzer wrote to a
`crash-*` / `timeout-*` file, copied to tests/security/fuzz/crashes/TARGET/ (reproduce with
`python -m tests.security.fuzz.fuzz_TARGET FILE`; once fixed, move it into the corpus).
atheris missing is a failure under CI (it is a dev dependency), a skip elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import server_missing
from tests.figures import record

ROOT = Path(__file__).resolve().parents[2]

SHORT_RUNS = {"grammar": 20_000, "irc_lines": 10_000, "config": 2_000}
"""Executions in `make test`, a few seconds each: the grammar runs ~15,000/s, a line through
the IRC transport ~1,000/s, a configuration through pydantic ~500/s."""
SOAK_RUNS = 2_000_000
SOAK_SECONDS = 300
_DONE = re.compile(r"Done (\d+) (?:runs )?in (\d+) second")


def _fuzz(target: str, tmp_path: Path, *flags: str, budget: float) -> None:
    try:
        import atheris  # noqa: F401
    except ImportError:
        server_missing("atheris is not installed (pip install -e '.[dev]')")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = ROOT / "tests" / "security" / "fuzz" / "corpus" / target
    for seed in seeds.iterdir():
        (corpus / seed.name).write_bytes(seed.read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(
        # -timeout=30: an input that runs that long is a hang (the IRC harness gives up on
        # the bot's answer after 10 s). Not 0: atheris reads it as "any input over a second
        # is a timeout" (a 2.5 s input: "=== Timeout: 1s elapsed, timeout=0s ===", exit 77),
        # which a busy machine reached 1 run in 4; the 10 s default was reached by the IRC
        # harness's first input while it still started its bot (now before the first input).
        [sys.executable, "-m", f"tests.security.fuzz.fuzz_{target}", *flags, "-timeout=30",
         "-rss_limit_mb=2048", str(corpus)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=budget,
        check=False)
    elapsed = time.monotonic() - started
    crashes = sorted(tmp_path.glob("crash-*")) + sorted(tmp_path.glob("timeout-*")) + sorted(
        tmp_path.glob("oom-*"))
    if done.returncode != 0 or crashes:
        # Kept beside the harness too: pytest prunes old temporary directories.
        kept = ROOT / "tests" / "security" / "fuzz" / "crashes" / target
        kept.mkdir(parents=True, exist_ok=True)
        for path in crashes:
            (kept / path.name).write_bytes(path.read_bytes())
        inputs = "\n".join(f"{kept / path.name}: {path.read_bytes()[:2000]!r}"
                           for path in crashes)
        pytest.fail(f"fuzz_{target} failed (exit {done.returncode}); input kept in:\n"
                    f"{inputs or '(no crash file)'}\n--- output ---\n{done.stderr[-6000:]}",
                    pytrace=False)
    match = _DONE.search(done.stderr)
    assert match, done.stderr[-2000:]
    runs = int(match.group(1))
    record("fuzzing", f"fuzz_{target}: {runs:,} executions in {elapsed:.0f}s "
           f"({runs / max(elapsed, 0.001):,.0f}/s), 0 crashes")


@pytest.mark.parametrize("target", sorted(SHORT_RUNS))
def test_fuzz_briefly(target: str, tmp_path: Path) -> None:
    _fuzz(target, tmp_path, f"-atheris_runs={SHORT_RUNS[target]}", budget=300)


@pytest.mark.soak
@pytest.mark.parametrize("target", sorted(SHORT_RUNS))
def test_fuzz_long(target: str, tmp_path: Path) -> None:
    _fuzz(target, tmp_path, f"-atheris_runs={SOAK_RUNS}", f"-max_total_time={SOAK_SECONDS}",
          budget=SOAK_SECONDS + 300)
