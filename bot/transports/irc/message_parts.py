"""A received IRC line split into its parts (tags, source, verb, params), as the `irc`
library splits it, with the two places where the library departs from the IRCv3 message-tags
spec and from modern IRC fixed:

- a tag value ending in a lone backslash keeps it (`a=b\\` gives `b\\`); the spec drops it
  (https://ircv3.net/specs/extensions/message-tags#escaping-values): `parse_tags`;
- a source without a user part (`nick@host`, which servers do send) is taken as a nick of
  `nick@host`, with no user and no host: `Source`.

Both are upstream bugs of jaraco/irc (reported there); the connection (connection.py) uses
these parts instead of the library's. tests/unit/test_irc_message_parts.py runs every
ircdocs parser-tests vector of `msg-split` and `userhost-split` against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from irc.client import NickMask
from irc.message import Arguments

LINE = re.compile(
    r"^(@(?P<tags>[^ ]*) )?(:(?P<prefix>[^ ]+) +)?(?P<command>[^ ]+)( *(?P<argument> .+))?"
)
"""The library's own pattern (`irc.client._rfc_1459_command_regexp`, private there)."""

_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)
_ESCAPED = {":": ";", "s": " ", "n": "\n", "r": "\r", "\\": "\\"}


def unescape_tag_value(value: str) -> str:
    r"""`\:` `\s` `\\` `\r` `\n` as the spec says; a backslash before any other character
    is dropped (`\b` is `b`), and so is a lone backslash at the end."""
    return _ESCAPE.sub(lambda m: _ESCAPED.get(m.group(1), m.group(1)), value)


def parse_tags(group: str | None) -> list[dict[str, Any]] | None:
    """The tags of a line, in the library's shape (`[{"key": k, "value": v}]`, an empty or
    missing value as None), which the library's handlers and ours read."""
    if not group:
        return None
    tags = []
    for item in group.split(";"):
        key, _, value = item.partition("=")
        tags.append({"key": key, "value": unescape_tag_value(value) or None})
    return tags


class Source(NickMask):  # type: ignore[misc]
    """A line's source: `nick!user@host`, `nick@host`, `nick!user`, `nick` or a server name.

    The library's `NickMask` reads everything before `!` as the nick, so `nick@host` had no
    host and a nick with an `@` in it."""

    @property
    def nick(self) -> str:
        return str(self._atoms()[0])

    @property
    def user(self) -> str | None:
        return self._atoms()[1]

    @property
    def host(self) -> str | None:
        return self._atoms()[2]

    @property
    def userhost(self) -> str | None:
        """What follows the nick (`user@host`, `@host`, `user`); None for a bare nick or a
        server name."""
        _, user, host = self._atoms()
        if user is None and host is None:
            return None
        return f"{user or ''}@{host}" if host is not None else user

    def _atoms(self) -> tuple[str, str | None, str | None]:
        nick_user, _, host = str(self).partition("@")
        nick, _, user = nick_user.partition("!")
        return nick, user or None, host or None

    @classmethod
    def from_group(cls, group: str | None) -> Source | None:
        return cls(group) if group else None


@dataclass(frozen=True, slots=True)
class MessageParts:
    tags: list[dict[str, Any]] | None
    source: Source | None
    verb: str
    params: list[str] = field(default_factory=list)

    def tag_values(self) -> dict[str, str]:
        """The tags as ircdocs writes them: a tag without a value has the empty string."""
        return {t["key"]: t["value"] or "" for t in self.tags or ()}


def split_line(line: str) -> MessageParts | None:
    """The parts of one line (without CR LF); None for a line that is no message."""
    match = LINE.match(line)
    if match is None:
        return None
    return MessageParts(
        tags=parse_tags(match.group("tags")),
        source=Source.from_group(match.group("prefix")),
        verb=match.group("command"),
        params=list(Arguments.from_group(match.group("argument"))),
    )
