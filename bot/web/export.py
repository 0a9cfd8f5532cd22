"""`status_page.export_dir`: the snapshot as static files, for nginx or a CDN.

Every file is written beside its destination and renamed over it, so a reader never sees a
half-written page. Pre-compressed `.gz` and `.br` siblings serve nginx's `gzip_static` and
`brotli_static`. A failing disk (full, read-only) is logged once and shown in /healthz; the
page keeps serving from memory regardless, and the export is retried on its own until the
disk takes it again, so the files catch up without waiting for the next change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from pathlib import Path

from bot.web.document import Document

log = logging.getLogger("statusdesk.export")

_SUFFIX = {"br": ".br", "gzip": ".gz"}

RETRY_FIRST = 1.0
RETRY_MAX = 30.0
"""Seconds between attempts while the disk refuses: doubling from the first to the max."""


def file_for(path: str) -> str | None:
    """The file a request path is exported to (relative), or None for paths not exported."""
    if path == "/":
        return "index.html"
    if path == "/404":
        return "404.html"
    if path.startswith(("/static/", "/api/")) or path.endswith((".json", ".atom", ".ics",
                                                                 ".ico")):
        return path.lstrip("/")
    return path.lstrip("/") + ".html"


class StaticExport:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.error: str | None = None
        self.files_written = 0
        self._written: dict[str, str] = {}
        self._latest: dict[str, Document] = {}
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None

    def health(self) -> dict[str, object]:
        return {"dir": str(self.directory), "ok": self.error is None, "error": self.error}

    async def write(self, documents: dict[str, Document]) -> None:
        """Write what changed since the last call (by ETag)."""
        self._latest = documents
        async with self._lock:
            changed = {p: d for p, d in documents.items() if self._written.get(p) != d.etag}
            if not changed:
                return
            try:
                await asyncio.to_thread(self._write_all, changed)
            except OSError as error:
                message = f"{error.strerror or error} ({error.filename or self.directory})"
                if message != self.error:
                    log.error("export to %s failed: %s; the page is still served from memory",
                              self.directory, message)
                self.error = message
                self._retry_later()
                return
            if self.error is not None:
                log.info("export to %s works again", self.directory)
            self.error = None
            for path, document in changed.items():
                self._written[path] = document.etag

    def _retry_later(self) -> None:
        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(self._retry_until_written(), name="export retry")

    async def _retry_until_written(self) -> None:
        delay = RETRY_FIRST
        while self.error is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            await self.write(self._latest)

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry

    def _write_all(self, documents: dict[str, Document]) -> None:
        for path, document in documents.items():
            name = file_for(path)
            if name is None:
                continue
            target = self.directory / name
            _atomic_write(target, document.body)
            document.compress()  # made already, unless written before the announcement
            for coding, encoded in document.encodings.items():
                _atomic_write(target.with_name(target.name + _SUFFIX[coding]), encoded.body)
            self.files_written += 1


def _atomic_write(target: Path, data: bytes) -> None:
    try:
        _write_then_rename(target, data)
    except OSError as error:
        # Name the file being exported, not the random temporary beside it: the same
        # fault then reads the same in /healthz and is logged once.
        raise OSError(error.errno, error.strerror, str(target)) from error


def _write_then_rename(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
