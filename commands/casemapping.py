"""When two IRC names are the same name: the network's `CASEMAPPING`, not ours.

An IRC server says in RPL_ISUPPORT which characters it treats as the upper and lower case of
each other. `[bob]` and `{bob}` are one nick under `rfc1459` and two different nicks (two
different people) under `ascii`. Comparing identities with a folding wider than the server's
would let `{bob}` pass for a whitelisted `[bob]`; so every comparison of nicks, masks and
accounts uses the mapping the server advertised, and a mapping we do not know compares
exactly (no folding at all): equal strings are one name under every mapping, so that can
only refuse someone, never let a different person in.
"""

from __future__ import annotations

from enum import StrEnum


class CaseMapping(StrEnum):
    ASCII = "ascii"
    RFC1459 = "rfc1459"
    RFC1459_STRICT = "rfc1459-strict"
    EXACT = "exact"
    """A mapping we do not know (e.g. `rfc7613`): names match only when they are equal."""

    @classmethod
    def advertised(cls, value: object) -> CaseMapping:
        """The mapping for a server's `CASEMAPPING` token; RFC 1459's when it names none
        (the protocol's default), exact comparison when it names one we do not know."""
        if value is None or value is True or value == "":
            return cls.RFC1459
        name = str(value).strip().lower()
        if name == "strict-rfc1459":  # the older spelling, still sent by some servers
            return cls.RFC1459_STRICT
        try:
            return cls(name)
        except ValueError:
            return cls.EXACT

    def fold(self, text: str) -> str:
        return text.translate(_TABLES[self]) if self is not CaseMapping.EXACT else text


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~"
_LOWER = "abcdefghijklmnopqrstuvwxyz{}|^"
_TABLES = {
    CaseMapping.ASCII: str.maketrans(_UPPER[:26], _LOWER[:26]),
    CaseMapping.RFC1459: str.maketrans(_UPPER, _LOWER),
    CaseMapping.RFC1459_STRICT: str.maketrans(_UPPER[:29], _LOWER[:29]),
}
