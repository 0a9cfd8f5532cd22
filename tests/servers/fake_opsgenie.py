"""The Opsgenie Alert API, as documented, on loopback.

`POST /v2/alerts` (create), `POST /v2/alerts/{id}/acknowledge|close?identifierType=alias|id`
and `GET /v2/alerts/requests/{requestId}`, authenticated with `Authorization: GenieKey KEY`.
Writes are asynchronous like Opsgenie's: they answer 202 with a requestId and are processed
only by the time the status is asked for the `processing_polls`+1-th time (before that the
status answers 404 "Request not found. It might not be processed, yet."). Open alerts are
unique per alias: a create for an open alias raises its `count` instead of opening another.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.servers.fake_http import FakeService

CREATE_FIELDS = {"message", "alias", "description", "responders", "visibleTo", "actions",
                 "tags", "details", "entity", "source", "priority", "user", "note"}
ACTION_FIELDS = {"user", "source", "note"}
RESPONDER_TYPES = {"user", "team", "escalation", "schedule"}
PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}


@dataclass
class Alert:
    alias: str
    message: str
    body: dict[str, Any]
    status: str = "open"
    acknowledged: bool = False
    count: int = 1
    notes: list[str] = field(default_factory=list)


@dataclass
class Pending:
    action: str
    identifier: str
    body: dict[str, Any]
    polls: int = 0
    result: dict[str, Any] | None = None


def validate_create(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    errors = {k: "unknown field" for k in body if k not in CREATE_FIELDS}
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        errors["message"] = "Message can not be empty."
    elif len(message) > 130:
        errors["message"] = "Message can not be longer than 130 characters."
    alias = body.get("alias")
    if alias is not None and (not isinstance(alias, str) or len(alias) > 512):
        errors["alias"] = "Alias can not be longer than 512 characters."
    description = body.get("description")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > 15000):
        errors["description"] = "Description can not be longer than 15000 characters."
    for responder in body.get("responders", []):
        if not isinstance(responder, dict) or responder.get("type") not in RESPONDER_TYPES or \
                not ({"id", "name", "username"} & set(responder)):
            errors["responders"] = "Responder type and one of id, name, username are required."
    if "priority" in body and body["priority"] not in PRIORITIES:
        errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]."
    tags = body.get("tags", [])
    if not isinstance(tags, list) or len(tags) > 20 or not all(isinstance(t, str) for t in tags):
        errors["tags"] = "Tags must be a list of at most 20 strings."
    details = body.get("details", {})
    if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
        errors["details"] = "Details must be a map of strings."
    return errors


class FakeOpsgenie(FakeService):
    def __init__(self, api_key: str, *, processing_polls: int = 1) -> None:
        super().__init__()
        self.api_key = api_key
        self.processing_polls = processing_polls
        self.alerts: list[Alert] = []
        self.pending: dict[str, Pending] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/alerts", self.create)
        app.router.add_post("/v2/alerts/{identifier}/{action:acknowledge|close}", self.act)
        app.router.add_get("/v2/alerts/requests/{request_id}", self.status)

    def alert(self, alias: str) -> Alert:
        (found,) = [a for a in self.alerts if a.alias == alias]
        return found

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"GenieKey {self.api_key}"

    @staticmethod
    def _error(status: int, message: str, errors: dict[str, str] | None = None
               ) -> web.Response:
        body: dict[str, Any] = {"message": message, "took": 0.001,
                                "requestId": str(uuid.uuid4())}
        if errors:
            body["errors"] = errors
        return web.json_response(body, status=status)

    async def _json(self, request: web.Request) -> Any:
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType()
        try:
            return json.loads(await request.read() or b"{}")
        except ValueError:
            return None

    def _accept(self, action: str, identifier: str, body: dict[str, Any]) -> web.Response:
        request_id = str(uuid.uuid4())
        self.pending[request_id] = Pending(action, identifier, body)
        return web.json_response({"result": "Request will be processed", "took": 0.002,
                                  "requestId": request_id}, status=202)

    async def create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "Could not authenticate")
        body = await self._json(request)
        errors = validate_create(body)
        if errors:
            return self._error(422, "Request body is not processable. Please check the errors.",
                               errors)
        return self._accept("Create", body.get("alias") or str(uuid.uuid4()), body)

    async def act(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "Could not authenticate")
        if request.query.get("identifierType") not in ("alias", "id", "tiny"):
            return self._error(422, "Invalid identifierType")
        if request.query["identifierType"] != "alias":
            return self._error(422, "this fake only knows aliases")
        body = await self._json(request)
        if not isinstance(body, dict) or set(body) - ACTION_FIELDS:
            return self._error(422, "Request body is not processable. Please check the errors.",
                               {"body": "unknown fields"})
        action = "Acknowledge" if request.match_info["action"] == "acknowledge" else "Close"
        return self._accept(action, request.match_info["identifier"], body)

    async def status(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "Could not authenticate")
        pending = self.pending.get(request.match_info["request_id"])
        if pending is None:
            return self._error(404, "Request not found. It might not be processed, yet.")
        if pending.polls < self.processing_polls:
            pending.polls += 1
            return self._error(404, "Request not found. It might not be processed, yet.")
        if pending.result is None:
            pending.result = self._process(pending)
        return web.json_response({"data": pending.result, "took": 0.001,
                                  "requestId": request.match_info["request_id"]})

    def _process(self, pending: Pending) -> dict[str, Any]:
        open_alert = next((a for a in self.alerts
                           if a.alias == pending.identifier and a.status == "open"), None)
        result: dict[str, Any] = {"action": pending.action, "alias": pending.identifier,
                                  "processedAt": "2026-11-21T12:00:00.000Z",
                                  "integrationId": "fake-integration"}
        if pending.action == "Create":
            if open_alert is None:
                open_alert = Alert(pending.identifier, pending.body["message"], pending.body)
                self.alerts.append(open_alert)
            else:
                open_alert.count += 1
            return {**result, "success": True, "isSuccess": True, "status": "Created alert",
                    "alertId": f"alert-{self.alerts.index(open_alert)}"}
        if open_alert is None:
            return {**result, "success": False, "isSuccess": False,
                    "status": "Alert does not exist"}
        if pending.action == "Acknowledge":
            open_alert.acknowledged = True
        else:
            open_alert.status = "closed"
        if pending.body.get("note"):
            open_alert.notes.append(pending.body["note"])
        return {**result, "success": True, "isSuccess": True,
                "status": f"{pending.action}d alert" if pending.action == "Close"
                else "Acknowledged alert"}
