"""A rendered public document: bytes with a strong ETag, served with the contract's headers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

PUBLIC_CACHE = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    content_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Document:
        return cls(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    @classmethod
    def json(cls, value: Any) -> Document:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return cls.of(body, "application/json")

    def response(self, request: web.Request) -> web.Response:
        headers = {"ETag": self.etag, "Cache-Control": PUBLIC_CACHE}
        if self.content_type == "application/json":
            headers["Access-Control-Allow-Origin"] = "*"
        if _matches(request.headers.get("If-None-Match"), self.etag):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = (
            f"{self.content_type}; charset=utf-8"
            if self.content_type.startswith(("text/", "application/json"))
            else self.content_type
        )
        return web.Response(body=self.body, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates
