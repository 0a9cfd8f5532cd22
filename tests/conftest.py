"""Shared fixtures: the storage backends every repository and service test runs against."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.web.app import ANSWER_OBSERVERS
from storage.db import open_store, upgrade
from storage.unit_of_work import Store
from tests import figures, secret_scan
from tests.irc_bot import unique
from tests.irc_client import RawClient
from tests.openapi_check import CHECK as OPENAPI_CHECK
from tests.recorded_cli import ENV as RECORDED_ANSWERS_ENV
from tests.servers import ngircd as ngircd_server
from tests.servers import synapse as synapse_server
from tests.servers.postgres import (
    PostgresServer,
    ServerUnavailable,
    server_from_url,
    start_postgres,
)

pytest_plugins = ["tests.matrix_scene"]
"""Fixtures kept in modules of their own, for every test."""

TEMPLATE_DB = "statusdesk_template"


def server_missing(reason: str) -> None:
    """Under CI a missing test server is a failure; on a laptop, a skip that says why."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"test server unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"test server unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    url = os.environ.get("STATUSDESK_TEST_PG_URL")
    if url:
        yield server_from_url(url)
        return
    server = start_postgres_or_fail()
    try:
        yield server
    finally:
        server.stop()


def start_postgres_or_fail() -> PostgresServer:
    """A PostgreSQL server of one's own (a failure under CI when it cannot run here)."""
    try:
        return start_postgres()
    except ServerUnavailable as error:
        server_missing(str(error))
        raise


async def admin_sql(server: PostgresServer, sql: str) -> None:
    connection = await asyncpg.connect(server.dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """A migrated database that every PostgreSQL test clones (much faster than migrating)."""

    async def build() -> None:
        await admin_sql(pg_server, f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
        await admin_sql(pg_server, f"CREATE DATABASE {TEMPLATE_DB}")
        store = open_store(pg_server.url(TEMPLATE_DB))
        try:
            await upgrade(store.engine)
        finally:
            await store.close()

    asyncio.run(build())
    return TEMPLATE_DB


@pytest.fixture
async def pg_url(pg_server: PostgresServer, pg_template: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    await admin_sql(pg_server, f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    try:
        yield pg_server.url(name)
    finally:
        await admin_sql(pg_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated, empty store on each backend."""
    store = open_store(db_url)
    await upgrade(store.engine)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
def synapse() -> Iterator[synapse_server.SynapseServer]:
    """One Synapse for the whole run (it takes a while to start); tests make their own users
    and rooms with unique names. `register(user, password, admin=False)` makes users."""
    try:
        server = synapse_server.start_synapse()
    except synapse_server.ServerUnavailable as error:
        server_missing(str(error))
        raise
    try:
        yield server
    finally:
        server.destroy()


def start_ngircd_or_fail(*, tls: bool = False, password: str | None = None,
                         unthrottled: bool = False,
                         nick_length: int = 30) -> ngircd_server.NgircdServer:
    """A fresh ngIRCd for the IRC tests (a failure under CI when it cannot run here)."""
    try:
        return ngircd_server.start_ngircd(tls=tls, password=password, unthrottled=unthrottled,
                                          nick_length=nick_length)
    except ngircd_server.ServerUnavailable as error:
        server_missing(str(error))
        raise


@pytest.fixture(scope="module")
def ngircd() -> Iterator[ngircd_server.NgircdServer]:
    server = start_ngircd_or_fail()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def watcher(ngircd: ngircd_server.NgircdServer) -> AsyncIterator[RawClient]:
    """A plain IRC client on the module's ngIRCd, to see what the bot sends."""
    client = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
    try:
        yield client
    finally:
        await client.close()


def pytest_configure(config: pytest.Config) -> None:
    secret_scan.register(config)
    if OPENAPI_CHECK not in ANSWER_OBSERVERS:
        ANSWER_OBSERVERS.append(OPENAPI_CHECK)
    # Bots run as subprocesses (tests/recorded_cli.py) write their JSON answers here.
    if RECORDED_ANSWERS_ENV not in os.environ:
        answers = Path(tempfile.mkdtemp(prefix="statusdesk-answers-")) / "answers.jsonl"
        os.environ[RECORDED_ANSWERS_ENV] = str(answers)


@pytest.fixture(autouse=True)
def answers_match_the_openapi_document() -> Iterator[None]:
    """Fails the test when a JSON answer it got from a web app (in this process, or a bot it
    ran through tests/recorded_cli.py) does not match /api/openapi.json
    (tests/openapi_check.py)."""
    mark = len(OPENAPI_CHECK.mismatches)
    answers = Path(os.environ[RECORDED_ANSWERS_ENV])
    offset = answers.stat().st_size if answers.exists() else 0
    yield
    OPENAPI_CHECK.check_recorded(answers, offset)
    wrong = OPENAPI_CHECK.new_since(mark)
    if wrong:
        pytest.fail("answers that do not match /api/openapi.json:\n" + "\n".join(wrong),
                    pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures.summary(terminalreporter)
