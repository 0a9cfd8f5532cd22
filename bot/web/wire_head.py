"""The last lines of a response head written below aiohttp (bot/web/hot_path.py): the Date
and Server fields aiohttp puts after a response's own headers, so an answer from the hot
path has the same fields, in the same order, as aiohttp's for the same request."""

from __future__ import annotations

import time
from email.utils import formatdate

from aiohttp.http import SERVER_SOFTWARE

_SERVER = f"Server: {SERVER_SOFTWARE}\r\n\r\n".encode()

_second = -1
_closing = b""


def closing_lines() -> bytes:
    """`Date: ...`, `Server: ...` and the blank line ending the head. The date changes once a
    second, so it is formatted once a second, not per answer."""
    global _second, _closing
    now = int(time.time())
    if now != _second:
        _closing = b"Date: %s\r\n%s" % (formatdate(now, usegmt=True).encode(), _SERVER)
        _second = now
    return _closing
