"""Transports' own state kept in the database: the `TransportState` port, backed by the
`transport_state` table, one scope per transport (`console`, `matrix:@bot:example.org`)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.ports import StateNotSaved
from storage.models import utcnow
from storage.unit_of_work import Store
from storage.write_refusals import write_refusal


class StoredTransportState:
    def __init__(self, store: Store, scope: str) -> None:
        self._store = store
        self.scope = scope

    async def load(self) -> Mapping[str, str]:
        async with self._store.reading() as tx:
            return await tx.transport_state.in_scope(self.scope)

    async def save(self, changes: Mapping[str, str | None]) -> None:
        now = utcnow()
        try:
            async with self._store.transaction() as tx:
                for key, value in changes.items():
                    if value is None:
                        await tx.transport_state.delete(self.scope, key)
                    else:
                        await tx.transport_state.put(self.scope, key, value, now)
        except Exception as error:
            refusal = write_refusal(error)
            if refusal is None:
                raise
            # The store has logged the refusal already (once, not per transport).
            raise StateNotSaved(refusal.reason) from error
