"""Which services account each nick is logged in to, as far as the server has told us.

Filled from extended-join, account-notify, WHOX (354) and WHOIS (330) replies. An entry is
dropped when what it says may have stopped being true: the user changed nick, quit, or left
every channel we share (then account-notify no longer reaches us), and after `ttl` seconds in
any case. "Not logged in" is cached too (`None`), distinct from "unknown".
"""

from __future__ import annotations

import time
from collections.abc import Callable

_UNKNOWN = object()


class AccountCache:
    def __init__(self, fold: Callable[[str], str] = str.lower, *, ttl: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fold = fold
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[str | None, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def known(self, nick: str) -> bool:
        return self._lookup(nick) is not _UNKNOWN

    def account(self, nick: str) -> str | None:
        """The account (None: not logged in, or unknown; ask `known` to tell them apart)."""
        found = self._lookup(nick)
        return None if found is _UNKNOWN else found  # type: ignore[return-value]

    def _lookup(self, nick: str) -> object:
        key = self.fold(nick)
        entry = self._entries.get(key)
        if entry is None:
            return _UNKNOWN
        account, at = entry
        if self._clock() - at > self._ttl:
            del self._entries[key]
            return _UNKNOWN
        return account

    def set(self, nick: str, account: str | None) -> None:
        """Record an account; `"*"` and `"0"` (the protocol's "none") mean not logged in."""
        if account in ("*", "0", ""):
            account = None
        self._entries[self.fold(nick)] = (account, self._clock())

    def forget(self, nick: str) -> None:
        self._entries.pop(self.fold(nick), None)

    def renamed(self, old: str, new: str) -> None:
        self.forget(old)
        self.forget(new)

    def clear(self) -> None:
        self._entries.clear()
