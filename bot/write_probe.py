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

from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.database")

PROBE_SECONDS = 2.0
"""How often a database that refuses writes is tried again (one row updated each time)."""

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
