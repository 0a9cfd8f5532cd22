"""Whether the database takes writes, as the writes themselves found out: one episode from
the first refused write (disk full, read-only) to the next write that succeeds.

An episode is logged twice, however many writes it refuses: one warning when it starts,
one line when it ends. Everything in between is counted, not logged, so a busy channel
during a full disk does not also fill the log (and the disk the log is on).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from storage.write_refusals import WriteRefusal, write_refusal

log = logging.getLogger("statusdesk.database")


class WriteHealth:
    """Kept by the `Store`, which reports every refused write; the desk and the write probe
    report the writes that succeed (the ones that prove the database writable again)."""

    def __init__(self) -> None:
        self.unwritable: WriteRefusal | None = None
        """Why writes are refused now; None while the database takes them."""
        self.since: datetime | None = None
        self.refused_total = 0
        """Writes refused since start, every writer counted (for /metrics)."""
        self.episodes = 0
        self._lost: Counter[str] = Counter()

    def refused(self, error: BaseException) -> WriteRefusal | None:
        """Note `error` when it is a refused write (the refusal); None for any other error."""
        refusal = write_refusal(error)
        if refusal is None:
            return None
        self.refused_total += 1
        if self.unwritable is None:
            self.episodes += 1
            self._lost.clear()
            self.since = datetime.now(UTC)
            # The traceback says nothing the driver's words do not; --debug still shows it.
            log.warning("the database cannot take writes: %s (%s); commands are answered "
                        "\"not applied, say it again\" until it can", refusal.reason,
                        refusal.detail,
                        exc_info=error if log.isEnabledFor(logging.DEBUG) else None)
        self.unwritable = refusal
        return refusal

    def lost(self, what: str, count: int = 1) -> None:
        """`count` things (`command`, `captured chat line`) this episode did not keep: said
        once, in the line that ends it."""
        self._lost[what] += count

    def wrote(self) -> None:
        """A write succeeded: the episode, if one was open, is over."""
        if self.unwritable is None:
            return
        commands = self._lost.pop("command", 0)
        others = "".join(f"; {n} {_plural(what, n)} could not be kept"
                         for what, n in sorted(self._lost.items()))
        log.info("database writable again after %d refused %s%s", commands,
                 _plural("command", commands), others)
        self.unwritable = None
        self.since = None
        self._lost.clear()


def _plural(word: str, count: int) -> str:
    return word if count == 1 else f"{word}s"
