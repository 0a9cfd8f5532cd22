"""`statusdesk run` as a subprocess on the console: what a user at the terminal sees."""

from __future__ import annotations

import functools
import json
import os
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Generic, TypeVar

from tests import secret_scan
from tests.servers.ports import free_port

Sample = TypeVar("Sample")


REPO = Path(__file__).resolve().parent.parent


def _with_repo(environ: Mapping[str, str]) -> str:
    """PYTHONPATH with the repository first: the bot runs from a temporary directory, and
    `tests.recorded_cli` is not installed."""
    return os.pathsep.join(p for p in (str(REPO), environ.get("PYTHONPATH", "")) if p)


class Bot:
    """`statusdesk run` on the console, read line by line."""

    def __init__(self, config: Path, cwd: Path, open_files: int | None = None,
                 preexec: Callable[[], None] | None = None) -> None:
        """`open_files`: the process's open-file limit (soft and hard), instead of ours;
        `preexec`: run in the child before the bot starts (a restriction to put on it)."""
        # stderr goes to a file: a pipe nobody reads would block a chatty bot.
        self.stderr_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives with the bot
        secret_scan.watch(f"stderr of the bot run with {config}", self.stderr_file)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.recorded_cli", "run", "-c", str(config)], cwd=cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr_file, text=True,
            env={**os.environ, "USER": "op", "PYTHONPATH": _with_repo(os.environ)},
            preexec_fn=preexec if open_files is None else functools.partial(
                resource.setrlimit, resource.RLIMIT_NOFILE, (open_files, open_files)),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def expect(self, wanted: str, timeout: float = 20.0) -> list[str]:
        """Lines up to and including the first that equals `wanted`."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            got.append(line)
            self.seen.append(line)
            if line == wanted:
                return got
        raise AssertionError(f"never saw {wanted!r}; saw {got!r}; stderr: {self.stderr()}")

    def answers(self, count: int, timeout: float, wanted: Callable[[str], bool]
                ) -> list[tuple[float, str]]:
        """The next `count` lines that are `wanted`, with when each came (monotonic)."""
        got: list[tuple[float, str]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if wanted(line):
                got.append((time.monotonic(), line))
        assert len(got) == count, f"{len(got)} answers of {count}: {got}; stderr: {self.stderr()}"
        return got

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read()

    def kill(self) -> None:
        """SIGKILL: no chance to deliver, release or say goodbye."""
        self.process.kill()
        self.process.wait()

    def close(self) -> tuple[int, str]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=30)
        return code, self.stderr()


class HealthWatch(Generic[Sample]):
    """/healthz polled every 50 ms in a thread: what `sample(port)` made of each look, in
    `seen`, in order."""

    def __init__(self, port: int, sample: Callable[[int], Sample]) -> None:
        self.port = port
        self.seen: list[Sample] = []
        self._sample = sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.seen.append(self._sample(self.port))
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def write_console_config(directory: Path, db_url: str, name: str = "config", extra: str = ""
                         ) -> tuple[Path, int]:
    """`directory/name.yaml` for a bot on the console with its page on a free port (and
    `extra` more configuration): the file and the port."""
    port = free_port()
    path = directory / f"{name}.yaml"
    path.write_text(f"database: {{url: '{db_url}'}}\nconsole: true\n"
                    f"status_page: {{listen: '127.0.0.1:{port}', title: Test}}\n" + extra)
    return path, port


def http_get(port: int, path: str, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_for_http(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            http_get(port, "/healthz")
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"status page never listened on {port}")


def role_of(port: int) -> str:
    """`leader` or `standby`, as the instance's /healthz says."""
    status, _, body = http_get(port, "/healthz")
    assert status == 200, body
    return str(json.loads(body)["role"])


def wait_for_role(port: int, role: str, timeout: float = 20.0) -> float:
    """Seconds until the instance on `port` has `role`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if role_of(port) == role:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"instance on {port} never became {role}")
