"""The herd's requests answered below aiohttp: a complete `GET` head for a hot document (`/`,
`/api/v2/summary.json`...) or for the live-update stream, on a connection aiohttp has not
been given yet, is answered from the connection's protocol with the document's precomputed
bytes, in the same turn of the loop it arrived in.

Under an outage's crowd aiohttp's per-request path (parsing into a Request, a Response
object, header serialization, the middlewares, a handler coroutine) cost twice the send
itself (bench/page.py); and each live-update client held aiohttp's protocol, parser,
request, response, writer and handler task for as long as it stayed (12 KiB,
bench/sse_fanout.py). Here a connection's protocol (bot/web/connection_guard.py) hands the
connection to aiohttp only at the first request this does not answer, and from then on
every byte goes to aiohttp.

Anything out of the ordinary is left to aiohttp, which answers it as before: another method
or path, a query string or an escaped path, HTTP/1.0, a body, `Connection: close`, an
upgrade, a head split over two reads or two requests in one, a byte outside printable
ASCII, a field repeated, no Host, a document whose status is not 200, a path another
route owns, a live-update request that would be refused. What is answered here is what
aiohttp answers: the same status line, fields in the same order, the same body
(tests/integration/test_hot_path.py compares both).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from bot.web.snapshot import Snapshot
from bot.web.wire_head import closing_lines

MAX_HEAD = 8190
"""Longer heads go to aiohttp, whose limits (and answers) apply to them."""

MAX_FIELDS = 64
"""More header fields go to aiohttp (it refuses more than its own limit)."""

_HEAD = re.compile(
    rb"GET (/[!-~]*) HTTP/1\.1\r\n"
    rb"((?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t -~]*\r\n)*)"
    rb"\r\n\Z")
"""One whole HTTP/1.1 GET head and nothing after it: field names are tokens, values
printable ASCII."""

_OTHERS_FIELDS = frozenset({b"content-length", b"transfer-encoding", b"upgrade", b"expect"})
"""Fields whose request aiohttp answers: a body, an upgrade, an expectation."""

EVENTS_PATH = "/api/events"

_OK = b"HTTP/1.1 200 OK\r\n"
_NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\n"


class HotConnection(Protocol):
    """A connection as the hot path sees it (bot/web/connection_guard.py's protocol)."""

    transport: asyncio.Transport

    def when_lost(self, callback: Callable[[], None]) -> object:
        """Call `callback` when the connection closes."""
        ...

    def busy(self) -> None:
        """A live-update stream holds the connection: no header timeout, no eviction."""
        ...

    def done(self) -> None:
        """An answer is written: the connection waits for its next request head."""
        ...


class HotPath:
    """Answers what it can of a connection's first bytes; see the module's docstring."""

    def __init__(self, snapshot: Snapshot, app: web.Application,
                 documents: Callable[[web.Request], Any],
                 observers: list[Callable[[web.Request, web.StreamResponse], None]]) -> None:
        self._snapshot = snapshot
        self._router = app.router
        self._documents_handler = documents
        self._observers = observers
        """The answer observers of bot/web/app.py (the test suite's OpenAPI check)."""
        self._routed: dict[str, bool] = {}
        """Whether aiohttp routes a path to `documents` (or to the live-update stream);
        only paths of hot documents are kept, so it stays as small as the page."""
        self.answered = 0

    def answer(self, data: bytes, connection: HotConnection) -> bool:
        """Answer `data`, a connection's bytes, when it is one request of ours: True when
        answered (and `connection.done` called, or for a live-update stream `busy`, then
        `done` when it ends), False when aiohttp is to have them."""
        if len(data) > MAX_HEAD or not data.endswith(b"\r\n\r\n"):
            return False
        head = _HEAD.match(data)
        if head is None:
            return False
        lines = head.group(2).split(b"\r\n")[:-1]
        if len(lines) > MAX_FIELDS:
            return False
        fields: dict[bytes, bytes] = {}
        for line in lines:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name in _OTHERS_FIELDS or name in fields:
                # A repeated Host, User-Agent... aiohttp refuses (400); the rest it reads
                # its way.
                return False
            fields[name] = value.strip(b" \t")
        if b"host" not in fields:
            return False  # required of HTTP/1.1: aiohttp answers 400
        persistence = fields.get(b"connection")
        if persistence is not None and persistence.lower() != b"keep-alive":
            return False
        path = head.group(1).decode("ascii")
        if path == EVENTS_PATH:
            return self._events(fields, connection)
        document = self._snapshot.hot(path)
        if document is None or document.status != 200 or not self._ours(path):
            return False
        if_none_match = fields.get(b"if-none-match")
        chosen, not_modified = document.negotiate(
            fields.get(b"accept-encoding", b"").decode("ascii"),
            None if if_none_match is None else if_none_match.decode("ascii"))
        transport = connection.transport
        if not_modified:
            transport.write(_NOT_MODIFIED + chosen.wire_not_modified_headers + closing_lines())
        else:
            transport.write(b"".join((_OK, chosen.wire_headers, closing_lines(), chosen.body)))
        self.answered += 1
        connection.done()
        if self._observers:
            self._observe(path, fields, chosen.body, chosen.headers, not_modified,
                          chosen.not_modified_headers)
        return True

    def _events(self, fields: dict[bytes, bytes], connection: HotConnection) -> bool:
        stream = self._snapshot.stream
        if not self._ours(EVENTS_PATH, stream.handle):
            return False
        transport = connection.transport
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else None
        if not stream.open_below(transport, fields.get(b"last-event-id", b"").decode("ascii"),
                                 address, connection.when_lost, connection.done):
            return False
        connection.busy()
        self.answered += 1
        return True

    def _ours(self, path: str, handler: Callable[..., Any] | None = None) -> bool:
        routed = self._routed.get(path)
        if routed is None:
            routed = self._routed[path] = self._routes_to(
                path, self._documents_handler if handler is None else handler)
        return routed

    def _routes_to(self, path: str, handler: Callable[..., Any]) -> bool:
        """Whether aiohttp's router sends a GET of `path` to `handler`: the first resource
        that matches the path and has a GET route decides (aiohttp's order)."""
        for resource in self._router.resources():
            info = resource.get_info()
            if "path" in info:
                matched = info["path"] == path
            elif "pattern" in info:
                matched = info["pattern"].fullmatch(path) is not None
            elif "prefix" in info:
                matched = path.startswith(info["prefix"])
            else:
                return False  # a kind of resource not known here: aiohttp decides
            if not matched:
                continue
            routes = [route for route in resource if route.method in ("GET", "*")]
            if routes:
                return all(route.handler == handler for route in routes)
        return False

    def _observe(self, path: str, fields: dict[bytes, bytes], body: bytes,
                 headers: Any, not_modified: bool, not_modified_headers: Any) -> None:
        """Show the answer to the observers as aiohttp's would be shown (tests only)."""
        from aiohttp.test_utils import make_mocked_request

        request = make_mocked_request(
            "GET", path, headers={k.decode(): v.decode() for k, v in fields.items()})
        response = (web.Response(status=304, headers=not_modified_headers) if not_modified
                    else web.Response(status=200, body=body, headers=headers))
        for observer in self._observers:
            observer(request, response)
