"""Prometheus and promtool (Debian's `prometheus` package) for the metrics tests: promtool
lints a live /metrics, a real Prometheus on a free port scrapes the bot."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.ports import free_port


class ServerUnavailable(RuntimeError):
    pass


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
    if found is None:
        raise ServerUnavailable(f"{name} not found (tests/servers/install.sh installs it)")
    return found


def check_metrics(text: bytes) -> subprocess.CompletedProcess[str]:
    """`promtool check metrics` on an exposition, as an operator would pipe a scrape in."""
    return subprocess.run([binary("promtool"), "check", "metrics"], input=text.decode(),
                          capture_output=True, text=True, timeout=60, check=False)


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def query(self, expression: str) -> list[dict[str, Any]]:
        """An instant query through the HTTP API; its result vector."""
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expression}))
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_prometheus(workdir: Path, target: str, interval_ms: int = 1000) -> Prometheus:
    """A Prometheus scraping `target` (`host:port`, path /metrics) every `interval_ms` ms,
    its data in `workdir`; ready when its /-/ready answers."""
    executable = binary("prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {interval_ms}ms, scrape_timeout: {interval_ms}ms}}\n"
        "scrape_configs:\n"
        "  - job_name: statusdesk\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n")
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [executable, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT)
    server = Prometheus(process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2):
                return server
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    server.stop()
    raise ServerUnavailable(f"prometheus not ready in 60 s: {log.read_text()[-2000:]}")
