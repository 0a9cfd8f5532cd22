"""Ordinary channel chatter, recognised on the raw line before anything parses it.

Most lines of a busy channel are people talking to each other: not a command, not addressed
to the bot, in a channel whose conversation nobody keeps (`incidents.capture`). Each used to
be parsed into an event, then into a message for the desk, which only found that it was not
for the bot: about four times the CPU a bare `irc` client spends reading the same line.
`OrdinaryChatter` tells those lines from the raw text with a few string operations, and errs
towards the full path: a line it is not sure about (tags naming an account, a first
character that could start a command or our nick, a channel it does not know, anything not a
plain `:source PRIVMSG #channel :text`) is handled exactly as before.

What a skipped line would have been: `Desk.handle` finds no command in it (`parse` wants `#`,
`@` or the bot's nick first) and, outside captured channels, does nothing else with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

COMMAND_STARTS = frozenset("#@")
"""First characters of a line that may be a command whatever the bot's nick."""


class OrdinaryChatter:
    def __init__(self, address_as: str, kept: Collection[str]) -> None:
        self._address_as = address_as
        self._kept = frozenset(kept)
        """Channels whose every line the desk wants (captured into open incidents)."""
        self._fold: Callable[[str], str] = str.lower
        self._channels: frozenset[str] = frozenset()
        self._nick: str | None = None
        self._firsts: frozenset[str] = frozenset()

    def configure(self, fold: Callable[[str], str], channels: Iterable[str]) -> None:
        """The server's case folding and our channels (configured names); call again when
        either changes (ISUPPORT)."""
        kept = {fold(name) for name in self._kept} | {name.casefold() for name in self._kept}
        self._fold = fold
        self._channels = frozenset(
            fold(name) for name in channels
            if fold(name) not in kept and name.casefold() not in kept)
        self._nick = None  # the first characters fold anew

    def ordinary(self, line: str, nick: str | None) -> bool:
        """Whether `line`, as read from the server, is chatter nobody acts on. `nick` is
        ours as the server knows it now (a fallback nick is addressed too)."""
        if line[:1] == "@":
            tags, _, line = line.partition(" ")
            if "account=" in tags:
                return False  # the roster learns the sender's account from it
        if line[:1] != ":":
            return False
        parts = line.split(" ", 3)
        if len(parts) != 4 or parts[1] != "PRIVMSG" or parts[3][:1] != ":":
            return False
        first = parts[3][1:2]
        if not first or first in COMMAND_STARTS or not first.isascii():
            return False
        if nick != self._nick:
            self._nick = nick
            self._firsts = frozenset(self._fold(n[:1]) for n in (nick, self._address_as) if n)
        fold = self._fold
        return fold(first) not in self._firsts and fold(parts[2]) in self._channels
