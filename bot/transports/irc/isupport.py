"""What the server told us about itself in RPL_ISUPPORT (005), read from the `irc` library's
`FeatureSet` (which parses the raw tokens: `TARGMAX` into a dict, numbers into ints)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commands.casemapping import CaseMapping

DEFAULT_TOPICLEN = 300
"""When the server does not say: shorter than any server's real limit that we know of."""

MAX_BATCH_TARGETS = 20
"""Even where a server allows unlimited targets, one NOTICE names at most this many."""


def add_flags(features: Any, arguments: list[str]) -> None:
    """Record the tokens without a value (`WHOX`, `EXCEPTS`) as true: the library's
    `FeatureSet.load` skips them."""
    for token in arguments[1:-1]:
        if token and "=" not in token and not token.startswith("-"):
            features.set(token)


def casemapping_of(features: Any) -> CaseMapping:
    """How the server compares nicks and channel names (`CASEMAPPING`, default rfc1459;
    one we do not know compares exactly)."""
    return CaseMapping.advertised(getattr(features, "casemapping", None))


def casefold_for(features: Any) -> Callable[[str], str]:
    """How to fold channel names and our own nick for lookups. Identity comparisons use
    `casemapping_of` as it is; here a mapping we do not know folds ASCII letters, as every
    server does, so `#Ops` in the configuration still finds the server's `#ops`."""
    mapping = casemapping_of(features)
    return (CaseMapping.ASCII if mapping is CaseMapping.EXACT else mapping).fold


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


def nick_length(features: Any) -> int | None:
    """`NICKLEN`, when the server said it (before registration nobody knows)."""
    value = getattr(features, "nicklen", None)
    return value if isinstance(value, int) and value > 0 else None


def has_whox(features: Any) -> bool:
    return getattr(features, "whox", None) is True
