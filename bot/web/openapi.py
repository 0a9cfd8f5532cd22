"""`/api/openapi.json`: an OpenAPI 3.1 description of every HTTP path of DESIGN Part 1.

Plain data built once per process and served as bytes like the page's other documents (no
framework generates it from the handlers). The test suite checks it with
openapi-spec-validator and checks every JSON answer the tests receive against it
(tests/openapi_check.py), so a handler that drifts from it fails a test.

The Statuspage documents keep Statuspage's shape; their objects allow more keys than listed
(clients of the real Statuspage ignore the ones they do not know).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from bot.web.metrics import build_version

PATH = "/api/openapi.json"
INCIDENT_LOG_SCHEMA = Path(__file__).parent.parent / "schemas" / "incident-log-v1.schema.json"

Json = dict[str, Any]


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], properties: Json, **more: Any) -> Json:
    return {"type": "object", "required": required, "properties": properties, **more}


TIME: Json = {"type": "string", "format": "date-time",
              "description": "UTC with milliseconds, as Statuspage writes it: "
                             "2026-11-21T14:02:00.000Z"}
OPTIONAL_TIME: Json = {"oneOf": [TIME, {"type": "null"}]}
ID: Json = {"type": "string", "pattern": "^[0-9]+$", "description": "a number, as a string"}
NULLABLE_STRING: Json = {"type": ["string", "null"]}

INCIDENT_STATES = ["investigating", "identified", "monitoring", "resolved"]
MAINTENANCE_STATES = ["scheduled", "in_progress", "verifying", "completed"]
COMPONENT_STATES = ["operational", "degraded_performance", "partial_outage", "major_outage",
                    "under_maintenance"]


def _statuspage_schemas() -> Json:
    update = _obj(
        ["id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
         "deliver_notifications", "custom_tweet", "tweet_id"],
        {"id": ID, "status": {"enum": INCIDENT_STATES + MAINTENANCE_STATES},
         "body": {"type": "string"}, "incident_id": ID, "created_at": TIME,
         "updated_at": TIME, "display_at": TIME,
         "affected_components": {"type": ["array", "null"]},
         "deliver_notifications": {
             "type": "boolean",
             "description": "whether e-mail subscribers are told of this update"},
         "custom_tweet": {"type": ["string", "null"], "description": "always null"},
         "tweet_id": {"type": ["string", "null"], "description": "always null"}})
    component = _obj(
        ["id", "name", "status", "created_at", "updated_at", "position", "description",
         "group_id", "page_id", "group", "only_show_if_degraded", "showcase", "start_date"],
        {"id": {"type": "string"}, "name": {"type": "string"},
         "status": {"enum": COMPONENT_STATES}, "created_at": TIME, "updated_at": TIME,
         "position": {"type": "integer", "minimum": 1}, "description": NULLABLE_STRING,
         "showcase": {"type": "boolean"}, "start_date": NULLABLE_STRING,
         "group_id": NULLABLE_STRING, "page_id": {"type": "string"},
         "group": {"type": "boolean"}, "only_show_if_degraded": {"type": "boolean"},
         "components": {"type": "array", "items": {"type": "string"},
                        "description": "a group's members (groups only)"}})
    incident_properties: Json = {
        "id": ID, "name": {"type": "string"}, "status": {"enum": INCIDENT_STATES},
        "impact": {"enum": ["none", "minor", "major", "critical"]},
        "created_at": TIME, "updated_at": TIME, "monitoring_at": OPTIONAL_TIME,
        "resolved_at": OPTIONAL_TIME, "started_at": TIME, "page_id": {"type": "string"},
        "shortlink": {"type": "string", "format": "uri"},
        "components": {"type": "array", "items": _ref("Component")},
        "incident_updates": {"type": "array", "items": _ref("IncidentUpdate")},
    }
    incident_required = ["id", "name", "status", "impact", "created_at", "updated_at",
                         "monitoring_at", "resolved_at", "started_at", "page_id", "shortlink",
                         "components", "incident_updates"]
    maintenance = _obj(
        [*incident_required, "scheduled_for", "scheduled_until"],
        {**incident_properties, "status": {"enum": MAINTENANCE_STATES},
         "impact": {"const": "maintenance"}, "scheduled_for": TIME, "scheduled_until": TIME})
    page = _obj(["id", "name", "url", "time_zone", "updated_at"],
                {"id": {"type": "string"}, "name": {"type": "string"},
                 "url": {"type": "string"}, "time_zone": {"type": "string"},
                 "updated_at": TIME})
    status = _obj(["indicator", "description"],
                  {"indicator": {"enum": ["none", "minor", "major", "critical"]},
                   "description": {"type": "string"}})
    return {
        "Page": page,
        "Status": status,
        "Component": component,
        "IncidentUpdate": update,
        "Incident": _obj(incident_required, incident_properties),
        "ScheduledMaintenance": maintenance,
        "Summary": _obj(["page", "status", "components", "incidents",
                         "scheduled_maintenances"],
                        {"page": _ref("Page"), "status": _ref("Status"),
                         "components": {"type": "array", "items": _ref("Component")},
                         "incidents": {"type": "array", "items": _ref("Incident")},
                         "scheduled_maintenances": {"type": "array",
                                                    "items": _ref("ScheduledMaintenance")}}),
        "StatusDocument": _obj(["page", "status"],
                               {"page": _ref("Page"), "status": _ref("Status")}),
        "Incidents": _obj(["page", "incidents"],
                          {"page": _ref("Page"),
                           "incidents": {"type": "array", "items": _ref("Incident")}}),
        "Components": _obj(["page", "components"],
                           {"page": _ref("Page"),
                            "components": {"type": "array", "items": _ref("Component")}}),
        "ScheduledMaintenances": _obj(
            ["page", "scheduled_maintenances"],
            {"page": _ref("Page"),
             "scheduled_maintenances": {"type": "array",
                                        "items": _ref("ScheduledMaintenance")}}),
    }


def _own_schemas() -> Json:
    return {
        "Alert": _obj(["alert"], {"alert": NULLABLE_STRING}, additionalProperties=False),
        "Error": _obj(["error"], {"error": {"type": "string"}, "detail": {"type": "string"}},
                      additionalProperties=False),
        "Health": _obj(
            ["status", "database", "role", "transports"],
            {"status": {"enum": ["ok", "error"]},
             "database": {"type": "string",
                          "description": "ok, unwritable: KIND, or error: TYPE"},
             "role": {"enum": ["leader", "standby"]},
             "transports": {"type": "object", "description": "each transport's state"},
             "outbox": _obj(["pending", "failed"], {"pending": {"type": "integer"},
                                                    "failed": {"type": "integer"}}),
             "lease": {"type": "object"},
             "http": {"type": "object", "additionalProperties": {"type": "integer"}},
             "event_loop": _obj(["state", "lag_p99_seconds", "lag_max_seconds"],
                                {"state": {"enum": ["ok", "slow"]},
                                 "lag_p99_seconds": {"type": "number"},
                                 "lag_max_seconds": {"type": "number"}}),
             "export": {
                 "description": "export_dir: off, or its directory and whether the last "
                                "write worked",
                 "oneOf": [
                     _obj(["enabled"], {"enabled": {"const": False}},
                          additionalProperties=False),
                     _obj(["enabled", "dir", "ok", "error"],
                          {"enabled": {"const": True}, "dir": {"type": "string"},
                           "ok": {"type": "boolean"}, "error": NULLABLE_STRING})]}}),
        "CommandRequest": _obj(["text"], {"text": {"type": "string", "minLength": 1,
                                                   "maxLength": 2000}}),
        "CommandAnswer": _obj(["applied", "replies"],
                              {"applied": {"type": "boolean"},
                               "replies": {"type": "array", "items": {"type": "string"}}},
                              additionalProperties=False),
        "SubscriptionRequest": _obj(["email"], {"email": {"type": "string"},
                                                "components": {"type": "array",
                                                               "items": {"type": "string"}}}),
        "SubscriptionAnswer": _obj(["detail"], {"detail": {"type": "string"}},
                                   additionalProperties=False),
        "PagerDutyAnswer": {"type": "object", "properties": {
            "acknowledged": {"type": "integer", "minimum": 0,
                             "description": "pages acknowledged by this event"},
            "ignored": {"type": "string", "description": "why nothing was done"}}},
    }


def _incident_log_schemas() -> Json:
    """The JSON incident log's schema (bot/schemas), its `$defs` moved next to it so that
    every reference resolves inside this document."""
    schema = json.loads(INCIDENT_LOG_SCHEMA.read_text())
    definitions = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    text = json.dumps({**{f"IncidentLog_{name}": d for name, d in definitions.items()},
                       "IncidentLog": schema})
    for name in definitions:
        text = text.replace(f'"#/$defs/{name}"', f'"#/components/schemas/IncidentLog_{name}"')
    moved: Json = json.loads(text)
    return moved


def _json(schema: Json, description: str = "") -> Json:
    return {"description": description or "OK",
            "content": {"application/json": {"schema": schema}}}


def _typed(media: str, description: str) -> Json:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


def _error(description: str) -> Json:
    return _json(_ref("Error"), description)


HTML = "text/html"


def _page(summary: str, *, query: list[Json] | None = None, not_found: bool = False) -> Json:
    operation: Json = {"summary": summary, "tags": ["page"],
                       "responses": {"200": _typed(HTML, "the page"),
                                     "304": {"description": "not modified (If-None-Match)"}}}
    if query:
        operation["parameters"] = query
        operation["responses"]["400"] = _typed("text/plain", "a parameter out of range")
    if not_found:
        operation["responses"]["404"] = _typed(HTML, "no such page")
    return {"get": operation}


def _document(summary: str, schema: str, tag: str = "statuspage") -> Json:
    return {"get": {"summary": summary, "tags": [tag],
                    "responses": {"200": _json(_ref(schema)),
                                  "304": {"description": "not modified (If-None-Match)"}}}}


INCIDENT_ID = {"name": "id", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": "^[0-9]+$"}}
TOKEN_PARAMETER = {"name": "token", "in": "query", "required": True,
                   "schema": {"type": "string"}}


def _paths() -> Json:
    private: list[Json] = [{"apiToken": []}]
    log_errors = {"401": _error("no or wrong api_token, or the API is off"),
                  "404": _error("no such incident")}
    return {
        "/": _page("the status page: current alert, open incidents, components, maintenance"),
        "/incidents/{id}": {**_page("one incident's public timeline", not_found=True),
                            "parameters": [INCIDENT_ID]},
        "/history": _page("resolved incidents, newest first", query=[
            {"name": "page", "in": "query", "required": False,
             "schema": {"type": "string"}, "description": "1, 2, ... (a whole number)"}]),
        "/success": _page("the statusbot-style success list"),
        "/thanks": _page("the statusbot-style thanks list"),
        "/feed.atom": {"get": {"summary": "Atom feed of status posts and incident updates",
                               "tags": ["page"],
                               "responses": {"200": _typed("application/atom+xml",
                                                           "Atom 1.0")}}},
        "/favicon.ico": {"get": {"summary": "the page's icon (32x32)", "tags": ["page"],
                                 "responses": {"200": {
                                     "description": "an ICO holding one PNG",
                                     "content": {"image/x-icon": {"schema": {
                                         "type": "string", "contentMediaType": "image/x-icon"}}}},
                                     "304": {"description": "not modified (If-None-Match)"}}}},
        "/maintenances.ics": {"get": {"summary": "iCalendar (RFC 5545) of maintenance windows",
                                      "tags": ["page"],
                                      "responses": {"200": _typed("text/calendar",
                                                                  "iCalendar")}}},
        "/alert.json": _document("statusbot-compatible: the current alert or null", "Alert",
                                 tag="page"),
        "/api/v2/summary.json": _document("page, status, components, open incidents and "
                                          "maintenance", "Summary"),
        "/api/v2/status.json": _document("the page's indicator", "StatusDocument"),
        "/api/v2/incidents.json": _document("the 50 newest incidents", "Incidents"),
        "/api/v2/incidents/unresolved.json": _document("open incidents", "Incidents"),
        "/api/v2/components.json": _document("components and groups", "Components"),
        "/api/v2/scheduled-maintenances.json": _document(
            "maintenance windows, newest first", "ScheduledMaintenances"),
        "/api/v2/scheduled-maintenances/upcoming.json": _document(
            "windows not started yet", "ScheduledMaintenances"),
        "/api/v2/scheduled-maintenances/active.json": _document(
            "windows in progress", "ScheduledMaintenances"),
        "/api/events": {"get": {
            "summary": "Server-Sent Events: one `change` event per change of the page",
            "tags": ["page"],
            "responses": {"200": _typed("text/event-stream", "an endless event stream"),
                          "503": _typed("text/plain", "too many live clients")}}},
        "/api/incidents/{id}/log.json": {"parameters": [INCIDENT_ID], "get": {
            "summary": "an incident's full log, private entries included", "tags": ["api"],
            "security": private,
            "responses": {"200": _json(_ref("IncidentLog"), "incident-log-v1"),
                          **log_errors}}},
        "/api/incidents/{id}/log.md": {"parameters": [INCIDENT_ID], "get": {
            "summary": "the same log in Markdown", "tags": ["api"], "security": private,
            "responses": {"200": _typed("text/markdown", "Markdown"), **log_errors}}},
        "/api/incidents/{id}/bundle.tar.gz": {"parameters": [INCIDENT_ID], "get": {
            "summary": "postmortem, JSON log, captured chat, bugs and pages as a .tar.gz",
            "tags": ["api"], "security": private,
            "responses": {"200": {"description": "gzip-compressed tar",
                                  "content": {"application/gzip": {
                                      "schema": {"type": "string",
                                                 "contentEncoding": "binary"}}}},
                          **log_errors}}},
        "/api/v1/commands": {"post": {
            "summary": "type a chat command over HTTP, as the token's user",
            "tags": ["api"], "security": [{"personalToken": []}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _ref("CommandRequest")}}},
            "responses": {
                "200": _json(_ref("CommandAnswer"), "applied or refused, and the replies"),
                "400": _error("not JSON, or no one-line text"),
                "401": _error("no, unknown, wrong or revoked token"),
                "413": _error("body too large"),
                "415": _error("not application/json"),
                "429": _error("too many commands"),
                "502": _error("forwarded to the leader, no answer: it may have been applied"),
                "503": _error("no leader right now: try again after Retry-After"),
            }}},
        "/healthz": {"get": {
            "summary": "200 when the database answers and takes writes; the detail of each "
                       "part", "tags": ["operations"],
            "responses": {"200": _json(_ref("Health"), "healthy"),
                          "503": _json(_ref("Health"), "the database does not answer or "
                                                       "refuses writes")}}},
        "/metrics": {"get": {"summary": "Prometheus text format", "tags": ["operations"],
                             "responses": {"200": _typed("text/plain", "exposition 0.0.4")}}},
        PATH: {"get": {"summary": "this document", "tags": ["operations"],
                       "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1"),
                                     "304": {"description": "not modified"}}}},
        "/subscribe": _page("the subscription form (works without JavaScript)"),
        "/api/subscriptions": {"post": {
            "summary": "subscribe an address (double opt-in: a confirmation mail is sent)",
            "tags": ["subscribers"],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("SubscriptionRequest")},
                "application/x-www-form-urlencoded": {"schema": _ref("SubscriptionRequest")}}},
            "responses": {
                "202": {"description": "accepted; the same answer whether the address is new",
                        "content": {"application/json": {"schema": _ref("SubscriptionAnswer")},
                                    HTML: {"schema": {"type": "string"}}}},
                "400": {"description": "not an address, unknown component...",
                        "content": {"application/json": {"schema": _ref("Error")},
                                    HTML: {"schema": {"type": "string"}}}},
                "404": {"description": "subscriptions are not offered here",
                        "content": {"application/json": {"schema": _ref("Error")},
                                    HTML: {"schema": {"type": "string"}}}},
                "413": {"description": "body too large",
                        "content": {"application/json": {"schema": _ref("Error")},
                                    HTML: {"schema": {"type": "string"}},
                                    "text/plain": {"schema": {"type": "string"}}}},
                "429": {"description": "too many subscriptions from this network",
                        "content": {"application/json": {"schema": _ref("Error")},
                                    HTML: {"schema": {"type": "string"}}}},
            }}},
        "/subscriptions/confirm": {"get": {
            "summary": "confirm a subscription (the link of the confirmation mail)",
            "tags": ["subscribers"], "parameters": [TOKEN_PARAMETER],
            "responses": {"200": _typed(HTML, "confirmed"),
                          "400": _typed(HTML, "incomplete link"),
                          "404": _typed(HTML, "unknown or expired link")}}},
        "/subscriptions/unsubscribe": {
            "get": {"summary": "a button that unsubscribes", "tags": ["subscribers"],
                    "parameters": [TOKEN_PARAMETER],
                    "responses": {"200": _typed(HTML, "the button"),
                                  "400": _typed(HTML, "unknown link")}},
            "post": {"summary": "unsubscribe (RFC 8058 one-click)", "tags": ["subscribers"],
                     "parameters": [TOKEN_PARAMETER],
                     "responses": {"200": _typed(HTML, "unsubscribed"),
                                   "400": _typed(HTML, "unknown link")}}},
        "/console": _page("the operators' web console (sign in with a personal token)"),
        "/console/sign-in": {"post": {
            "summary": "sign in with a personal token (form: token)", "tags": ["console"],
            "responses": {"303": {"description": "signed in: back to /console"},
                          "401": _typed(HTML, "wrong token"),
                          "403": _typed("text/plain", "cross-site request refused")}}},
        "/console/sign-out": {"post": {
            "summary": "end the session", "tags": ["console"],
            "responses": {"303": {"description": "back to /console"},
                          "403": _typed("text/plain", "cross-site request refused")}}},
        "/console/command": {"post": {
            "summary": "post a command from the console (form: text)", "tags": ["console"],
            "responses": {"200": _typed(HTML, "the console with the replies"),
                          "303": {"description": "back to /console"},
                          "401": _typed(HTML, "not signed in"),
                          "403": _typed("text/plain", "cross-site request refused")}}},
        "/playbooks": _page("playbook entries (when playbooks are configured)"),
        "/playbooks/{slug}": {**_page("one playbook entry", not_found=True),
                              "parameters": [{"name": "slug", "in": "path", "required": True,
                                              "schema": {"type": "string"}}]},
        "/hooks/pagerduty": {"post": {
            "summary": "PagerDuty v3 webhooks: an acknowledgement there acknowledges the page "
                       "(when paging.providers.pagerduty has a webhook secret)",
            "tags": ["paging"],
            "responses": {"200": _json(_ref("PagerDutyAnswer"), "acknowledged or ignored"),
                          "400": _error("not a PagerDuty v3 webhook event"),
                          "401": _error("invalid signature")}}},
    }


@functools.cache
def document() -> Json:
    schemas = {**_statuspage_schemas(), **_own_schemas(), **_incident_log_schemas()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "statusdesk", "version": build_version(),
                 "description": "The status page, its Statuspage-compatible JSON, the "
                                "incident log API, commands over HTTP, subscriptions, the "
                                "web console, health and metrics (DESIGN Part 1)."},
        "servers": [{"url": "/"}],
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer",
                             "description": "status_page.api_token"},
                "personalToken": {"type": "http", "scheme": "bearer",
                                  "description": "statusdesk tokens create USER"},
            },
        },
    }
