"""Opsgenie Alert API: create an alert per page step, acknowledge and close it by alias.

Requests authenticate with `Authorization: GenieKey KEY`. The alert's `alias` is the page
step's dedup key: Opsgenie keeps one open alert per alias, so a retried create does not open a
second one, and acknowledge/close address it with `identifierType=alias`. Opsgenie processes
every write asynchronously: it answers 202 with a `requestId`, and only
`GET /v2/alerts/requests/{requestId}` tells whether the write succeeded. We follow up for a
few seconds; a write Opsgenie has not processed by then is retried later (safe: by alias).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

from bot.config.fields import ConfigModel, HttpUrl
from bot.config.models import Contacts
from bot.core.ports import DeliveryRejected, DeliveryUnavailable
from bot.paging.delivery import ACKNOWLEDGE, RESOLVE, TRIGGER, PageEvent

if TYPE_CHECKING:
    from bot.paging.plugin import PagingProviderPlugin, ProviderContext
from bot.paging.providers.http import check, detail, fetch, request

MAX_MESSAGE = 130
MAX_DESCRIPTION = 15000
PRIORITY = {1: "P1", 2: "P2", 3: "P3", 4: "P4"}
SOURCE = "statusdesk"


class OpsgenieProvider(ConfigModel):
    """`paging.providers.opsgenie`."""

    url: HttpUrl = "https://api.opsgenie.com"
    api_key: SecretStr


class Opsgenie:
    name = "opsgenie"
    actions = frozenset({TRIGGER, ACKNOWLEDGE, RESOLVE})
    CONFIG_SCHEMA = OpsgenieProvider
    order = 20
    contacts = ("opsgenie",)
    deduplicates = True

    def __init__(self, config: OpsgenieProvider, http: aiohttp.ClientSession, *,
                 poll_every: float = 0.5, polls: int = 10) -> None:
        self._base = str(config.url).rstrip("/")
        self._key = config.api_key
        self._secrets = [config.api_key.get_secret_value()]
        self._http = http
        self._poll_every = poll_every
        self._polls = polls

    @classmethod
    def from_config(cls, config: OpsgenieProvider, context: ProviderContext) -> Opsgenie:
        return cls(config, context.http)

    def reaches(self, contacts: Contacts) -> bool:
        return contacts.opsgenie is not None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"GenieKey {self._key.get_secret_value()}",
                "Content-Type": "application/json"}

    def request_for(self, event: PageEvent) -> tuple[str, dict[str, Any]]:
        """(path with query, JSON body) of the Alert API call for `event`."""
        alias = quote(event.dedup_key, safe="")
        if event.action == TRIGGER:
            message = event.summary
            if len(message) > MAX_MESSAGE:
                message = message[: MAX_MESSAGE - 1] + "…"
            lines = [f"Incident #{event.incident_id}: {event.title} (sev{event.severity})",
                     f"Escalation step {event.step} of {event.steps}, paged by "
                     f"{event.paged_by}."]
            if event.text:
                lines.append(event.text)
            if event.incident_url:
                lines.append(event.incident_url)
            lines.append(f"Acknowledge here or with #ack {event.incident_id} in the channel.")
            details = {"incident": str(event.incident_id), "escalation_manager":
                       event.manager.name, "escalation_step": f"{event.step} of {event.steps}",
                       "paged_by": event.paged_by}
            if event.incident_url:
                details["url"] = event.incident_url
            return "/v2/alerts", {
                "message": message,
                "alias": event.dedup_key,
                "description": "\n".join(lines)[:MAX_DESCRIPTION],
                "responders": [{"type": "user", "username": event.manager.contacts.opsgenie}],
                "tags": ["statusdesk", f"sev{event.severity}"],
                "details": details,
                "entity": f"incident-{event.incident_id}",
                "source": SOURCE,
                "priority": PRIORITY.get(event.severity, "P1"),
                "user": event.paged_by,
            }
        verb = "acknowledge" if event.action == ACKNOWLEDGE else "close"
        note = f"{'Acknowledged' if verb == 'acknowledge' else 'Resolved'} in statusdesk"
        if event.actor:
            note += f" by {event.actor}"
        return (f"/v2/alerts/{alias}/{verb}?identifierType=alias",
                {"user": event.actor or SOURCE, "source": SOURCE, "note": note})

    async def send(self, event: PageEvent) -> None:
        path, body = self.request_for(event)
        answer = await request(self._http, "POST", self._base + path, "Opsgenie",
                               body=json.dumps(body).encode(), headers=self._headers(),
                               secrets=self._secrets)
        try:
            request_id = json.loads(answer)["requestId"]
        except (ValueError, KeyError, TypeError):
            raise DeliveryUnavailable(
                "Opsgenie accepted the request without a requestId: "
                + detail(answer, self._secrets)
            ) from None
        await self._follow_up(str(request_id))

    async def _follow_up(self, request_id: str) -> None:
        """Wait for Opsgenie to process the request; raise if it failed."""
        url = f"{self._base}/v2/alerts/requests/{quote(request_id, safe='')}"
        for attempt in range(self._polls):
            if attempt:
                await asyncio.sleep(self._poll_every)
            status, headers, answer = await fetch(self._http, "GET", url, "Opsgenie",
                                                  headers=self._headers(),
                                                  secrets=self._secrets)
            if status == 404:
                continue  # "Request not found. It might not be processed, yet."
            check(status, headers, answer, "Opsgenie", self._secrets)
            try:
                data = json.loads(answer).get("data") or {}
            except (ValueError, AttributeError):
                raise DeliveryUnavailable("Opsgenie request status unreadable: "
                                          + detail(answer, self._secrets)) from None
            if data.get("isSuccess", data.get("success")):
                return
            raise DeliveryRejected(f"Opsgenie could not process the request: "
                                   f"{data.get('status') or 'no status given'}")
        raise DeliveryUnavailable(
            f"Opsgenie had not processed request {request_id} after "
            f"{self._polls * self._poll_every:.0f}s")


if TYPE_CHECKING:
    _plugin: PagingProviderPlugin = Opsgenie  # the entry point's object fits the protocol
