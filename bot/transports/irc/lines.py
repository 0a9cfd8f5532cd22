"""Outgoing text as IRC lines: safe characters, split to fit 512 bytes, capped when very long.

A line the server relays is `:nick!user@host NOTICE #channel :text\\r\\n`, and the whole of it
must fit in 512 bytes, so the room left for text depends on our own prefix and the target.
Text is cut between characters (never inside a UTF-8 sequence), at a space when one is near.
"""

from __future__ import annotations

import re

__all__ = [
    "ELLIPSIS",
    "MAX_LINE",
    "MAX_LINES_PER_TEXT",
    "fit",
    "sanitize",
    "split_text",
    "text_budget",
    "truncate",
]

MAX_LINE = 512
"""Bytes in one IRC line, CR LF included (RFC 1459 §2.3)."""

MAX_LINES_PER_TEXT = 16
"""A text needing more lines than this is cut and ends with an ellipsis: a channel flooded
with a wall of text helps nobody, and the full text is on the status page."""

ELLIPSIS = "…"

# CR and LF would end the line and start a new command (protocol injection); NUL ends it on
# some servers; \x01 would turn a NOTICE into a CTCP reply.
_UNSAFE = re.compile("[\x00\x01\r\n]+")
_SURROGATES = re.compile("[\ud800-\udfff]")


def sanitize(text: str) -> str:
    """`text` with every character that could end an IRC line or start a CTCP made a space."""
    text = _UNSAFE.sub(" ", text)
    # A lone surrogate cannot be encoded as UTF-8 at all.
    return _SURROGATES.sub("\ufffd", text)


def fit(text: str, budget: int) -> str:
    """The longest start of `text` whose UTF-8 encoding takes at most `budget` bytes."""
    encoded = text.encode("utf-8")
    if len(encoded) <= budget:
        return text
    # Cutting the bytes may split a character: "ignore" drops its orphaned leading bytes.
    return encoded[: max(0, budget)].decode("utf-8", "ignore")


def truncate(text: str, budget: int) -> str:
    """`text` in at most `budget` bytes, ending with an ellipsis when something was cut."""
    if len(text.encode("utf-8")) <= budget:
        return text
    room = budget - len(ELLIPSIS.encode("utf-8"))
    if room <= 0:
        return fit(ELLIPSIS, budget)
    return fit(text, room).rstrip() + ELLIPSIS


def split_text(text: str, budget: int, max_lines: int = MAX_LINES_PER_TEXT) -> list[str]:
    """`text` made safe and cut into lines of at most `budget` bytes each.

    A line ends at the last space that keeps at least half of the budget, else between two
    characters. With more than `max_lines` lines the last one ends with an ellipsis. Empty
    (or all blank) text gives no lines.
    """
    if budget < 8:
        raise ValueError(f"no room for text in an IRC line (budget {budget} bytes)")
    rest = sanitize(text).strip()
    lines: list[str] = []
    while rest:
        if len(lines) == max_lines - 1 and len(rest.encode("utf-8")) > budget:
            lines.append(truncate(rest, budget))
            break
        head = fit(rest, budget)
        if len(head) == len(rest):
            lines.append(rest)
            break
        space = head.rfind(" ")
        if space > 0 and len(head[:space].encode("utf-8")) >= budget // 2:
            head = head[:space]
        lines.append(head.rstrip())
        rest = rest[len(head):].lstrip()
    return [line for line in lines if line]


def text_budget(prefix: str, command: str, targets: list[str]) -> int:
    """Bytes left for text in `COMMAND targets :text`, both as we send it (all targets,
    no prefix) and as the server relays it to each target (one target, our `prefix`)."""
    relayed = max(len(f":{prefix} {command} {t} :".encode()) for t in targets)
    sent = len(f"{command} {','.join(targets)} :".encode())
    return MAX_LINE - 2 - max(relayed, sent)
