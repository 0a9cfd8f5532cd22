"""A pytest plugin that fails the run if a configured secret shows up in its output.

The test configurations take their passwords, tokens and keys from `tests/secrets.py`. This
plugin looks for those values in everything a test run captures: each test's stdout, stderr
and log records (`report.sections`, passed tests included), and the stderr of the bots run as
subprocesses (`tests/console_bot.py` registers them with `watch`). At the end it lists where
each secret appeared and makes the exit status nonzero, however the tests themselves went.
Assertion messages of failing tests are not scanned: a failing test may well quote a value.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

import pytest

from tests import figures
from tests.secrets import SECRETS


@dataclass
class _Watched:
    label: str
    file: IO[str]
    offset: int = 0


@dataclass
class SecretScan:
    secrets: Mapping[str, str]
    found: list[str] = field(default_factory=list)
    reports: int = 0
    subprocess_logs: int = 0
    _watched: list[_Watched] = field(default_factory=list)
    _current: str = "(collection)"
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def scan(self, where: str, text: str) -> None:
        for name, value in self.secrets.items():
            if value in text:
                line = next(line for line in text.splitlines() if value in line)
                self.found.append(f"{where}: the {name} in {line.strip()[:200]!r}")

    def watch(self, label: str, file: IO[str]) -> None:
        """Scan what a subprocess writes to `file` (read after each test and at the end)."""
        self._watched.append(_Watched(f"{label} (started in {self._current})", file))
        self.subprocess_logs += 1

    def _scan_watched(self) -> None:
        for watched in list(self._watched):
            if watched.file.closed:
                self._watched.remove(watched)
                continue
            watched.file.flush()
            watched.file.seek(watched.offset)
            text = watched.file.read()
            watched.offset = watched.file.tell()
            watched.file.seek(0, 2)  # the subprocess appends; keep our position at the end
            self.scan(watched.label, text)

    # --- hooks ---------------------------------------------------------------------------

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._current = nodeid

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports += 1
        for section, content in report.sections:
            # A report repeats the sections of the test's earlier phases.
            if (report.nodeid, section) not in self._seen:
                self._seen.add((report.nodeid, section))
                self.scan(f"{report.nodeid} [{section}]", content)
        if report.when == "teardown":
            self._scan_watched()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._scan_watched()
        figures.record("secret scan", f"scanned {self.reports} reports, "
                       f"{self.subprocess_logs} subprocess logs, "
                       f"{len(self.found)} secrets found", echo=False)
        if self.found and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.found:
            return
        terminalreporter.section("secrets in the output", red=True, bold=True)
        for line in self.found:
            terminalreporter.write_line(line)


_active: weakref.ReferenceType[SecretScan] | None = None


def register(config: pytest.Config) -> None:
    global _active
    scanner = SecretScan(SECRETS)
    config.pluginmanager.register(scanner, "statusdesk-secret-scan")
    _active = weakref.ref(scanner)


def watch(label: str, file: IO[str]) -> None:
    """For helpers that run the bot as a subprocess: scan its stderr file too."""
    scanner = _active() if _active is not None else None
    if scanner is not None:
        scanner.watch(label, file)



def pytest_configure(config: pytest.Config) -> None:
    """As a plugin module of its own (`pytest -p tests.secret_scan`): the scanner's own test
    runs it that way; the suite registers it from tests/conftest.py."""
    register(config)
