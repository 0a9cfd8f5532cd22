"""What the server told us about itself in RPL_ISUPPORT (005), read from the `irc` library's
`FeatureSet` (which parses the raw tokens: `TARGMAX` into a dict, numbers into ints)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DEFAULT_TOPICLEN = 300
"""When the server does not say: shorter than any server's real limit that we know of."""

MAX_BATCH_TARGETS = 20
"""Even where a server allows unlimited targets, one NOTICE names at most this many."""

_RFC1459_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~"
_RFC1459_LOWER = "abcdefghijklmnopqrstuvwxyz{}|^"
_FOLDS = {
    "ascii": str.maketrans(_RFC1459_UPPER[:26], _RFC1459_LOWER[:26]),
    "rfc1459": str.maketrans(_RFC1459_UPPER, _RFC1459_LOWER),
    "strict-rfc1459": str.maketrans(_RFC1459_UPPER[:29], _RFC1459_LOWER[:29]),
}


def add_flags(features: Any, arguments: list[str]) -> None:
    """Record the tokens without a value (`WHOX`, `EXCEPTS`) as true: the library's
    `FeatureSet.load` skips them."""
    for token in arguments[1:-1]:
        if token and "=" not in token and not token.startswith("-"):
            features.set(token)


def casefold_for(features: Any) -> Callable[[str], str]:
    """How the server compares nicks and channel names (`CASEMAPPING`, default rfc1459)."""
    mapping = str(getattr(features, "casemapping", "rfc1459")).lower()
    table = _FOLDS.get(mapping, _FOLDS["rfc1459"])
    return lambda name: name.translate(table)


def notice_targets(features: Any) -> int:
    """How many targets one NOTICE may name: `TARGMAX=NOTICE:n`, else `MAXTARGETS`, else 1."""
    targmax = getattr(features, "targmax", None)
    if isinstance(targmax, dict):
        for key, value in targmax.items():
            if str(key).upper() == "NOTICE":
                if value is None:
                    return MAX_BATCH_TARGETS
                return max(1, min(int(value), MAX_BATCH_TARGETS))
    maxtargets = getattr(features, "maxtargets", None)
    if isinstance(maxtargets, int) and maxtargets > 0:
        return min(maxtargets, MAX_BATCH_TARGETS)
    return 1


def topic_length(features: Any) -> int:
    value = getattr(features, "topiclen", None)
    return value if isinstance(value, int) and value > 0 else DEFAULT_TOPICLEN


def has_whox(features: Any) -> bool:
    return getattr(features, "whox", None) is True
