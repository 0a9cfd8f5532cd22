"""A webhook receiver that does what the README tells receivers to do: check the timestamp
is recent, recompute the HMAC over `timestamp.body`, compare in constant time, then
deduplicate on X-Statusdesk-Delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from aiohttp import web

from tests.servers.fake_http import FakeService

TOLERANCE = 300


class WebhookReceiver(FakeService):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.documents: list[dict[str, Any]] = []
        self.deliveries: set[str] = set()
        self.refused: list[str] = []

    @property
    def hook_url(self) -> str:
        return f"{self.url}/page"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/page", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Statusdesk-Timestamp", "")
        given = request.headers.get("X-Statusdesk-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
            self.refused.append("stale or missing timestamp")
            return web.Response(status=401, text="stale timestamp")
        expected = "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given):
            self.refused.append("bad signature")
            return web.Response(status=401, text="bad signature")
        delivery = request.headers["X-Statusdesk-Delivery"]
        if delivery not in self.deliveries:
            self.deliveries.add(delivery)
            self.documents.append(json.loads(body))
        return web.Response(status=204)
