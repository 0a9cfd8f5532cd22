"""Making untrusted chat text safe to store and to send again.

Text typed in a channel ends up in channel topics, NOTICEs on other networks, the database and
the status page. `clean_text` turns it into one plain line: no IRC formatting, no control
characters (so no CR/LF injection of extra IRC commands, no CTCP), no bidi overrides or
zero-width characters that make text look like something else. It never shortens text beyond
removing those characters; length limits are the grammar's business and are refused, not cut.
"""

from __future__ import annotations

import re

__all__ = ["clean_text"]

# IRC formatting (https://modern.ircdocs.horse/formatting): colour \x03 with its optional
# `N[N][,N[N]]` digits, hex colour \x04 with its optional `RRGGBB[,RRGGBB]`, and the one-byte
# toggles bold \x02, italic \x1d, underline \x1f, strikethrough \x1e, monospace \x11,
# reverse \x16 and reset \x0f. A comma after a colour belongs to it only when digits follow.
_IRC_FORMATTING = re.compile(
    r"\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"
    r"|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)

# Invisible characters that only serve to spoof: zero-width space/non-joiner/joiner and the
# LRM/RLM marks (U+200B-U+200F), the Arabic letter mark (U+061C), word joiner (U+2060),
# zero-width no-break space / BOM (U+FEFF), the bidi embeddings and overrides (U+202A-U+202E)
# and isolates (U+2066-U+2069). They are removed without a trace.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")

# Every remaining C0 control (CR, LF, TAB, NUL, the CTCP delimiter \x01, ...), DEL and every
# C1 control becomes a space. Lone surrogates cannot be encoded as UTF-8 (for the database or
# the wire), so they become U+FFFD.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Return `text` as one safe, plain line.

    Formatting codes and spoofing characters are removed; control characters become spaces; runs
    of whitespace (any Unicode whitespace, including U+2028/U+2029 line separators and NBSP)
    become a single space; both ends are stripped. `clean_text` is idempotent.
    """
    text = _IRC_FORMATTING.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROLS.sub(" ", text)
    text = _SURROGATES.sub("\ufffd", text)
    return " ".join(text.split())
