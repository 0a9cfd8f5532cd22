"""`status_page.export_dir`: the snapshot as static files, for nginx or a CDN.

Every file is written beside its destination and renamed over it, so a reader never sees a
half-written page. Pre-compressed `.gz` and `.br` siblings serve nginx's `gzip_static` and
`brotli_static`. A failing disk is logged and shown in /healthz; the page keeps serving from
memory regardless.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from bot.web.document import Document

log = logging.getLogger("statusdesk.export")

_SUFFIX = {"br": ".br", "gzip": ".gz"}


def file_for(path: str) -> str | None:
    """The file a request path is exported to (relative), or None for paths not exported."""
    if path == "/":
        return "index.html"
    if path == "/404":
        return "404.html"
    if path.startswith(("/static/", "/api/")) or path.endswith((".json", ".atom")):
        return path.lstrip("/")
    return path.lstrip("/") + ".html"


class StaticExport:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.error: str | None = None
        self.files_written = 0
        self._written: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def health(self) -> dict[str, object]:
        return {"dir": str(self.directory), "ok": self.error is None, "error": self.error}

    async def write(self, documents: dict[str, Document]) -> None:
        """Write what changed since the last call (by ETag)."""
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
                return
            if self.error is not None:
                log.info("export to %s works again", self.directory)
            self.error = None
            for path, document in changed.items():
                self._written[path] = document.etag

    def _write_all(self, documents: dict[str, Document]) -> None:
        for path, document in documents.items():
            name = file_for(path)
            if name is None:
                continue
            target = self.directory / name
            _atomic_write(target, document.body)
            for coding, encoded in document.encodings.items():
                _atomic_write(target.with_name(target.name + _SUFFIX[coding]), encoded.body)
            self.files_written += 1


def _atomic_write(target: Path, data: bytes) -> None:
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
