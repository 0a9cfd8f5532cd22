"""Pieces of the hot documents kept from one rebuild to the next, per incident view.

The page state's loader hands the same view object back for every incident no change
touched (bot/web/state.py, `load_page_state` with `previous`): a piece made from that view
(its card on `/`, its Statuspage JSON) is the same as last time, so it is made once, not on
every change. With 1,000 open incidents, remaking them all took most of a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Piece = TypeVar("Piece")

MEMO_LIMIT = 8192
"""Pieces kept at most; past that the memo starts over (views no page shows any more)."""


class ViewMemo(Generic[Piece]):
    """Pieces by view *identity* and an equal `context` (what else the piece shows). A
    piece holds on to its view, so the id of a view still in the memo is never reused."""

    def __init__(self, limit: int = MEMO_LIMIT) -> None:
        self._limit = limit
        self._pieces: dict[int, tuple[object, Hashable, Piece]] = {}

    def get(self, view: object, context: Hashable, make: Callable[[], Piece]) -> Piece:
        found = self._pieces.get(id(view))
        if found is not None and found[0] is view and found[1] == context:
            return found[2]
        piece = make()
        if len(self._pieces) >= self._limit:
            self._pieces.clear()
        self._pieces[id(view)] = (view, context, piece)
        return piece
