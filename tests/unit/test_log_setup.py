"""Secrets never reach the log, whatever carries them."""

from __future__ import annotations

import logging
import re

from bot.observability.log_setup import RedactingFormatter


def format_record(formatter: RedactingFormatter, message: str, *args: object) -> str:
    record = logging.LogRecord("statusdesk.test", logging.INFO, __file__, 1, message, args, None)
    return formatter.format(record)


def test_configured_secrets_are_replaced_longest_first() -> None:
    formatter = RedactingFormatter(["hunter2", "hunter2-extended"])
    line = format_record(formatter, "login with %s then %s", "hunter2-extended", "hunter2")
    assert line.endswith("login with *** then ***")


def test_passwords_in_urls_are_redacted_even_when_not_configured() -> None:
    formatter = RedactingFormatter()
    line = format_record(formatter, "connecting to %s",
                         "postgresql+asyncpg://desk:pa55word@db.example.org/desk")
    assert "pa55word" not in line
    assert "postgresql+asyncpg://desk:***@db.example.org/desk" in line


def test_one_line_per_record_even_with_a_traceback() -> None:
    formatter = RedactingFormatter(["topsecret"])
    try:
        raise ValueError("bad token topsecret")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\\n" not in line and "\n" not in line
    assert "topsecret" not in line and "ValueError" in line


def test_json_format_is_one_object_per_line_and_still_redacted() -> None:
    import json
    import sys

    from bot.observability.log_setup import JsonFormatter

    # A secret with characters JSON escapes: redacted before encoding, so it is still found.
    secret = 'pa"ss\\wörd'
    formatter = JsonFormatter([secret, "topsecret"])
    plain = json.loads(format_record(formatter, "login as %s with %s", "desk", secret))
    assert plain.keys() == {"time", "level", "logger", "message"}
    assert plain["level"] == "INFO" and plain["logger"] == "statusdesk.test"
    assert plain["message"] == "login as desk with ***"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", plain["time"])
    try:
        raise ValueError("bad token topsecret")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("topsecret",),
                                   None)
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\n" not in line and "topsecret" not in line
    failed = json.loads(line)
    assert failed["message"] == "failed: ***"
    assert failed["exc_info"].startswith("Traceback (most recent call last):\n")
    assert failed["exc_info"].endswith("ValueError: bad token ***")
    url = json.loads(format_record(formatter, "db %s", "postgresql://u:pw123@h/d"))
    assert url["message"] == "db postgresql://u:***@h/d"


def test_under_journald_the_text_format_leaves_the_time_to_the_journal(tmp_path) -> None:
    """journald stamps each line: with $JOURNAL_STREAM naming stderr, our own time goes;
    a stream it does not name (a child's stderr sent elsewhere) keeps it."""
    import os

    from bot.observability.log_setup import RedactingFormatter, stderr_is_the_journal

    with open(tmp_path / "journal", "w") as stream:
        status = os.fstat(stream.fileno())
        named = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        assert stderr_is_the_journal(named, stream)
        assert not stderr_is_the_journal({}, stream)
        assert not stderr_is_the_journal({"JOURNAL_STREAM": f"{status.st_dev}:1"}, stream)
        assert not stderr_is_the_journal({"JOURNAL_STREAM": "garbage"}, stream)
    record = logging.LogRecord("statusdesk.app", logging.INFO, __file__, 1, "ready", None, None)
    assert RedactingFormatter(timestamps=False).format(record) == "INFO statusdesk.app: ready"
    assert RedactingFormatter().format(record).endswith("Z INFO statusdesk.app: ready")
