"""The sd_notify side (bot/service/notify.py) against real datagram sockets: the addresses
`$NOTIFY_SOCKET` may hold, what the watchdog environment means, and pings that come from the
event loop (a blocked loop sends none)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.service.notify import ServiceNotifier, socket_address, watchdog_period


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(0.05)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> list[tuple[float, str]]:
    got = []
    while True:
        try:
            got.append((time.monotonic(), sock.recv(4096).decode()))
        except TimeoutError:
            return got


def test_ready_status_stopping_reach_a_path_socket(receiver: tuple[socket.socket, str]
                                                   ) -> None:
    sock, path = receiver
    notifier = ServiceNotifier(path)
    notifier.ready("leading\nwith 1 transport")
    notifier.ready("again")
    notifier.stopping()
    notifier.stopping()
    notifier.close()
    assert [text for _, text in received(sock)] == [
        "READY=1\nSTATUS=leading with 1 transport",
        "STATUS=again",
        "STOPPING=1\nSTATUS=shutting down",
    ]


def test_abstract_namespace_socket() -> None:
    name = f"statusdesk-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        assert socket_address(f"@{name}") == b"\0" + name.encode()
        ServiceNotifier(f"@{name}").status("hello")
        assert sock.recv(100) == b"STATUS=hello"
    finally:
        sock.close()


def test_reloading_carries_the_monotonic_clock(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    notifier = ServiceNotifier(path)
    notifier.ready("up")
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    (_, _), (_, text) = received(sock)
    fields = dict(line.split("=", 1) for line in text.split("\n"))
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


def test_a_reload_before_ready_does_not_say_ready(receiver: tuple[socket.socket, str]
                                                  ) -> None:
    sock, path = receiver
    notifier = ServiceNotifier(path)
    notifier.reloading()
    notifier.reloaded("starting")
    notifier.ready("up")
    assert [text for _, text in received(sock)] == [
        "STATUS=reloading the configuration", "STATUS=starting", "READY=1\nSTATUS=up"]


def test_watchdog_environment() -> None:
    pid = os.getpid()
    assert watchdog_period({"WATCHDOG_USEC": "3000000"}, pid) == 3.0
    assert watchdog_period({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(pid)}, pid) == 3.0
    assert watchdog_period({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}, pid) is None
    assert watchdog_period({"WATCHDOG_USEC": "0"}, pid) is None
    assert watchdog_period({}, pid) is None


def test_without_notify_socket_nothing_happens() -> None:
    notifier = ServiceNotifier.from_environment({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    notifier.ready("x")
    notifier.stopping()


def test_a_missing_socket_is_not_fatal(tmp_path: Path) -> None:
    ServiceNotifier(str(tmp_path / "nobody-listens")).ready("up")


class Collector:
    """Reads the socket in a thread, so each datagram is timed when it arrives (even while
    the test's event loop is blocked)."""

    def __init__(self, sock: socket.socket) -> None:
        self.got: list[tuple[float, str]] = []
        self._sock = sock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.got.append((time.monotonic(), self._sock.recv(4096).decode()))
            except TimeoutError:
                continue

    def close(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        return [at for at, text in self.got if text == "WATCHDOG=1"]


async def test_pings_at_half_the_period_and_none_while_the_loop_is_blocked(
        receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    collector = Collector(sock)
    notifier = ServiceNotifier(path, watchdog=0.4)
    started = time.monotonic()
    notifier.start_watchdog()
    await asyncio.sleep(1.05)
    blocked_from = time.monotonic()
    time.sleep(1.0)  # noqa: ASYNC251 - the point: the loop hangs, as a blocking call hangs it
    blocked_until = time.monotonic()
    await asyncio.sleep(0.5)
    await notifier.stop_watchdog()
    pings = collector.close()
    before = [at for at in pings if at < blocked_from + 0.1]
    # (A ping sent at either edge of the block may be read a moment off it: 0.1 s margins,
    # which leave 0.8 s where 4 pings were due.)
    during = [at for at in pings if blocked_from + 0.1 < at < blocked_until - 0.1]
    after = [at for at in pings if at >= blocked_until - 0.1]
    # Every 0.2 s from the start: 0, 0.2, ..., 1.0 (a busy machine may lose one or two).
    assert 4 <= len(before) <= 6, [round(at - started, 2) for at in pings]
    assert during == [], ("a blocked loop must not ping", str(
                          [round(at - blocked_from, 3) for at in pings]))
    # Once the loop runs again the pings come back at once, then every 0.2 s.
    assert after and after[0] - blocked_until < 0.15, after
    assert 2 <= len(after) <= 4, after
