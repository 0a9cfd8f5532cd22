"""Who shares a channel with the bot, which services account each of them is logged in to,
and when each nick last changed hands — in the order the server told us.

A line's sender is a nick, and a nick is only a name: between the moment a line arrives and
the moment the bot has asked the server who is behind it (a WHOX or WHOIS lookup, queued
behind the bot's paced output), its sender may leave the nick and someone else take it. So
the roster numbers every event that can change who holds a nick, or what we know of them
(NICK, QUIT, PART, KICK, JOIN, ACCOUNT), and a line remembers the number current when it
arrived (`Sighting`). A fact about the nick learned later counts for that line only if the
nick has not changed since; otherwise the line's sender cannot be known and the command is
refused, never attributed to whoever holds the nick now.

The server tells us of such changes only for users who share a channel with us. A nick we
share no channel with could change hands unseen, so nothing looked up about it is trusted
(`Sighting.visible`); its own lines still carry what they carry (an `account` tag, the mask).

Sans-I/O: the transport feeds it the server's events and asks it questions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from commands.casemapping import CaseMapping

MAX_REMEMBERED = 50_000
"""Nicks whose last change we remember; past that all are forgotten at once, which only
makes lines in flight at that moment unverifiable (refused with "say it again")."""
NOT_LOGGED_IN = ("*", "0", "")


@dataclass(frozen=True, slots=True)
class Sighting:
    """What was true of a nick when one of its lines arrived."""

    nick: str
    serial: int
    visible: bool
    """It shared a channel with us: a change of hands would be seen."""
    account_known: bool
    account: str | None


class Roster:
    def __init__(self, casemapping: CaseMapping = CaseMapping.RFC1459, *, ttl: float = 600.0,
                 clock: Callable[[], float] = time.monotonic,
                 max_remembered: int = MAX_REMEMBERED) -> None:
        self._casemapping = casemapping
        self._ttl = ttl
        self._clock = clock
        self._max_remembered = max_remembered
        self._serial = 0
        self._floor = 0
        self._changed: dict[str, int] = {}
        self._members: dict[str, set[str]] = {}
        self._shared: dict[str, int] = {}
        self._accounts: dict[str, tuple[str | None, float]] = {}
        self.tracks_logins = True
        """The server tells us of every login and logout (account-notify). Without that an
        account learned once may be stale a moment later (someone identified since), so
        nothing is kept: every command asks."""

    # --- questions ------------------------------------------------------------------------

    @property
    def casemapping(self) -> CaseMapping:
        return self._casemapping

    def fold(self, name: str) -> str:
        return self._casemapping.fold(name)

    def sight(self, nick: str) -> Sighting:
        """The nick as it stands now: what a line arriving now carries with it."""
        key = self.fold(nick)
        found = self._account_entry(key)
        return Sighting(nick=nick, serial=self._serial, visible=key in self._shared,
                        account_known=found is not None,
                        account=found[0] if found is not None else None)

    def last_change(self, nick: str) -> int:
        """The number of the latest event that may have changed who holds `nick`."""
        return max(self._changed.get(self.fold(nick), 0), self._floor)

    def changed_since(self, sighting: Sighting) -> bool:
        return self.last_change(sighting.nick) > sighting.serial

    def visible(self, nick: str) -> bool:
        return self.fold(nick) in self._shared

    def known(self, nick: str) -> bool:
        return self._account_entry(self.fold(nick)) is not None

    def account(self, nick: str) -> str | None:
        """The account (None: not logged in, or unknown; ask `known` to tell them apart)."""
        found = self._account_entry(self.fold(nick))
        return found[0] if found is not None else None

    def members(self, channel: str) -> int:
        return len(self._members.get(self.fold(channel), ()))

    def __len__(self) -> int:
        """Nicks we share a channel with."""
        return len(self._shared)

    # --- what the server told us ----------------------------------------------------------

    def remap(self, casemapping: CaseMapping) -> None:
        """The server told us its case mapping (ISUPPORT comes before any channel)."""
        if casemapping is not self._casemapping:
            self._casemapping = casemapping
            self.clear()

    def we_joined(self, channel: str) -> None:
        self._drop_channel(self.fold(channel))
        self._members[self.fold(channel)] = set()

    def we_left(self, channel: str) -> None:
        self._drop_channel(self.fold(channel))

    def names(self, channel: str, nicks: Iterable[str]) -> None:
        """NAMES (353): who was there when we joined."""
        for nick in nicks:
            self._add(self.fold(channel), self.fold(nick))

    def joined(self, channel: str, nick: str, *, account: str | None = None,
               with_account: bool = False) -> None:
        """JOIN; `with_account` when the server said the account too (extended-join)."""
        key = self.fold(nick)
        self._add(self.fold(channel), key)
        if with_account:
            self._store_account(key, account)

    def parted(self, channel: str, nick: str) -> None:
        """PART or KICK."""
        key, chan = self.fold(nick), self.fold(channel)
        members = self._members.get(chan)
        if members is not None and key in members:
            members.discard(key)
            self._unshare(key)

    def quit(self, nick: str) -> None:
        key = self.fold(nick)
        for members in self._members.values():
            members.discard(key)
        self._shared.pop(key, None)
        self._accounts.pop(key, None)
        self._mark(key)

    def renamed(self, old: str, new: str) -> None:
        """NICK: the same connection under a new name. Both names change hands; the account
        goes with the connection."""
        old_key, new_key = self.fold(old), self.fold(new)
        account = self._accounts.pop(old_key, None)
        self._accounts.pop(new_key, None)
        shared = self._shared.pop(old_key, 0)
        for members in self._members.values():
            if old_key in members:
                members.discard(old_key)
                members.add(new_key)
        if shared:
            self._shared[new_key] = shared
            if account is not None:
                self._accounts[new_key] = account
        self._mark(old_key)
        self._mark(new_key)

    def account_changed(self, nick: str, account: str | None) -> None:
        """ACCOUNT (account-notify): logged in or out. A line that arrived before carries
        the old state, which is no longer what we know."""
        key = self.fold(nick)
        self._store_account(key, account)
        self._mark(key)

    def learned_account(self, nick: str, account: str | None) -> None:
        """The server answered who `nick` is (account-tag, WHOX, WHOIS): true of whoever
        holds it now. Kept only while we would see the nick change hands."""
        self._store_account(self.fold(nick), account)

    def clear(self) -> None:
        """Disconnected: we know nobody, and every line still in flight is unverifiable."""
        self._members.clear()
        self._shared.clear()
        self._accounts.clear()
        self._changed.clear()
        self._serial += 1
        self._floor = self._serial

    # --- inside ---------------------------------------------------------------------------

    def _account_entry(self, key: str) -> tuple[str | None] | None:
        entry = self._accounts.get(key)
        if entry is None:
            return None
        account, at = entry
        if self._clock() - at > self._ttl:
            del self._accounts[key]
            return None
        return (account,)

    def _store_account(self, key: str, account: str | None) -> None:
        if key not in self._shared or not self.tracks_logins:
            return
        if account in NOT_LOGGED_IN:
            account = None
        self._accounts[key] = (account, self._clock())

    def _add(self, channel: str, key: str) -> None:
        members = self._members.setdefault(channel, set())
        if key in members:
            return
        members.add(key)
        count = self._shared.get(key, 0)
        self._shared[key] = count + 1
        if count == 0:
            # Until now its changes went unseen: a line from before cannot be vouched for.
            self._mark(key)

    def _unshare(self, key: str) -> None:
        count = self._shared.get(key, 0) - 1
        if count > 0:
            self._shared[key] = count
            return
        self._shared.pop(key, None)
        self._accounts.pop(key, None)
        self._mark(key)

    def _drop_channel(self, channel: str) -> None:
        for key in self._members.pop(channel, set()):
            self._unshare(key)

    def _mark(self, key: str) -> None:
        self._serial += 1
        if len(self._changed) >= self._max_remembered:
            self._changed.clear()
            self._floor = self._serial
        self._changed[key] = self._serial
