"""The one-line plain-text answers the status page gives when it will not serve a request:
a bad number (400), a body too slow to arrive (408), no room for another live client (503).

They are cheap on purpose (no template, no database) because they are what a flood gets, and
none is logged per request: a flood must not fill the log either.
"""

from __future__ import annotations

from aiohttp import web


def refusal(status: int, text: str, *, retry_after: int | None = None,
            close: bool = False) -> web.Response:
    """`status` with `text` as its body. `close`: end the connection after it, so a refused
    client gives its file descriptor back at once instead of idling on keep-alive."""
    headers = {"Cache-Control": "no-store"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    response = web.Response(status=status, text=text + "\n", headers=headers)
    if close:
        response.force_close()
    return response
