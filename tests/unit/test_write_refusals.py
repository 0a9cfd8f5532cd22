"""Which failures mean "the database cannot take writes": over real exceptions from sqlite3
(a size-capped database, a read-only connection), the exception types asyncpg raises for
each SQLSTATE, and operating-system errors; and that none of them counts as transient."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.db import is_transient
from storage.write_refusals import RefusalKind, WriteRefusal, write_refusal


def _sqlite_error(path: Path, *setup: str, uri: bool = False) -> sqlite3.Error:
    """What sqlite3 raises for a write after `setup`."""
    connection = sqlite3.connect(f"file:{path}?mode=ro" if uri else path, uri=uri)
    try:
        for statement in setup:
            connection.execute(statement)
        with pytest.raises(sqlite3.Error) as raised:
            for n in range(1000):
                connection.execute("INSERT INTO t VALUES (?)", ("x" * 4000 + str(n),))
            connection.commit()
        return raised.value
    finally:
        connection.close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "db.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (x TEXT)")
    connection.commit()
    connection.close()
    return path


def _wrapped(error: BaseException) -> OperationalError:
    """As SQLAlchemy hands it over: its own exception, the SQL appended, the driver's inside."""
    try:
        raise OperationalError("INSERT INTO t VALUES (?)", ("x" * 50,), error) from error
    except OperationalError as wrapped:
        return wrapped


def test_sqlite_full_is_a_full_disk(database: Path) -> None:
    # A size cap raises exactly what a full filesystem does: SQLITE_FULL.
    error = _sqlite_error(database, "PRAGMA max_page_count = 4")
    assert getattr(error, "sqlite_errorname", None) == "SQLITE_FULL"
    assert write_refusal(error) == WriteRefusal(
        RefusalKind.DISK_FULL, "OperationalError: database or disk is full")
    refusal = write_refusal(_wrapped(error))
    assert refusal is not None and refusal.kind is RefusalKind.DISK_FULL
    # The driver's words, not SQLAlchemy's with the SQL and a command's text in them.
    assert refusal.detail == "OperationalError: database or disk is full"
    assert refusal.reason == "the database disk is full"


def test_sqlite_readonly_is_read_only(database: Path) -> None:
    error = _sqlite_error(database, uri=True)
    assert getattr(error, "sqlite_errorname", None) == "SQLITE_READONLY"
    assert write_refusal(error) == WriteRefusal(
        RefusalKind.READ_ONLY, "OperationalError: attempt to write a readonly database")
    refusal = write_refusal(_wrapped(error))
    assert refusal is not None and refusal.reason == "the database is read-only"


@pytest.mark.parametrize(("error", "kind"), [
    (asyncpg.DiskFullError('could not extend file "base/16384/2619": No space left on '
                           "device"), RefusalKind.DISK_FULL),
    (asyncpg.InsufficientResourcesError("could not extend file"), RefusalKind.DISK_FULL),
    (asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
     RefusalKind.READ_ONLY),
    (OSError(errno.ENOSPC, "No space left on device"), RefusalKind.DISK_FULL),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), RefusalKind.DISK_FULL),
    (OSError(errno.EROFS, "Read-only file system"), RefusalKind.READ_ONLY),
    # A wrapper that kept only the words.
    (RuntimeError('could not extend file "base/1/2": wrote only 4096 of 8192 bytes'),
     RefusalKind.DISK_FULL),
])
def test_codes_and_words_of_a_database_that_takes_no_writes(
    error: BaseException, kind: RefusalKind
) -> None:
    refusal = write_refusal(error)
    assert refusal is not None and refusal.kind is kind
    assert write_refusal(_wrapped(error)) == refusal
    # Retrying would only hold up every command behind this one.
    assert not is_transient(error)
    assert not is_transient(_wrapped(error))


@pytest.mark.parametrize("error", [
    sqlite3.OperationalError("database is locked"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    OSError(errno.EIO, "Input/output error"),
])
def test_what_passes_by_itself_stays_transient(error: BaseException) -> None:
    assert write_refusal(error) is None
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: t.x")),
    ValueError("no space for the reply in this line"),
    asyncpg.UniqueViolationError("duplicate key value"),
])
def test_other_failures_are_not_refused_writes(error: BaseException) -> None:
    assert write_refusal(error) is None
