"""The status page's public documents, rendered once per change and served from memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.events import DeskEvent
from bot.web.document import Document
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.web")


class Snapshot:
    """Every public document by path. Rebuilt after each committed change; requests only read."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._documents: dict[str, Document] = {}
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def get(self, path: str) -> Document | None:
        return self._documents.get(path)

    async def rebuild(self) -> None:
        async with self._store.reading() as tx:
            alert = await tx.alert.current()
        documents = {"/alert.json": Document.json({"alert": alert.text if alert else None})}
        self._documents = documents

    def on_event(self, event: DeskEvent) -> None:
        """EventBus subscriber: mark dirty; the rebuild runs on its own task."""
        self._dirty.set()

    async def start(self) -> None:
        await self.rebuild()
        self._task = asyncio.create_task(self._rebuild_when_dirty(), name="snapshot")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _rebuild_when_dirty(self) -> None:
        # A burst of changes coalesces into one rebuild: the flag is cleared before reading.
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.rebuild()
            except Exception:
                log.exception("status page rebuild failed; serving the previous snapshot")
                await asyncio.sleep(1.0)
                self._dirty.set()
