"""Names of the captured-chat files inside an incident bundle.

Channel and room names come from chat servers and are untrusted: a name like `../../etc/x`,
one with a NUL, a newline or a right-to-left override must not become a path outside `chat/`
or a name that lies about itself when listed. Every character that is not safe in a file name
becomes `_`, leading dots go (no `.`, `..` or hidden files), and the length is capped.
Two channels that end up with the same name (the same channel on two networks, or names that
differ only in unsafe characters) are told apart by the network, then by a short hash of the
original: the same incident always gets the same names, whatever order they are asked in.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Iterable

MAX_NAME = 80
"""Characters of a channel's file name (before `.log`): tar's and file systems' limits are
far above, and a reader's terminal is not."""

_UNSAFE = frozenset('/\\<>:"|?*')
"""Path separators, and what Windows refuses in a file name (a bundle is unpacked there too)."""


def safe_name(text: str) -> str:
    """One path component, safe to create anywhere: never empty, `.`, `..` or hidden."""
    cleaned = []
    for char in unicodedata.normalize("NFC", text):
        # Category C*: controls, format (bidi overrides, zero widths), surrogates, unassigned.
        unsafe = char in _UNSAFE or (
            unicodedata.category(char).startswith(("C", "Z")) and char != " ")
        cleaned.append("_" if unsafe else char)
    name = "".join(cleaned).strip().lstrip(".")
    return name[:MAX_NAME].rstrip(" .") or "_"


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def chat_member_names(channels: Iterable[tuple[str | None, str]]) -> dict[tuple[str | None, str],
                                                                       str]:
    """(network, channel) → `chat/NAME.log`, unique and stable for a given set of channels."""
    keys = sorted(set(channels), key=lambda key: (key[1], key[0] or ""))
    plain = {key: safe_name(key[1]) for key in keys}
    counts = Counter(name.casefold() for name in plain.values())
    named: dict[tuple[str | None, str], str] = {}
    for key in keys:
        name = plain[key]
        if counts[name.casefold()] > 1:
            network = safe_name(key[0]) if key[0] else "_"
            name = f"{name[:MAX_NAME - len(network) - 1]}@{network}"
        named[key] = name
    # Still the same (case-insensitively: macOS and Windows fold case)? Add the hash.
    counts = Counter(name.casefold() for name in named.values())
    for key, name in named.items():
        if counts[name.casefold()] > 1:
            suffix = _hashed(f"{key[0] or ''}\0{key[1]}")
            named[key] = f"{name[:MAX_NAME - 9]}~{suffix}"
    return {key: f"chat/{name}.log" for key, name in named.items()}
