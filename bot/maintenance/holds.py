"""A window's components, held through the components board: at its start the window holds
each at `under_maintenance` (the worst status of all holders wins, so an outage during the
window still shows), and when it completes it lets go (each component returns to what the
others still hold, else operational)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.components.board import ComponentBoard
from bot.core.events import DeskEvent
from storage.timeline import Where
from storage.unit_of_work import Transaction


class BoardHolds:
    def __init__(self, board: ComponentBoard) -> None:
        self._board = board

    async def hold(self, tx: Transaction, holder: int, components: Sequence[str], status: str,
                   where: Where, now: datetime) -> Sequence[DeskEvent]:
        rows = []
        for component_id in components:
            row = await tx.components.get(component_id, for_update=True)
            if row is not None:  # dropped from the configuration since it was scheduled
                rows.append(row)
        return (await self._board.link(tx, holder, rows, status, where, now)).events

    async def release(self, tx: Transaction, holder: int, where: Where,
                      now: datetime) -> Sequence[DeskEvent]:
        return (await self._board.release(tx, holder, where, now)).events
