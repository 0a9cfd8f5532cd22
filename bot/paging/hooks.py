"""Inbound acknowledgements: PagerDuty v3 webhooks at `POST /hooks/pagerduty`.

PagerDuty signs each delivery with `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw
body>` (a comma-separated list while a secret is being rotated). An `incident.acknowledged`
event whose `incident_key` is one of our dedup keys acknowledges that incident's pages here,
as `#ack` would: the escalation stops and the channel is told. Everything else gets a 2xx, so
PagerDuty does not retry what we deliberately ignore.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.paging.announce import Announcer
from bot.paging.pager import Pager
from commands import paging_replies as say
from commands.text import clean_text
from storage.models import utcnow
from storage.timeline import Where
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.paging")

MAX_AGENT = 100


def pagerduty_signed(secret: str, body: bytes, header: str) -> bool:
    """Whether one of the `v1=` signatures in `header` is the HMAC-SHA256 of `body`."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(
        hmac.compare_digest(part.strip()[3:].encode(), expected.encode())
        for part in header.split(",") if part.strip().startswith("v1=")
    )


class PagerDutyHook:
    def __init__(
        self,
        secret: str,
        store: Store,
        pager: Pager,
        announcer: Announcer,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._secret = secret
        self._store = store
        self._pager = pager
        self._announcer = announcer
        self._clock = clock
        self.on_queued: Callable[[], None] = lambda: None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not pagerduty_signed(self._secret, body,
                                request.headers.get("X-PagerDuty-Signature", "")):
            log.warning("PagerDuty webhook with a missing or wrong signature from %s",
                        request.remote)
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            document = json.loads(body)
            event = document["event"]
            event_type = event["event_type"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "not a PagerDuty v3 webhook event"}, status=400)
        if event_type != "incident.acknowledged":
            return web.json_response({"ignored": str(event_type)[:100]})
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        key = data.get("incident_key")
        agent = _agent(event.get("agent"))
        acknowledged = await self._acknowledge(key, agent) if isinstance(key, str) else None
        if acknowledged is None:
            return web.json_response({"ignored": "no page with this incident_key"})
        self.on_queued()
        return web.json_response({"acknowledged": acknowledged})

    async def _acknowledge(self, key: str, agent: str) -> int | None:
        now = self._clock()
        async with self._store.transaction() as tx:
            page = await tx.pages.by_dedup_key(key)
            if page is None:
                return None
            incident = await tx.incidents.get(page.incident_id, for_update=True)
            if incident is None:
                return None
            where = Where(actor=agent, identity="PagerDuty webhook")
            live = await self._pager.acknowledge(tx, incident, agent, where, now,
                                                 via="PagerDuty")
            if live:
                await self._announcer.announce(
                    tx, incident.id, f"page-acknowledged:{page.id}:pagerduty",
                    say.acknowledged_in_pagerduty(agent, incident.id), now)
        log.info("incident #%d: acknowledged in PagerDuty by %s", page.incident_id, agent)
        return len(live)


def _agent(agent: Any) -> str:
    """Who acknowledged, as PagerDuty names them (untrusted text: cleaned and capped)."""
    summary = agent.get("summary") if isinstance(agent, dict) else None
    name = clean_text(summary)[:MAX_AGENT] if isinstance(summary, str) else ""
    return name or "someone"
