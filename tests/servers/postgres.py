"""A throwaway PostgreSQL cluster on a free loopback port, for the test suite.

`STATUSDESK_TEST_PG_URL` (a `postgresql+asyncpg://` URL of a database the tests may fill and
empty) overrides it. Otherwise `initdb` and `pg_ctl` from Debian's `postgresql` package make a
cluster in a temporary directory; as root they run as the `postgres` user, since `initdb`
refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers.ports import free_port


class ServerUnavailable(RuntimeError):
    """The server could not be found or started here."""


def _find_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise ServerUnavailable(
        f"{name} not found: install Debian's postgresql package (make test does) "
        "or set STATUSDESK_TEST_PG_URL"
    )


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    admin_db: str = "postgres"
    stop: Callable[[], None] = lambda: None
    halt: Callable[[], None] | None = None
    """Shut the server down, keeping its data (`pg_ctl stop -m fast`); None when the
    server is not ours to stop."""
    resume: Callable[[], None] | None = None
    """Start it again after `halt`, on the same port."""

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.admin_db}"


def start_postgres(*, durable: bool = False) -> PostgresServer:
    """Start a cluster; `durable=False` turns fsync off, which is fine for tests only."""
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="statusdesk-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable("running as root and there is no postgres user") from None
        for path in (base, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        as_user = [runuser, "-u", "postgres", "--"]
    port = free_port()
    log = base / "server.log"

    def run(*command: str) -> None:
        result = subprocess.run([*as_user, *command], capture_output=True, text=True,
                                timeout=120, check=False)
        if result.returncode != 0:
            raise ServerUnavailable(
                f"{' '.join(command[:2])} failed: {result.stderr.strip() or result.stdout}"
            )

    run(initdb, "-D", str(data), "-A", "trust", "-U", "statusdesk", "--no-sync",
        "-E", "UTF8", "--locale=C")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")

    def stop() -> None:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(base, ignore_errors=True)

    def halt() -> None:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop")

    def resume() -> None:
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")

    server = PostgresServer("127.0.0.1", port, "statusdesk", stop=stop, halt=halt,
                            resume=resume)
    _wait_ready(server)
    return server


def _wait_ready(server: PostgresServer, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((server.host, server.port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise ServerUnavailable(f"PostgreSQL did not accept connections on port {server.port}")


def server_from_url(url: str) -> PostgresServer:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    user = parsed.username or "postgres"
    if parsed.password:
        user = f"{user}:{parsed.password}"
    return PostgresServer(parsed.host or "127.0.0.1", parsed.port or 5432, user,
                          admin_db=parsed.database or "postgres")


@asynccontextmanager
async def throwaway_database(name: str) -> AsyncIterator[str]:
    """A database for a benchmark: in STATUSDESK_TEST_PG_URL's server if given, else in a
    new durable cluster (fsync on, as in production) that is removed afterwards."""
    given = os.environ.get("STATUSDESK_TEST_PG_URL")
    if given:
        yield given
        return
    import asyncpg

    server = start_postgres(durable=True)
    try:
        admin = await asyncpg.connect(server.dsn)
        try:
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        yield server.url(name)
    finally:
        server.stop()
