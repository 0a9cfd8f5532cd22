"""`statusdesk run` under a stand-in for systemd: the test owns the datagram socket that
`$NOTIFY_SOCKET` names and sets `$WATCHDOG_USEC`, as systemd does for `Type=notify` with
`WatchdogSec=` (contrib/systemd/statusdesk.service), and reads what the bot says."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import pytest

from tests import secret_scan
from tests.console_bot import http_get, write_console_config

WATCHDOG_SECONDS = 1.0
"""`$WATCHDOG_USEC` as seconds: the bot pings every half of it."""


class NotifySocket:
    """The service manager's end: every datagram, timed when it arrives (a thread reads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.got: list[tuple[float, dict[str, str]]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.05)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
            with self._changed:
                self.got.append((time.monotonic(), fields))
                self._changed.notify_all()

    def wait_for(self, wanted: Callable[[dict[str, str]], bool], timeout: float = 30.0,
                 after: float = 0.0) -> tuple[float, dict[str, str]]:
        """The first message since `after` (monotonic) that is `wanted`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for at, fields in self.got:
                    if at >= after and wanted(fields):
                        return at, fields
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"never got it; got {self.got}")
                self._changed.wait(left)

    def pings(self, start: float, end: float) -> list[float]:
        with self._changed:
            return [at for at, fields in self.got
                    if start <= at < end and fields.get("WATCHDOG") == "1"]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


def start_bot(config: Path, cwd: Path, notify: NotifySocket, stderr: TextIO | None = None
              ) -> subprocess.Popen[str]:
    """`statusdesk run` as systemd would start it; its log goes to `stderr` (a file)."""
    if stderr is None:
        stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the bot
    secret_scan.watch(f"stderr of the bot run with {config}", stderr)
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "-c", str(config)], cwd=cwd,
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
        env={**os.environ, "USER": "op", "NOTIFY_SOCKET": str(notify.path),
             "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1_000_000))},
    )


def page_answers(port: int) -> bool:
    try:
        return http_get(port, "/healthz")[0] == 200
    except OSError:
        return False


def test_ready_watchdog_stall_and_stopping(notify: NotifySocket, tmp_path: Path) -> None:
    config, port = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    bot = start_bot(config, tmp_path, notify)
    try:
        started = time.monotonic()
        ready_at, ready = notify.wait_for(lambda f: f.get("READY") == "1")
        # Ready means serving: the page answers the moment systemd is told.
        assert page_answers(port)
        assert "leading with 1 chat transport" in ready["STATUS"], ready
        before_ready = [f for at, f in notify.got if at < ready_at]
        assert any("STATUS" in f for f in before_ready), notify.got  # what it was doing

        # Pings every half period: in 3 s, 6 of them (one lost to a busy machine at most),
        # and never a whole period without one (systemd would end the service).
        time.sleep(3.0)
        window = notify.pings(ready_at, ready_at + 3.0)
        assert 5 <= len(window) <= 7, window
        gaps = [b - a for a, b in itertools.pairwise(window)]
        assert all(0.3 < gap < WATCHDOG_SECONDS for gap in gaps), gaps
        assert notify.pings(started, ready_at), "the watchdog runs before readiness too"

        # A stopped process (as good as a hung one) pings no more...
        bot.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        time.sleep(2.0)
        # (a ping already in flight when the signal landed may be read just after it)
        assert notify.pings(stopped_at + 0.1, time.monotonic()) == []
        # ...and pings again as soon as it runs.
        bot.send_signal(signal.SIGCONT)
        resumed_at = time.monotonic()
        ping_at, _ = notify.wait_for(lambda f: f.get("WATCHDOG") == "1", timeout=5,
                                     after=resumed_at)
        assert ping_at - resumed_at < 1.0

        bot.send_signal(signal.SIGTERM)
        notify.wait_for(lambda f: f.get("STOPPING") == "1", timeout=10)
        assert bot.wait(timeout=30) == 0
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGCONT)
            bot.kill()
            bot.wait()


def test_sighup_says_reloading_then_ready(notify: NotifySocket, tmp_path: Path) -> None:
    config, port = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    bot = start_bot(config, tmp_path, notify)
    try:
        ready_at, _ = notify.wait_for(lambda f: f.get("READY") == "1")
        bot.send_signal(signal.SIGHUP)
        reloading_at, reloading = notify.wait_for(lambda f: f.get("RELOADING") == "1",
                                                  after=ready_at)
        # The service manager compares it with its own clock: CLOCK_MONOTONIC, in µs.
        assert abs(int(reloading["MONOTONIC_USEC"]) / 1e6 - reloading_at) < 1.0
        _, again = notify.wait_for(lambda f: f.get("READY") == "1", after=reloading_at)
        assert "leading" in again["STATUS"]
        assert page_answers(port)
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=30) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()


def test_sighup_while_starting_is_kept_for_later(notify: NotifySocket, tmp_path: Path) -> None:
    """SIGHUP's default action ends a process: while the bot starts (migrating its
    database) it must not, and the reload happens once the desk runs."""
    config, port = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
    bot = start_bot(config, tmp_path, notify, stderr=log)
    try:
        notify.wait_for(lambda f: f.get("STATUS") == "upgrading the database")
        bot.send_signal(signal.SIGHUP)
        ready_at, _ = notify.wait_for(lambda f: f.get("READY") == "1")
        assert bot.poll() is None
        assert page_answers(port)
        # Not ready before it was: no RELOADING=1 (nor READY=1) while starting.
        assert not [f for at, f in notify.got if at < ready_at and "RELOADING" in f]
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=30) == 0
        log.seek(0)
        text = log.read()
        # Read again once running (a SIGHUP after the page served is reloaded at once).
        assert f"configuration reloaded from {config}" in text, text
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        log.close()


def test_a_standby_is_ready_once_its_page_serves(notify: NotifySocket, tmp_path: Path) -> None:
    """A second instance on the same database never leads while the first runs: it is ready
    (its page is its whole job) and says it stands by."""
    database = f"sqlite+aiosqlite:///{tmp_path}/desk.db"
    first_config, first_port = write_console_config(tmp_path, database, name="first")
    second_config, second_port = write_console_config(tmp_path, database, name="second")
    first = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "-c", str(first_config)], cwd=tmp_path,
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    second: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 30
        while not page_answers(first_port):
            assert time.monotonic() < deadline, "the first instance never served"
            time.sleep(0.1)
        second = start_bot(second_config, tmp_path, notify)
        _, ready = notify.wait_for(lambda f: f.get("READY") == "1")
        assert ready["STATUS"] == (f"status page on port {second_port}; "
                                   "standing by: another instance leads"), ready
        assert page_answers(second_port)
    finally:
        for process in (second, first):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)


def test_the_watchdogs_sigabrt_leaves_the_stacks_in_the_log(notify: NotifySocket,
                                                            tmp_path: Path) -> None:
    """When the pings stop, systemd ends the service with SIGABRT (WatchdogSignal=): the
    log then shows where each thread was, so a hang can be found afterwards."""
    config, _ = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
    bot = start_bot(config, tmp_path, notify, stderr=log)
    try:
        notify.wait_for(lambda f: f.get("READY") == "1")
        bot.send_signal(signal.SIGABRT)
        assert bot.wait(timeout=30) == -signal.SIGABRT
        log.seek(0)
        text = log.read()
        assert "Fatal Python error: Aborted" in text, text
        assert "most recent call first" in text, text
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        log.close()


HANGING_BOT = """
import signal, sys, time
# SIGUSR1 blocks the main thread, where the event loop runs, for 3 s: a hung loop (a blocking
# call in a coroutine) while every other thread of the process runs on.
signal.signal(signal.SIGUSR1, lambda *_: time.sleep(3))
from bot.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_hung_event_loop_stops_the_pings(notify: NotifySocket, tmp_path: Path) -> None:
    """Not the whole process stopped (SIGSTOP, above) but its event loop alone: the pings
    stop too, because the loop sends them (a pinging thread would keep a hung bot alive)."""
    config, _ = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
    secret_scan.watch(f"stderr of the bot run with {config}", log)
    bot = subprocess.Popen(
        [sys.executable, "-c", HANGING_BOT, "run", "-c", str(config)], cwd=tmp_path,
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log, text=True,
        env={**os.environ, "USER": "op", "NOTIFY_SOCKET": str(notify.path),
             "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1_000_000))})
    try:
        ready_at, _ = notify.wait_for(lambda f: f.get("READY") == "1")
        time.sleep(1.0)
        bot.send_signal(signal.SIGUSR1)
        hung_at = time.monotonic()
        time.sleep(2.5)
        # (a ping already in flight when the signal landed may be read just after it)
        assert notify.pings(hung_at + 0.1, time.monotonic()) == []
        ping_at, _ = notify.wait_for(lambda f: f.get("WATCHDOG") == "1", timeout=5,
                                     after=time.monotonic())
        assert ping_at - hung_at < 4.0  # back once the loop runs again
        assert notify.pings(ready_at, hung_at), "it pinged before the hang"
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=30) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        log.close()
