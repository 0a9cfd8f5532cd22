"""PagerDuty Events API v2: `trigger`, `acknowledge` and `resolve` one alert per page step.

The manager's contact is the routing (integration) key of a PagerDuty service; the alert's
`dedup_key` is the page step's (`statusdesk-incident-12-page-1-step-2`), so a retried trigger
folds into the alert the first attempt opened, and acknowledge/resolve find it. 202 means
accepted; 400 means the event is invalid and is never retried; 429, 5xx and network errors are
retried (PagerDuty's own advice), honouring `Retry-After`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.config.fields import ConfigModel, HttpUrl
from bot.config.models import Contacts
from bot.paging.delivery import ACKNOWLEDGE, RESOLVE, TRIGGER, PageEvent

if TYPE_CHECKING:
    from bot.paging.plugin import PagingProviderPlugin, ProviderContext
from bot.paging.policy import PAGERDUTY_SEVERITY
from bot.paging.providers.http import request

MAX_SUMMARY = 1024
CLIENT = "statusdesk"


class PagerDutyProvider(ConfigModel):
    """`paging.providers.pagerduty`."""

    url: HttpUrl = "https://events.pagerduty.com/v2/enqueue"


class PagerDuty:
    name = "pagerduty"
    actions = frozenset({TRIGGER, ACKNOWLEDGE, RESOLVE})
    CONFIG_SCHEMA = PagerDutyProvider
    order = 10
    contacts = ("pagerduty",)
    deduplicates = True

    def __init__(self, config: PagerDutyProvider, http: aiohttp.ClientSession, *,
                 source: str = "statusdesk") -> None:
        self._url = str(config.url)
        self._http = http
        self._source = source

    @classmethod
    def from_config(cls, config: PagerDutyProvider, context: ProviderContext) -> PagerDuty:
        return cls(config, context.http)

    def reaches(self, contacts: Contacts) -> bool:
        return contacts.pagerduty is not None

    def event(self, event: PageEvent) -> dict[str, Any]:
        """The Events v2 body for `event`."""
        contact = event.manager.contacts.pagerduty
        assert contact is not None
        body: dict[str, Any] = {
            "routing_key": contact.get_secret_value(),
            "event_action": event.action,
            "dedup_key": event.dedup_key,
        }
        if event.action != TRIGGER:
            return body
        summary = event.summary
        if len(summary) > MAX_SUMMARY:
            summary = summary[: MAX_SUMMARY - 1] + "…"
        body["payload"] = {
            "summary": summary,
            "source": self._source,
            "severity": PAGERDUTY_SEVERITY.get(event.severity, "critical"),
            "timestamp": event.at.isoformat(),
            "component": f"incident-{event.incident_id}",
            "class": "incident page",
            "custom_details": {
                "incident": str(event.incident_id),
                "title": event.title,
                "severity": f"sev{event.severity}",
                "escalation_manager": event.manager.name,
                "escalation_step": f"{event.step} of {event.steps}",
                "paged_by": event.paged_by,
                "text": event.text or "",
                "acknowledge": f"#ack {event.incident_id} in the incident channel",
            },
        }
        body["client"] = CLIENT
        if event.incident_url:
            body["client_url"] = event.incident_url
            body["links"] = [{"href": event.incident_url,
                              "text": f"Incident #{event.incident_id} on the status page"}]
        return body

    async def send(self, event: PageEvent) -> None:
        document = self.event(event)
        await request(self._http, "POST", self._url, "PagerDuty",
                      body=json.dumps(document).encode(),
                      headers={"Content-Type": "application/json"},
                      secrets=[str(document["routing_key"])])


if TYPE_CHECKING:
    _plugin: PagingProviderPlugin = PagerDuty  # the entry point's object fits the protocol
