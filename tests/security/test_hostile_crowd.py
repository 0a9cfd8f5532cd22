"""A hostile crowd of idle connections against the real `statusdesk run` process.

The issue (16, part 3): ~9,800 idle `/api/events` streams plus ~9,800 half-sent request
heads from one address used up the process's open files, and `/` and `/healthz` were reset.
Here four child processes (tests/security/crowd.py) open that crowd, 20,000 sockets from
127.0.0.1, half asking for live updates and half never finishing their request head, and
keep that many open: whatever the bot closes comes back as another half-sent head. Meanwhile
the test asks `/healthz` over a fresh connection, again and again, and times the answer.

`STATUSDESK_CROWD_SOCKETS` sets the size (default 20,000, the issue's figure),
`STATUSDESK_CROWD_HOLD` the seconds the full crowd is held (default 12; `make test-soak`
holds it `STATUSDESK_CROWD_SOAK_HOLD`, default 120).
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.console_bot import Bot, wait_for_http
from tests.figures import record
from tests.servers.ports import free_port

CROWD = int(os.environ.get("STATUSDESK_CROWD_SOCKETS", "20000"))
HOLD_SECONDS = float(os.environ.get("STATUSDESK_CROWD_HOLD", "12"))
CHILDREN = 4
HEALTHZ_BUDGET = 0.100
"""The issue's figure: /healthz answers within 100 ms under the crowd."""
MAX_LOG_BYTES = 20_000
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Probe:
    """Asks /healthz every `interval` seconds on a new connection; keeps each answer's
    status and time, and the bot's open files at that moment."""

    port: int
    pid: int
    interval: float = 0.25
    samples: list[tuple[str, float, str, int]] = field(default_factory=list)
    """(phase, seconds, status, open files of the bot)."""
    phase: str = "ramp"
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            seconds, status = timed_get(self.port, "/healthz")
            self.samples.append((self.phase, seconds, status, open_files(self.pid)))
            self._stop.wait(self.interval)

    def latencies(self, phase: str) -> list[float]:
        return [s for p, s, _, _ in self.samples if p == phase]

    def statuses(self) -> set[str]:
        return {status for _, _, status, _ in self.samples}

    def most_files(self) -> int:
        return max(files for _, _, _, files in self.samples)


def timed_get(port: int, path: str) -> tuple[float, str]:
    """Seconds from connect to the whole answer, and its status (or the error)."""
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: statusdesk\r\n"
                         "Connection: close\r\n\r\n".encode())
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
    except OSError as error:
        return time.perf_counter() - started, type(error).__name__
    status = answer.split(b" ", 2)[1].decode() if answer.count(b" ") >= 2 else "empty"
    return time.perf_counter() - started, status


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def start_bot(tmp_path: Path, port: int, open_files_limit: int | None = None,
              limits: str = "") -> Bot:
    """`statusdesk run` with the default limits (nothing under status_page.limits), or
    with `limits`, a YAML mapping for status_page.limits."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}'}}\n"
        "console: true\n"
        f"status_page: {{listen: '127.0.0.1:{port}', title: Crowd"
        + (f", limits: {limits}" if limits else "") + "}\n"
    )
    bot = Bot(config, tmp_path, open_files=open_files_limit)
    wait_for_http(port)
    return bot


def start_crowd(port: int, *, sse: int, half: int) -> list[subprocess.Popen[str]]:
    children = []
    for n in range(CHILDREN):
        share_sse = sse // CHILDREN + (1 if n < sse % CHILDREN else 0)
        share_half = half // CHILDREN + (1 if n < half % CHILDREN else 0)
        children.append(subprocess.Popen(
            [sys.executable, "-m", "tests.security.crowd", "--port", str(port),
             "--sse", str(share_sse), "--half", str(share_half), "--duration", "180"],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    return children


def wait_ready(children: list[subprocess.Popen[str]], timeout: float = 90.0) -> int:
    """Sockets the children opened before each said `ready` (some closed since: 503s)."""
    opened = 0
    deadline = time.monotonic() + timeout
    for child in children:
        assert child.stdout is not None
        line = ""
        while not line.startswith("ready") and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                raise AssertionError(f"a crowd child ended early ({child.returncode})")
        assert line.startswith("ready"), "the crowd never got its sockets open"
        opened += int(line.split()[1])
    return opened


def stop_crowd(children: list[subprocess.Popen[str]]) -> list[dict[str, object]]:
    reports = []
    for child in children:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.close()
    for child in children:
        assert child.stdout is not None
        out = child.stdout.read()
        child.wait(timeout=60)
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def metric(port: int, name: str) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: statusdesk\r\nConnection: close\r\n\r\n")
        text = b""
        while chunk := conn.recv(65536):
            text += chunk
    match = re.search(rf"^{re.escape(name)} (\S+)$", text.decode(), re.MULTILINE)
    assert match, name
    return float(match.group(1))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def check_log(bot: Bot) -> str:
    code, log = bot.close()
    assert code == 0, log
    assert "Traceback" not in log, log[-3000:]
    assert "out of system resource" not in log and "Too many open files" not in log, log
    assert len(log.encode()) < MAX_LOG_BYTES, (len(log), log[-3000:])
    return log


def test_healthz_answers_within_100_ms_under_20000_hostile_sockets(tmp_path: Path) -> None:
    _healthz_under_the_crowd(tmp_path, HOLD_SECONDS)


@pytest.mark.soak
def test_healthz_answers_within_100_ms_under_the_crowd_for_two_minutes(
        tmp_path: Path) -> None:
    """The same, held through a dozen header timeouts: the crowd's closed sockets come back
    again and again, so it tests the churn, not just the first wave."""
    _healthz_under_the_crowd(tmp_path, float(os.environ.get("STATUSDESK_CROWD_SOAK_HOLD",
                                                            "120")))


def _healthz_under_the_crowd(tmp_path: Path, hold_seconds: float) -> None:
    port = free_port()
    bot = start_bot(tmp_path, port)
    probe = Probe(port, bot.process.pid)
    children: list[subprocess.Popen[str]] = []
    try:
        probe.start()
        children = start_crowd(port, sse=CROWD // 2, half=CROWD - CROWD // 2)
        ramp_started = time.monotonic()
        opened = wait_ready(children)
        ramp = time.monotonic() - ramp_started
        probe.phase = "hold"
        pages = []
        hold_until = time.monotonic() + hold_seconds
        while time.monotonic() < hold_until:
            pages.append(timed_get(port, "/"))
            time.sleep(1.0)
        probe.stop()
        reports = stop_crowd(children)
        children = []
        evicted = metric(port, 'statusdesk_http_connections_closed_total{reason="evicted"}')
        timeouts = metric(port,
                          'statusdesk_http_connections_closed_total{reason="header_timeout"}')
        refused_address = metric(port, 'statusdesk_sse_refused_total{reason="address"}')
        peak = metric(port, "statusdesk_http_connections_peak")
        limit = metric(port, "statusdesk_open_files_limit")
    finally:
        probe.stop()
        for child in children:
            child.kill()
            child.wait()
    log = check_log(bot)

    hold = probe.latencies("hold")
    assert len(hold) >= 10, probe.samples
    assert probe.statuses() == {"200"}, probe.samples
    assert {status for _, status in pages} == {"200"}, pages
    sse: Counter[str] = Counter()
    for report in reports:
        sse.update(report["sse_statuses"])  # type: ignore[arg-type]
    assert set(sse) <= {"200", "503"}, sse  # never a 500
    assert sse.get("200", 0) <= 100 and refused_address > 0, (sse, refused_address)
    assert opened >= CROWD * 0.99, opened
    assert probe.most_files() < limit, (probe.most_files(), limit)
    within = sum(1 for s in hold if s <= HEALTHZ_BUDGET) / len(hold)
    record("hostile crowd", f"{opened:,} sockets from one address opened in {ramp:.1f} s "
           f"({CROWD // 2:,} asking for /api/events, the rest half-sent heads); /healthz "
           f"while held {hold_seconds:g} s: median {ms(statistics.median(hold))}, p90 "
           f"{ms(percentile(hold, 0.9))}, max {ms(max(hold))}, {within:.0%} within 100 ms "
           f"({len(hold)} probes); during the ramp max "
           f"{ms(max(probe.latencies('ramp') or [0.0]))}; bot's open files at most "
           f"{probe.most_files():,} of {limit:,.0f} (connections peak {peak:,.0f}); "
           f"live streams {sse.get('200', 0)}, 503s {sse.get('503', 0):,}; header timeouts "
           f"{timeouts:,.0f}, evictions {evicted:,.0f}; log {len(log.encode()):,} bytes")
    assert percentile(hold, 0.9) <= HEALTHZ_BUDGET, sorted(hold)
    assert max(hold) < 1.0, sorted(hold)  # never a dropped SYN (retried after a second)


def test_at_the_connection_cap_the_oldest_waiting_connection_makes_room(
        tmp_path: Path) -> None:
    """The same attack on a smaller open-file limit (6,000: 3,952 connections after the
    reserve): it cannot be held off by timeouts alone, so each newcomer closes the oldest
    half-sent head, and a health check still gets in at once.

    The header timeout is a minute here: with the default 10 s a crowd slowed down by a
    busy machine saw its first heads timed out before its last ones were open, never
    reached the cap, and nothing was evicted (seen with 0 evictions in 1 of 3 runs)."""
    port = free_port()
    limit = 6000
    bot = start_bot(tmp_path, port, open_files_limit=limit, limits="{header_timeout: 60s}")
    probe = Probe(port, bot.process.pid)
    children: list[subprocess.Popen[str]] = []
    try:
        probe.start()
        children = start_crowd(port, sse=0, half=limit)
        wait_ready(children)
        probe.phase = "hold"
        time.sleep(min(HOLD_SECONDS, 6.0))
        probe.stop()
        stop_crowd(children)
        children = []
        evicted = metric(port, 'statusdesk_http_connections_closed_total{reason="evicted"}')
        cap = metric(port, "statusdesk_http_connections_max")
        peak = metric(port, "statusdesk_http_connections_peak")
    finally:
        probe.stop()
        for child in children:
            child.kill()
            child.wait()
    check_log(bot)
    hold = probe.latencies("hold")
    assert probe.statuses() == {"200"}, probe.samples
    assert cap == 3952, cap
    assert evicted > 0, evicted
    assert probe.most_files() < limit, probe.most_files()
    record("hostile crowd at the cap", f"{limit:,} half-sent heads against a {limit:,} "
           f"open-file limit ({cap:,.0f} connections): {evicted:,.0f} evicted, connections "
           f"peak {peak:,.0f}, open files at most {probe.most_files():,}; /healthz median "
           f"{ms(statistics.median(hold))}, max {ms(max(hold))}")
    assert percentile(hold, 0.9) <= HEALTHZ_BUDGET, sorted(hold)
    assert max(hold) < 1.0, sorted(hold)
