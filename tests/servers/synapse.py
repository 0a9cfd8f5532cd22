"""A throwaway Synapse homeserver on a free loopback port, for the test suite.

Synapse comes from PyPI into a virtualenv of its own (it pulls Twisted and pins much of what
it needs), cached across runs under `~/.cache/statusdesk-test/synapse-venv` or
`$STATUSDESK_SYNAPSE_VENV`. `tests/servers/install.sh` builds it ahead of time
(`python -m tests.servers.synapse install`); the fixture builds it on first use otherwise.

The server uses SQLite, listens on 127.0.0.1 only, has no federation key servers, closed
registration with a shared secret (users are made with `register_new_matrix_user`), and rate
limits high enough that tests never meet them unless they ask for it (`limit_messages`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.ports import free_port

SYNAPSE_REQUIREMENT = "matrix-synapse>=1.100,<2"
SERVER_NAME = "localhost"
START_TIMEOUT = 120.0
HIGH_LIMIT = {"per_second": 1000, "burst_count": 1000}


class ServerUnavailable(RuntimeError):
    """Synapse could not be installed or started here."""


def venv_dir() -> Path:
    configured = os.environ.get("STATUSDESK_SYNAPSE_VENV")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "statusdesk-test" / "synapse-venv"


def ensure_synapse() -> Path:
    """The virtualenv's `bin` directory, creating the virtualenv if needed (takes a minute or
    two the first time). A lock keeps two test runs from building it at once."""
    venv = venv_dir()
    stamp = venv / ".statusdesk-installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == SYNAPSE_REQUIREMENT:
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", SYNAPSE_REQUIREMENT],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, timeout=900,
                                    check=False)
            if result.returncode != 0:
                raise ServerUnavailable(
                    f"installing Synapse failed ({' '.join(step[:4])}): "
                    f"{(result.stderr or result.stdout).strip()[-2000:]}"
                )
        stamp.write_text(SYNAPSE_REQUIREMENT)
    return venv / "bin"


@dataclass
class SynapseServer:
    """One running homeserver; `stop()`/`start()` restart it on the same port and data."""

    bin_dir: Path
    data_dir: Path
    port: int
    shared_secret: str
    server_name: str = SERVER_NAME
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "synapse.out"

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as out:
            self._process = subprocess.Popen(
                [str(self.bin_dir / "python"), "-m", "synapse.app.homeserver",
                 "-c", str(self.config_path)],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.data_dir,
            )
        self._wait_ready()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL, as a crash: no goodbye to the clients' open requests."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def register(self, localpart: str, password: str, *, admin: bool = False) -> str:
        """Create a user with `register_new_matrix_user`; returns its user id."""
        result = subprocess.run(
            [str(self.bin_dir / "register_new_matrix_user"), "-u", localpart, "-p", password,
             "-a" if admin else "--no-admin", f"--shared-secret={self.shared_secret}",
             self.base_url],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if result.returncode != 0:
            raise ServerUnavailable(
                f"register_new_matrix_user {localpart} failed: "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return self.user_id(localpart)

    def admin_request(self, token: str, method: str, path: str,
                      body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the homeserver's HTTP API as an admin (e.g. to override a rate limit)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            parsed: dict[str, Any] = json.loads(response.read() or b"{}")
            return parsed

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ServerUnavailable(f"Synapse exited at start:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(
                    f"{self.base_url}/_matrix/client/versions", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerUnavailable(f"Synapse did not answer within {START_TIMEOUT:.0f}s:\n"
                                f"{self._log_tail()}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-3000:]
        return "(no log)"


def write_config(bin_dir: Path, data_dir: Path, port: int) -> str:
    """Generate homeserver.yaml with Synapse itself, then edit it for tests; returns the
    registration shared secret."""
    import yaml

    config_path = data_dir / "homeserver.yaml"
    result = subprocess.run(
        [str(bin_dir / "python"), "-m", "synapse.app.homeserver",
         "--server-name", SERVER_NAME, "--config-path", str(config_path),
         "--data-directory", str(data_dir), "--generate-config", "--report-stats=no"],
        capture_output=True, text=True, timeout=120, check=False, cwd=data_dir,
    )
    if result.returncode != 0:
        raise ServerUnavailable(f"synapse --generate-config failed: {result.stderr.strip()}")
    config = yaml.safe_load(config_path.read_text())
    config.update({
        "listeners": [{
            "port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
            "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}],
        }],
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "enable_registration": False,
        "report_stats": False,
        "enable_metrics": False,
        "presence": {"enabled": False},
        "rc_message": HIGH_LIMIT,
        "rc_registration": HIGH_LIMIT,
        "rc_login": {"address": HIGH_LIMIT, "account": HIGH_LIMIT,
                     "failed_attempts": HIGH_LIMIT},
        "rc_joins": {"local": HIGH_LIMIT, "remote": HIGH_LIMIT},
        "rc_joins_per_room": HIGH_LIMIT,
        "rc_invites": {"per_room": HIGH_LIMIT, "per_user": HIGH_LIMIT,
                       "per_issuer": HIGH_LIMIT},
        "rc_admin_redaction": HIGH_LIMIT,
        "rc_3pid_validation": HIGH_LIMIT,
        "rc_key_requests": HIGH_LIMIT,
        "rc_room_creation": HIGH_LIMIT,
    })
    # Our own, so that it never starts with "-" and confuses register_new_matrix_user.
    config["registration_shared_secret"] = os.urandom(16).hex()
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(config["registration_shared_secret"])


def start_synapse() -> SynapseServer:
    bin_dir = ensure_synapse()
    data_dir = Path(tempfile.mkdtemp(prefix="statusdesk-synapse-"))
    port = free_port()
    try:
        secret = write_config(bin_dir, data_dir, port)
        server = SynapseServer(bin_dir, data_dir, port, secret)
        server.start()
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    return server


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m tests.servers.synapse install")
    print(f"Synapse virtualenv ready: {ensure_synapse().parent}")
