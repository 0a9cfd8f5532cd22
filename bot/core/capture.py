"""`incidents.capture`: channel chatter kept, privately, in the incidents open when it was said.

Nothing is asked of the database when no incident is open: which incidents are open is known
from the commands applied here, and read again only when that is in doubt. Lines are written
in batches (CAPTURE_WINDOW, CAPTURE_BATCH), one transaction each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.events import DeskEvent, IncidentOpened, StateChanged
from bot.core.ports import Message
from bot.core.replay import AppliedEvents
from bot.core.retry import brief, retrying
from commands.text import clean_text
from storage.db import is_transient
from storage.kept_text import kept
from storage.timeline import Where
from storage.unit_of_work import Store
from storage.write_refusals import write_refusal

log = logging.getLogger("statusdesk.desk")

MAX_CAPTURED = 2000
"""Longest captured chat line kept (IRC lines are far shorter; Matrix ones need not be); a
longer one is kept this long, with a note of how much was left out."""

CAPTURE_WINDOW = 0.15
"""Seconds captured chat lines wait to be written together, in one transaction. A clean
stop writes them first; a crash (SIGKILL, power loss) may lose this window of captured
chatter, never a command."""
CAPTURE_BATCH = 200
"""Captured lines that are written at once, without waiting for the window to end."""


@dataclass(frozen=True, slots=True)
class _Captured:
    """A channel line waiting to be written into the incidents open when it was said."""

    incident_ids: frozenset[int]
    where: Where
    at: datetime
    text: str
    message: Message


class ChatCapture:
    def __init__(self, store: Store, lock: asyncio.Lock, claims: AppliedEvents,
                 channels: Collection[str], clock: Callable[[], datetime]) -> None:
        self._store = store
        self._lock = lock
        """The desk's: captured lines and commands are written one at a time, in order."""
        self._claims = claims
        self._channels = frozenset(channels)
        self._clock = clock
        self.open_ids: frozenset[int] | None = None
        """Open incidents, known without asking the database for each captured line: None
        when unknown (at the start of a term as leader, after a failed command), then read
        once and kept up to date from the events of the commands applied here."""
        self._captured: list[_Captured] = []
        self._full = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def wants(self, message: Message) -> bool:
        return message.target in self._channels and not message.private

    async def take(self, message: Message) -> None:
        open_ids = self.open_ids
        if open_ids is None:
            async with self._lock:
                if self.open_ids is None:
                    async with self._store.reading() as tx:
                        self.open_ids = frozenset(i.id for i in await tx.incidents.list_open())
                open_ids = self.open_ids
        if not open_ids:
            return
        text = clean_text(message.text)
        if not text:
            return
        text = kept(text, MAX_CAPTURED)
        where = Where(actor=message.sender, identity=message.identity.describe(),
                      transport=message.transport, network=message.network,
                      channel=message.target)
        self._captured.append(_Captured(open_ids, where, self._clock(), text, message))
        if len(self._captured) >= CAPTURE_BATCH:
            self._full.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_soon(), name="capture-writer")

    async def flush(self) -> None:
        """Write the captured lines still waiting (a clean stop calls this)."""
        writer = self._writer
        if writer is not None:
            # Woken, not cancelled: cancelled half-way through its transaction, it would
            # lose the lines it holds.
            self._full.set()
            await writer
        async with self._lock:
            await self.write_waiting()

    async def _write_soon(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), CAPTURE_WINDOW)
        finally:
            self._writer = None
        async with self._lock:
            await self.write_waiting()

    async def write_waiting(self) -> None:
        """The waiting captured lines, in one transaction (the caller holds the lock)."""
        batch, self._captured = self._captured, []
        self._full.clear()
        if not batch:
            return

        async def write() -> None:
            async with self._store.transaction() as tx:
                rows: list[tuple[int, str, Where, datetime, str]] = []
                for line in batch:
                    if not await self._claims.claim(tx, line.message):
                        continue
                    # Chatter is not an update: updated_at stays, so reminders still fire.
                    rows.extend((incident_id, "chat", line.where, line.at, line.text)
                                for incident_id in sorted(line.incident_ids))
                await tx.timeline.append_private_many(rows)

        try:
            await retrying(write, f"{len(batch)} captured chat line(s)")
            self._store.writes.wrote()
        except Exception as error:
            if write_refusal(error) is not None:
                # Said once, with the episode's end, rather than once a batch.
                self._store.writes.lost("captured chat line", len(batch))
                return
            # A command must not fail for the chatter before it: these lines are lost,
            # loudly, and the next ones are tried afresh.
            log.error("could not keep %d captured chat line(s): %s", len(batch),
                      brief(error) if is_transient(error) else repr(error))


def still_open(known: frozenset[int] | None,
               events: Sequence[DeskEvent]) -> frozenset[int] | None:
    """The open incidents after a command's events: only opening an incident and changing
    an incident's state (both always announced) change them."""
    if known is None:
        return None
    open_ids = set(known)
    for event in events:
        match event:
            case IncidentOpened(incident_id=incident_id):
                open_ids.add(incident_id)
            case StateChanged(incident_id=incident_id) if event.resolved:
                open_ids.discard(incident_id)
            case StateChanged(incident_id=incident_id):
                open_ids.add(incident_id)
    return frozenset(open_ids)
