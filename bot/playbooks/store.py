"""The playbook directory: entries kept in memory, re-read when a file changes.

Change detection polls the directory's listing (names, sizes, mtimes) at most once every
`poll_interval` seconds, on use: a few stat calls, no extra dependency, no thread, and it
works on network file systems where inotify does not. A file that does not parse is
reported in the log (once per version of the file) and in `problems`, and skipped; the
others load. Nothing here raises at a caller.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.playbooks.entry import Entry, EntryError, parse_entry

log = logging.getLogger("statusdesk.playbooks")

POLL_INTERVAL = 2.0
MAX_FILE_BYTES = 256 * 1024
"""A playbook entry is a page of text; a bigger file is a mistake (or a binary)."""

Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file that could not be loaded (or loaded with a warning)."""

    file: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


class PlaybookStore:
    def __init__(
        self,
        directory: Path,
        *,
        poll_interval: float = POLL_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self._interval = poll_interval
        self._clock = clock
        self._checked_at: float | None = None
        self._signature: Signature | None = None
        self._entries: dict[str, Entry] = {}
        self._problems: list[FileProblem] = []
        self._reported: set[tuple[str, str]] = set()
        self.version = 0
        """Goes up by one each time the entries change (renderers cache by it)."""

    @property
    def entries(self) -> dict[str, Entry]:
        """Every loaded entry by slug, in slug order; re-read first if a file changed."""
        self.refresh()
        return self._entries

    @property
    def problems(self) -> list[FileProblem]:
        self.refresh()
        return self._problems

    def get(self, slug: str) -> Entry | None:
        return self.entries.get(slug)

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the directory if it changed (checked at most every `poll_interval`
        seconds unless forced); True when the entries changed."""
        now = self._clock()
        if not force and self._checked_at is not None and \
                now - self._checked_at < self._interval:
            return False
        self._checked_at = now
        signature, problem = self._scan()
        if signature == self._signature and problem is None:
            return False
        self._signature = signature
        self._load(signature, problem)
        return True

    def _scan(self) -> tuple[Signature, FileProblem | None]:
        try:
            with os.scandir(self.directory) as listing:
                found = []
                for item in listing:
                    if item.name.endswith(".md") and not item.name.startswith("."):
                        stat = item.stat()
                        found.append((item.name, stat.st_mtime_ns, stat.st_size))
        except FileNotFoundError:
            return (), FileProblem(str(self.directory), "playbooks directory not found")
        except NotADirectoryError:
            return (), FileProblem(str(self.directory), "is not a directory")
        except OSError as error:
            return (), FileProblem(str(self.directory),
                                   f"cannot read: {error.strerror or error}")
        return tuple(sorted(found)), None

    def _load(self, signature: Signature, problem: FileProblem | None) -> None:
        entries: dict[str, Entry] = {}
        problems = [problem] if problem else []
        for name, _, size in signature:
            path = self.directory / name
            slug = name.removesuffix(".md")
            try:
                if size > MAX_FILE_BYTES:
                    raise EntryError(f"too large ({size} bytes; at most {MAX_FILE_BYTES})")
                text = path.read_text(encoding="utf-8")
                entry = parse_entry(slug.lower(), text)
            except (OSError, UnicodeDecodeError) as error:
                problems.append(FileProblem(str(path), f"cannot read: {_reason(error)}"))
                continue
            except EntryError as error:
                problems.append(FileProblem(str(path), str(error)))
                continue
            if entry.slug in entries:
                problems.append(FileProblem(str(path), f"duplicate slug {entry.slug!r}"))
                continue
            entries[entry.slug] = entry
            problems += [FileProblem(str(path), w, fatal=False) for w in entry.warnings]
        for found in problems:
            key = (found.file, found.message)
            if key not in self._reported:
                log.warning("playbook %s", found)
        self._reported = {(p.file, p.message) for p in problems}
        if entries != self._entries:
            self.version += 1
            log.info("playbooks: %d entries loaded from %s", len(entries), self.directory)
        self._entries = entries
        self._problems = problems


def _reason(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {error.start})"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return str(error)
