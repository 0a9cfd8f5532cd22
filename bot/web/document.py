"""A rendered public document: its bytes, pre-compressed variants and strong ETags, served with
the contract's cache headers. Compression happens once per change, never per request."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import brotli
from aiohttp import web

PUBLIC_CACHE = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"

MIN_COMPRESS = 256
"""Smaller bodies are sent as they are: compression would not pay for its headers."""

_TEXT_TYPES = ("text/", "application/json", "application/atom+xml", "application/javascript")


@dataclass(frozen=True, slots=True)
class Encoded:
    body: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    content_type: str
    etag: str
    status: int = 200
    encodings: dict[str, Encoded] = field(default_factory=dict)
    """Pre-compressed variants by content coding (`br`, `gzip`), each with its own ETag."""

    @classmethod
    def of(cls, body: bytes, content_type: str, *, status: int = 200) -> Document:
        digest = hashlib.sha256(body).hexdigest()[:32]
        encodings: dict[str, Encoded] = {}
        if len(body) >= MIN_COMPRESS:
            # A strong ETag names one representation: each coding gets its own.
            encodings["br"] = Encoded(brotli.compress(body, quality=9), f'"{digest}-br"')
            encodings["gzip"] = Encoded(gzip.compress(body, 9, mtime=0), f'"{digest}-gz"')
        return cls(body, content_type, f'"{digest}"', status, encodings)

    @classmethod
    def json(cls, value: Any) -> Document:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return cls.of(body, "application/json")

    @classmethod
    def html(cls, text: str, *, status: int = 200) -> Document:
        return cls.of(text.encode(), "text/html", status=status)

    @property
    def media_type(self) -> str:
        if self.content_type.startswith(_TEXT_TYPES):
            return f"{self.content_type}; charset=utf-8"
        return self.content_type

    def response(self, request: web.Request) -> web.Response:
        coding = _pick_coding(request.headers.get("Accept-Encoding", ""), self.encodings)
        body, etag = (self.body, self.etag)
        if coding is not None:
            body, etag = self.encodings[coding].body, self.encodings[coding].etag
        headers = {"ETag": etag, "Cache-Control": PUBLIC_CACHE}
        if self.encodings:
            headers["Vary"] = "Accept-Encoding"
        if self.content_type == "application/json":
            headers["Access-Control-Allow-Origin"] = "*"
        if self.status == 200 and _matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = self.media_type
        if coding is not None:
            headers["Content-Encoding"] = coding
        return web.Response(status=self.status, body=body, headers=headers)


def _pick_coding(accept: str, available: dict[str, Encoded]) -> str | None:
    """The best coding the client accepts (q > 0) among those we have: br, then gzip."""
    if not available or not accept:
        return None
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
    for coding in ("br", "gzip"):
        weight = accepted.get(coding, accepted.get("*", 0.0))
        if coding in available and weight > 0:
            return coding
    return None


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates
