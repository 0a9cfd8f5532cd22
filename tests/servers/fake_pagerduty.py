"""PagerDuty Events API v2 (`POST /v2/enqueue`) as documented, on loopback.

Validation is strict, as PagerDuty's is: a body that the real service would refuse gets its
400 (`{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`),
so a provider that sends the wrong shape fails here. Alerts are de-duplicated by `dedup_key`
while open, like PagerDuty does; `alerts` keeps every alert ever opened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.servers.fake_http import FakeService

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
TOP_LEVEL = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client",
             "client_url"}
PAYLOAD = {"summary", "source", "severity", "timestamp", "component", "group", "class",
           "custom_details"}


@dataclass
class Alert:
    dedup_key: str
    routing_key: str
    summary: str
    status: str = "triggered"
    events: list[dict[str, Any]] = field(default_factory=list)


def validate(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = [f"Unknown field '{k}'" for k in event if k not in TOP_LEVEL]
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve"):
        if dedup is None:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if "payload" in event:
            errors.append("'payload' is only for trigger events")
    if action == "trigger":
        errors.extend(_validate_payload(event.get("payload")))
        links = event.get("links", [])
        if not isinstance(links, list) or not all(
                isinstance(link, dict) and isinstance(link.get("href"), str)
                and set(link) <= {"href", "text"} for link in links):
            errors.append("'links' must be a list of {href, text}")
    return errors


def _validate_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is required for trigger events"]
    errors = [f"Unknown field 'payload.{k}'" for k in payload if k not in PAYLOAD]
    summary = payload.get("summary")
    if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
        errors.append("'payload.summary' is required (at most 1024 characters)")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        errors.append("'payload.source' is required")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' must be critical, error, warning or info")
    if "timestamp" in payload:
        try:
            datetime.fromisoformat(payload["timestamp"])
        except (TypeError, ValueError):
            errors.append("'payload.timestamp' must be an ISO 8601 timestamp")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    return errors


class FakePagerDuty(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[Alert] = []
        self.accepted: list[dict[str, Any]] = []

    @property
    def enqueue_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self.enqueue)

    def open_alert(self, dedup_key: str) -> Alert | None:
        for alert in reversed(self.alerts):
            if alert.dedup_key == dedup_key and alert.status != "resolved":
                return alert
        return None

    def alert(self, dedup_key: str) -> Alert:
        (found,) = [a for a in self.alerts if a.dedup_key == dedup_key]
        return found

    async def enqueue(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return self._invalid(["Content-Type must be application/json"])
        try:
            event = json.loads(await request.read())
        except ValueError:
            return self._invalid(["Request body is not valid JSON"])
        errors = validate(event)
        if errors:
            return self._invalid(errors)
        self.accepted.append(event)
        dedup = event.get("dedup_key") or f"generated-{len(self.accepted)}"
        alert = self.open_alert(dedup)
        if event["event_action"] == "trigger":
            if alert is None:
                alert = Alert(dedup, event["routing_key"], event["payload"]["summary"])
                self.alerts.append(alert)
            alert.events.append(event)
        elif alert is not None and alert.routing_key == event["routing_key"]:
            # Acknowledge/resolve only apply through the routing key that triggered.
            alert.events.append(event)
            alert.status = "acknowledged" if event["event_action"] == "acknowledge" \
                else "resolved"
        return web.json_response({"status": "success", "message": "Event processed",
                                  "dedup_key": dedup}, status=202)

    @staticmethod
    def _invalid(errors: list[str]) -> web.Response:
        return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                  "errors": errors}, status=400)
