"""The configured components into the database, at start (and on a reload)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from bot.config.models import ComponentEntry
from storage.components import DeclaredComponent
from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.components")


def declared(entries: Sequence[ComponentEntry]) -> list[DeclaredComponent]:
    return [DeclaredComponent(e.id, e.name, e.group, e.description) for e in entries]


async def sync_components(store: Store, entries: Sequence[ComponentEntry], *,
                          clock: Callable[[], datetime] = utcnow) -> None:
    """Declare the configured components (new ones start operational; others keep their
    status). Two instances starting together may both insert a new one: the loser of that
    race tries again and finds it there."""
    wanted = declared(entries)
    for attempt in (1, 2):
        try:
            async with store.transaction() as tx:
                await tx.components.sync(wanted, clock())
            return
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("components declared by another instance meanwhile; syncing again")
