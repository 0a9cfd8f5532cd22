"""Logging: one line per event on stderr, with every configured secret redacted; as text
(`logging.format: text`, the default) or as one JSON object per line (`json`, for a log
collector)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from typing import IO

REDACTED = "***"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.I)


class RedactingFormatter(logging.Formatter):
    """Formats one line per record (tracebacks folded) and removes secrets from it."""

    @staticmethod
    def converter(seconds: float | None = None, /) -> time.struct_time:
        return time.gmtime(seconds)

    def __init__(self, secrets: Iterable[str] = (), *, timestamps: bool = True) -> None:
        super().__init__(("%(asctime)s " if timestamps else "")
                         + "%(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ")
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record)).replace("\n", " | ")

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _URL_PASSWORD.sub(lambda m: m.group("scheme") + REDACTED + "@", text)


class JsonFormatter(RedactingFormatter):
    """One JSON object per record: `time` (UTC, milliseconds), `level`, `logger`, `message`,
    and `exc_info` (the traceback) when there is one. Each value is redacted before encoding,
    so a secret is found whatever JSON would escape in it."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exc_info"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack_info"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


LOG_FORMATS = {"text": RedactingFormatter, "json": JsonFormatter}


def stderr_is_the_journal(environ: Mapping[str, str] | None = None,
                          stream: IO[str] | None = None) -> bool:
    """True when systemd connected stderr to journald, which stamps every line itself: the
    text format then leaves its own time out, so `journalctl` does not show two. Per
    systemd.exec(5), `$JOURNAL_STREAM` is "DEVICE:INODE" of that stream; a child whose stderr
    was redirected elsewhere inherits the variable, so the numbers are compared."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        status = os.fstat((sys.stderr if stream is None else stream).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (int(device), int(inode))


def configure_logging(level: str = "INFO", secrets: Iterable[str] = (),
                      log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "text":
        handler.setFormatter(RedactingFormatter(secrets, timestamps=not stderr_is_the_journal()))
    else:
        handler.setFormatter(LOG_FORMATS[log_format](secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries are chatty even at INFO (alembic's plugins, aiosqlite's every operation at
    # DEBUG): their warnings are what an operator needs.
    for noisy in ("aiohttp.access", "alembic", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
