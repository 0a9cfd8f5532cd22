"""Figures a reliability, soak or security test measured (rounds survived, RSS, loop lag...).

A test calls `record("crash consistency", "50 rounds, 0 lost")`; conftest prints every figure in
a "statusdesk figures" section at the end of the run, so `make test-soak` shows what it
measured without `-s`, and bench/RESULTS.md can quote it. (`pytest -p tests.figures` prints
the section for a run without the suite's conftest.)
"""

from __future__ import annotations

from collections import Counter

import pytest

FIGURES: list[tuple[str, str]] = []


def record(topic: str, line: str, *, echo: bool = True) -> None:
    """`echo`: print it now as well, into the test's captured output (shown with `-s` or
    when the test fails). Outside a test (a plug-in's end-of-session hook) nothing captures
    it: it would land on pytest's progress line, and the section prints it anyway."""
    FIGURES.append((topic, line))
    if echo:
        print(f"[{topic}] {line}", flush=True)


def summary_lines() -> list[str]:
    """One line per figure; a figure recorded again word for word (the same measurement
    by two tests, or one test run twice) is one line with its count."""
    counts = Counter(FIGURES)
    return [f"{topic}: {line}" + (f" (x{counts[topic, line]})" if counts[topic, line] > 1
                                  else "")
            for topic, line in counts]


def summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("statusdesk figures")
    for line in summary_lines():
        terminalreporter.write_line(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    summary(terminalreporter)
