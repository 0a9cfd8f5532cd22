"""Figures a reliability, soak or security test measured (rounds survived, RSS, loop lag...).

A test calls `record("crash consistency", "50 rounds, 0 lost")`; conftest prints every figure in
a "statusdesk figures" section at the end of the run, so `make test-soak` shows what it
measured without `-s`, and bench/RESULTS.md can quote it. (`pytest -p tests.figures` prints
the section for a run without the suite's conftest.)
"""

from __future__ import annotations

import pytest

FIGURES: list[tuple[str, str]] = []


def record(topic: str, line: str, *, echo: bool = True) -> None:
    """`echo`: print it now as well, into the test's captured output (shown with `-s` or
    when the test fails). Outside a test (a plug-in's end-of-session hook) nothing captures
    it: it would land on pytest's progress line, and the section prints it anyway."""
    FIGURES.append((topic, line))
    if echo:
        print(f"[{topic}] {line}", flush=True)


def summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("statusdesk figures")
    for topic, line in FIGURES:
        terminalreporter.write_line(f"{topic}: {line}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    summary(terminalreporter)
