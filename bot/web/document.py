"""A rendered public document: its bytes, pre-compressed variants and strong ETags, served with
the contract's cache headers. Compression happens at most once per document, never per
request, and never before the change is announced: the snapshot compresses what it rendered
in a thread once the SSE event is out (`compress`), and serves the uncompressed bytes until
then (the same document; `Vary: Accept-Encoding` keeps caches apart)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import brotli
from aiohttp import web
from multidict import CIMultiDict

PUBLIC_CACHE = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"

MIN_COMPRESS = 256
"""Smaller bodies are sent as they are: compression would not pay for its headers."""

BROTLI_QUALITY = 5
"""Every change compresses the documents it changed, on the bot's own CPU. On our pages (4 KB of
HTML each) quality 5 takes 0.3 ms and comes within 1% of quality 9's size, which takes
13 ms holding the GIL: with 45 documents a rebuild cost 600 ms and, in the load soak, more
than half the bot's CPU, and every command waited behind it."""

GZIP_LEVEL = 6
"""zlib's default. On 400 KB of JSON (1,000 open incidents) level 9 took 30 ms, 3.4x
level 6's 8.7 ms, for 3% fewer bytes."""

_TEXT_TYPES = ("text/", "application/json", "application/atom+xml", "application/javascript")


@dataclass(frozen=True, slots=True)
class Representation:
    """One coding of a document, with the response headers built once, not per request."""

    body: bytes
    etag: str
    headers: CIMultiDict[str]
    not_modified_headers: CIMultiDict[str]
    wire_headers: bytes
    """`headers` and the Content-Length as they go on the wire (bot/web/hot_path.py writes
    them as they are, in aiohttp's order; Date and Server follow)."""
    wire_not_modified_headers: bytes


@dataclass(frozen=True, slots=True)
class Document:
    identity: Representation
    """The uncompressed representation."""
    content_type: str
    status: int = 200
    encodings: dict[str, Representation] = field(default_factory=dict)
    """Pre-compressed variants by content coding (`br`, `gzip`), each with its own ETag;
    empty until `compress` ran (or for a body too small to compress)."""
    compressible: bool = False
    """Whether `compress` makes variants (text, at least MIN_COMPRESS bytes)."""
    shared_headers: dict[str, str] = field(default_factory=dict)
    media_type: str = ""

    @property
    def body(self) -> bytes:
        return self.identity.body

    @property
    def etag(self) -> str:
        return self.identity.etag

    @classmethod
    def of(cls, body: bytes, content_type: str, *, status: int = 200,
           compressed: bool = True) -> Document:
        """`compressed=False`: the variants are made later, by `compress`."""
        digest = hashlib.sha256(body).hexdigest()[:32]
        compressible = len(body) >= MIN_COMPRESS
        shared = {"Cache-Control": PUBLIC_CACHE}
        if compressible:
            shared["Vary"] = "Accept-Encoding"
        if content_type == "application/json":
            shared["Access-Control-Allow-Origin"] = "*"
        media = f"{content_type}; charset=utf-8" if content_type.startswith(_TEXT_TYPES) \
            else content_type
        document = cls(_representation(body, f'"{digest}"', None, shared, media), content_type,
                       status, {}, compressible, shared, media)
        if compressed:
            document.compress()
        return document

    @property
    def compressed(self) -> bool:
        return bool(self.encodings) or not self.compressible

    def compress(self) -> None:
        """Make the `br` and `gzip` variants, once (safe from any thread: a second call
        finds them made, or makes equal ones)."""
        if self.compressed:
            return
        body, digest = self.identity.body, self.identity.etag.strip('"')
        # A strong ETag names one representation: each coding gets its own.
        encodings = {
            "br": _representation(brotli.compress(body, quality=BROTLI_QUALITY),
                                  f'"{digest}-br"', "br", self.shared_headers,
                                  self.media_type),
            "gzip": _representation(gzip.compress(body, GZIP_LEVEL, mtime=0), f'"{digest}-gz"',
                                    "gzip", self.shared_headers, self.media_type),
        }
        self.encodings.update(encodings)

    @classmethod
    def json(cls, value: Any, *, compressed: bool = True) -> Document:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return cls.of(body, "application/json", compressed=compressed)

    @classmethod
    def html(cls, text: str, *, status: int = 200, compressed: bool = True) -> Document:
        return cls.of(text.encode(), "text/html", status=status, compressed=compressed)

    def negotiate(self, accept_encoding: str, if_none_match: str | None
                  ) -> tuple[Representation, bool]:
        """The representation a request gets, and whether its answer is 304 Not Modified
        (its ETag is one the client has)."""
        coding = _pick_coding(accept_encoding, self.encodings)
        chosen = self.encodings[coding] if coding is not None else self.identity
        return chosen, self.status == 200 and _matches(if_none_match, chosen.etag)

    def response(self, request: web.Request) -> web.Response:
        chosen, not_modified = self.negotiate(request.headers.get("Accept-Encoding", ""),
                                              request.headers.get("If-None-Match"))
        if not_modified:
            return web.Response(status=304, headers=chosen.not_modified_headers)
        return web.Response(status=self.status, body=chosen.body, headers=chosen.headers)


def _representation(data: bytes, etag: str, coding: str | None, shared: dict[str, str],
                    media: str) -> Representation:
    not_modified = CIMultiDict({**shared, "ETag": etag})
    headers = CIMultiDict({**shared, "ETag": etag, "Content-Type": media})
    if coding is not None:
        headers["Content-Encoding"] = coding
    wire = _wire(headers) + b"Content-Length: %d\r\n" % len(data)
    return Representation(data, etag, headers, not_modified, wire, _wire(not_modified))


def _wire(headers: CIMultiDict[str]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


def _pick_coding(accept: str, available: dict[str, Representation]) -> str | None:
    """The best coding the client accepts (q > 0) among those we have: br, then gzip."""
    if not available or not accept:
        return None
    for coding in _preferred_codings(accept):
        if coding in available:
            return coding
    return None


@functools.lru_cache(maxsize=256)
def _preferred_codings(accept: str) -> tuple[str, ...]:
    """The codings of ours an Accept-Encoding value allows, best first. Clients send a
    handful of distinct values, so each is parsed once."""
    accepted: dict[str, float] = {}
    for part in accept.split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        accepted[name.strip().lower()] = quality
    return tuple(c for c in ("br", "gzip") if accepted.get(c, accepted.get("*", 0.0)) > 0)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates
