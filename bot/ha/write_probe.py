"""Noticing that the database takes writes again when nobody writes: while it refuses them
(disk full, read-only), one tiny write every few seconds tries whether the cause is gone.

Without it, /healthz would say `unwritable` until the next command, however long after an
operator freed the disk. While the database is writable the probe writes nothing at all:
the commands, the outbox and the captured chat find out soon enough, and a load balancer
polling /healthz causes no writes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.database")

PROBE_SECONDS = 2.0
"""How often a database that refuses writes is tried again (one row updated each time)."""

SQLITE_HEADROOM = 64 * 1024
"""Bytes a SQLite database's filesystem must have free before the probe tries a write.

A tiny write can succeed on a disk that is still full: a command that failed half-way
left its share of the WAL file allocated, and a one-row update fits in that. The next
command, bigger, would fail again, and the log would have a new episode for every probe.
The filesystem's own count of free space says whether there is room for real work."""

PROBE_SCOPE = "statusdesk"
PROBE_KEY = "write_probe"
"""The row the probe writes: one key of the key/value state table, updated in place, so
probing for days adds nothing to the database."""


class WriteProbe:
    def __init__(self, store: Store, *, interval: float = PROBE_SECONDS) -> None:
        self._store = store
        self._interval = interval
        self.probes = 0
        """Writes tried while the database refused them (for tests)."""

    async def run(self) -> None:
        """Probe while the store says writes are refused; until cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            if self._store.writes.unwritable is not None:
                await self.probe()

    async def probe(self) -> bool:
        """One tiny write; True (and the store's episode ended) when it was taken."""
        if not self._room_for_writes():
            return False
        self.probes += 1
        try:
            async with self._store.transaction() as tx:
                await tx.transport_state.put(PROBE_SCOPE, PROBE_KEY, utcnow().isoformat(),
                                             utcnow())
        except Exception as error:
            # Still refused (the store counts it), or the database is away altogether
            # (/healthz says so): nothing new to log either way.
            log.debug("write probe failed: %s", error)
            return False
        self._store.writes.wrote()
        return True

    def _room_for_writes(self) -> bool:
        """False while a SQLite database's disk is known to have no room (see
        SQLITE_HEADROOM); True when there is, and for PostgreSQL, whose disk is not ours
        to look at (the write alone decides)."""
        url = self._store.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or \
                url.database == ":memory:":
            return True
        try:
            disk = os.statvfs(Path(url.database).resolve().parent)
        except OSError:
            return True
        return disk.f_bavail * disk.f_frsize >= SQLITE_HEADROOM
