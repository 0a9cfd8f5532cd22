"""Chat text the database keeps: bounded, and visibly cut when it had to be."""

from __future__ import annotations


def kept(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start and a mark saying how much
    is missing: a reader must never take the start of a message for all of it."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [{len(text) - limit} more characters not kept]"
