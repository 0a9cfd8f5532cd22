"""An episode of refused writes is two log lines however many writes it refuses: a warning
when it starts (no traceback unless debugging), one line when a write succeeds again."""

from __future__ import annotations

import errno
import logging
import sqlite3

import pytest

from storage.write_health import WriteHealth
from storage.write_refusals import RefusalKind

FULL = sqlite3.OperationalError("database or disk is full")


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "statusdesk.database"]


def test_one_warning_per_episode_and_one_line_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    health = WriteHealth()
    health.wrote()  # writable all along: nothing to say
    for _ in range(50):
        assert health.refused(FULL) is not None
        health.lost("command")
    health.lost("captured chat line", 7)
    health.refused(OSError(errno.ENOSPC, "No space left on device"))
    assert health.unwritable is not None and health.unwritable.kind is RefusalKind.DISK_FULL
    assert health.since is not None
    health.wrote()
    health.wrote()
    assert _lines(caplog) == [
        "the database cannot take writes: the database disk is full (OperationalError: "
        "database or disk is full); commands are answered \"not applied, say it again\" "
        "until it can",
        "database writable again after 50 refused commands; 7 captured chat lines could "
        "not be kept",
    ]
    assert not [r for r in caplog.records if r.exc_info]
    assert health.unwritable is None and health.since is None
    assert health.refused_total == 51 and health.episodes == 1

    health.refused(sqlite3.OperationalError("attempt to write a readonly database"))
    health.lost("command")
    health.wrote()
    assert _lines(caplog)[2:] == [
        "the database cannot take writes: the database is read-only (OperationalError: "
        "attempt to write a readonly database); commands are answered \"not applied, say "
        "it again\" until it can",
        "database writable again after 1 refused command",
    ]
    assert health.episodes == 2


def test_other_failures_are_not_its_business(caplog: pytest.LogCaptureFixture) -> None:
    health = WriteHealth()
    assert health.refused(sqlite3.OperationalError("database is locked")) is None
    assert health.refused(ValueError("bad")) is None
    assert health.unwritable is None and health.refused_total == 0
    assert _lines(caplog) == []


def test_debugging_shows_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="statusdesk.database")
    WriteHealth().refused(FULL)
    assert [r.exc_info is not None for r in caplog.records] == [True]
