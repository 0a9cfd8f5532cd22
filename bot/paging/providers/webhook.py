"""A generic webhook: a signed JSON POST for every page, acknowledgement and resolution.

Signed as every webhook of ours is (bot/delivery/signing.py; README, "Paging").
`X-Statusdesk-Delivery` is the same on every retry of one delivery (deduplicate on it);
any 2xx is success, 408/429/5xx are retried (honouring Retry-After), any other 4xx is
reported and not retried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from pydantic import SecretStr

from bot.config.fields import ConfigModel, HttpUrl
from bot.config.models import Contacts
from bot.delivery.signing import signed_headers
from bot.paging.delivery import ACKNOWLEDGE, RESOLVE, TRIGGER, PageEvent

if TYPE_CHECKING:
    from bot.paging.plugin import PagingProviderPlugin, ProviderContext
from bot.paging.providers.http import request

EVENTS = {TRIGGER: "page.triggered", ACKNOWLEDGE: "page.acknowledged",
          RESOLVE: "page.resolved"}
VERSION = 1


class WebhookProvider(ConfigModel):
    """`paging.providers.webhook`."""

    url: HttpUrl
    secret: SecretStr | None = None
    """Shared with the receiver to sign requests."""


class Webhook:
    name = "webhook"
    actions = frozenset(EVENTS)
    CONFIG_SCHEMA = WebhookProvider
    order = 30
    contacts = ("webhook",)
    deduplicates = True

    def __init__(self, config: WebhookProvider, http: aiohttp.ClientSession, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._url = str(config.url)
        self._secret = config.secret
        self._http = http
        self._clock = clock

    @classmethod
    def from_config(cls, config: WebhookProvider, context: ProviderContext) -> Webhook:
        return cls(config, context.http)

    def reaches(self, contacts: Contacts) -> bool:
        return contacts.webhook is not None

    @staticmethod
    def document(event: PageEvent) -> dict[str, Any]:
        return {
            "version": VERSION,
            "event": EVENTS[event.action],
            "delivery": f"{event.dedup_key}:{event.action}",
            "dedup_key": event.dedup_key,
            "at": event.at.isoformat(),
            "incident": {"id": str(event.incident_id), "title": event.title,
                         "severity": event.severity, "url": event.incident_url},
            "page": {"round": event.round, "step": event.step, "steps": event.steps,
                     "manager": event.manager.name, "contact": event.manager.contacts.webhook,
                     "paged_by": event.paged_by, "text": event.text},
            "actor": event.actor,
        }

    async def send(self, event: PageEvent) -> None:
        document = self.document(event)
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(self._clock()))
        headers = {"Content-Type": "application/json", "User-Agent": "statusdesk",
                   "X-Statusdesk-Event": document["event"],
                   "X-Statusdesk-Delivery": document["delivery"],
                   **signed_headers(self._secret.get_secret_value() if self._secret else None,
                                    timestamp, body)}
        await request(self._http, "POST", self._url, "the webhook", body=body,
                      headers=headers,
                      secrets=[self._secret.get_secret_value()] if self._secret else [])


if TYPE_CHECKING:
    _plugin: PagingProviderPlugin = Webhook  # the entry point's object fits the protocol
