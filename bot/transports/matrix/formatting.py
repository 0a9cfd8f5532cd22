"""What the bot's Matrix messages look like: plain `body` plus HTML built from escaped text.

Everything the bot says may quote chat text, so the HTML is never taken from anyone: it is
the plain text, escaped. An explicit, usually empty, `m.mentions` keeps quoted text such as
`@room` or someone's name from pinging people; only the person answered is mentioned.
"""

from __future__ import annotations

import html
import re
from typing import Any

MAX_BODY = 16_000
"""Longest body sent, in characters: with its HTML twin it stays well under the 64 KiB that
a Matrix event may weigh."""

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ADDRESSEE = re.compile(r"(@[^\s:]+:\S+?): ")


def clean_outgoing(text: str) -> str:
    """Text safe to put in an event: line breaks and tabs kept, other controls dropped,
    capped at `MAX_BODY` characters."""
    text = _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if len(text) > MAX_BODY:
        text = text[: MAX_BODY - 1] + "…"
    return text


def message_content(text: str, msgtype: str = "m.notice") -> dict[str, Any]:
    """The content of an `m.room.message`: `msgtype` with plain and HTML bodies.

    A reply starting with `@user:server: ` mentions that user, with a link (a "pill").
    """
    body = clean_outgoing(text)
    mentions: list[str] = []
    addressee = _ADDRESSEE.match(body)
    if addressee is not None:
        user = addressee.group(1)
        mentions.append(user)
        rest = body[addressee.end():]
        formatted = (f'<a href="https://matrix.to/#/{html.escape(user)}">{html.escape(user)}'
                     f"</a>: {_html(rest)}")
    else:
        formatted = _html(body)
    return {
        "msgtype": msgtype,
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
        "m.mentions": {"user_ids": mentions} if mentions else {},
    }


def _html(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")
