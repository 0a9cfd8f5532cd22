"""Recognising a database that answers but cannot take writes: its disk is full, or it is
read-only (a hot standby, `default_transaction_read_only`, a read-only file).

This is not a transient failure: a full disk or a standby does not clear in the seconds a
retry would wait, so a write refused this way is answered at once instead of retried (see
`storage.db.is_transient`, which leaves these out). Reads keep working meanwhile.
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass
from enum import Enum


class RefusalKind(Enum):
    DISK_FULL = "disk full"
    READ_ONLY = "read-only"


REASONS = {
    RefusalKind.DISK_FULL: "the database disk is full",
    RefusalKind.READ_ONLY: "the database is read-only",
}
"""How a reply names the cause, briefly (`#status log was not applied: REASON. ...`)."""


@dataclass(frozen=True, slots=True)
class WriteRefusal:
    """Why the database would not take a write, and the driver's own words for it."""

    kind: RefusalKind
    detail: str

    @property
    def reason(self) -> str:
        return REASONS[self.kind]


_DISK_FULL_SQLSTATES = frozenset({"53100", "53000"})
"""PostgreSQL disk_full (`could not extend file ...: No space left on device`), and the
class's generic insufficient_resources, taken as its storage too since it is neither of the
resources that come back by themselves: class 53's other codes (too many connections, out
of memory) pass and stay transient."""
_READ_ONLY_SQLSTATES = frozenset({"25006"})
"""read_only_sql_transaction: a hot standby, or default_transaction_read_only = on."""

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_READ_ONLY_ERRNOS = frozenset({errno.EROFS})

_SQLITE_FULL = sqlite3.SQLITE_FULL
_SQLITE_READONLY = sqlite3.SQLITE_READONLY

_DISK_FULL_WORDS = ("database or disk is full", "no space left on device",
                    "could not extend file", "disk quota exceeded")
_READ_ONLY_WORDS = ("attempt to write a readonly database", "read-only file system",
                    "read-only transaction")


def write_refusal(error: BaseException) -> WriteRefusal | None:
    """What refused the write, when `error` (or an error it wraps) says the database cannot
    take writes; None for any other failure."""
    chain = _chain(error)
    # The driver's codes first (SQLITE_FULL, SQLSTATE 53100, ENOSPC), anywhere in the chain;
    # the words only for wrappers and drivers that keep no code.
    for classify in (_kind_by_code, _kind_by_words):
        for current in chain:
            kind = classify(current)
            if kind is not None:
                return WriteRefusal(kind, _first_line(current))
    return None


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and what it wraps, innermost (the driver's own exception) first."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return seen[::-1]


def _kind_by_code(error: BaseException) -> RefusalKind | None:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        # Extended codes (SQLITE_READONLY_DBMOVED...) keep the primary code in the low byte.
        if code & 0xFF == _SQLITE_FULL:
            return RefusalKind.DISK_FULL
        if code & 0xFF == _SQLITE_READONLY:
            return RefusalKind.READ_ONLY
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(sqlstate, str):
        if sqlstate in _DISK_FULL_SQLSTATES:
            return RefusalKind.DISK_FULL
        if sqlstate in _READ_ONLY_SQLSTATES:
            return RefusalKind.READ_ONLY
    if isinstance(error, OSError) and error.errno is not None:
        if error.errno in _DISK_FULL_ERRNOS:
            return RefusalKind.DISK_FULL
        if error.errno in _READ_ONLY_ERRNOS:
            return RefusalKind.READ_ONLY
    return None


def _kind_by_words(error: BaseException) -> RefusalKind | None:
    message = str(error).lower()
    if any(words in message for words in _DISK_FULL_WORDS):
        return RefusalKind.DISK_FULL
    if any(words in message for words in _READ_ONLY_WORDS):
        return RefusalKind.READ_ONLY
    return None


def _first_line(error: BaseException) -> str:
    """`OperationalError: database or disk is full`: the driver's words, without the SQL and
    parameters SQLAlchemy appends (a command's text has no place in the log line)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
