"""An incident's full log as Markdown or JSON, streamed chunk by chunk.

The timeline arrives as an async iterator so a long incident never sits in memory whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from storage.models import Incident, TimelineEntry

EXPORT_SCHEMA_VERSION = 1

MILESTONES = (
    ("opened", "opened_at"),
    ("acknowledged", "acknowledged_at"),
    ("identified", "identified_at"),
    ("monitoring", "monitoring_at"),
    ("resolved", "resolved_at"),
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _md(text: str | None) -> str:
    """Chat text inside a Markdown table cell: no pipes, no line breaks, no raw HTML."""
    if not text:
        return ""
    escaped = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return " ".join(escaped.split())


def _incident_document(incident: Incident) -> dict[str, Any]:
    return {
        "id": str(incident.id),
        "title": incident.title,
        "severity": incident.severity,
        "state": incident.state,
        "lead": incident.lead,
        "escalation_manager": incident.manager,
        "opened_by": incident.opened_by,
        "milestones": {name: _iso(getattr(incident, column)) for name, column in MILESTONES},
    }


def _entry_document(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "at": _iso(entry.at),
        "kind": entry.kind,
        "actor": entry.actor,
        "identity": entry.identity,
        "where": {"transport": entry.transport, "network": entry.network,
                  "channel": entry.channel},
        "old": entry.old_value,
        "new": entry.new_value,
        "text": entry.text,
        "public": entry.public,
    }


async def export_json(
    incident: Incident, entries: AsyncIterator[TimelineEntry]
) -> AsyncIterator[str]:
    head = {"schema": "statusdesk.incident-log", "version": EXPORT_SCHEMA_VERSION,
            "incident": _incident_document(incident)}
    yield json.dumps(head, ensure_ascii=False)[:-1] + ',"timeline":['
    first = True
    async for entry in entries:
        yield ("" if first else ",") + json.dumps(_entry_document(entry), ensure_ascii=False)
        first = False
    yield "]}\n"


async def export_markdown(
    incident: Incident, entries: AsyncIterator[TimelineEntry]
) -> AsyncIterator[str]:
    yield f"# Incident #{incident.id}: {_md(incident.title)}\n\n"
    yield (f"- Severity: {incident.severity}\n- State: {incident.state}\n"
           f"- Incident lead: {_md(incident.lead) or '-'}\n"
           f"- Escalation manager: {_md(incident.manager) or '-'}\n"
           f"- Opened by: {_md(incident.opened_by)}\n\n")
    yield "## Milestones (UTC)\n\n"
    for name, column in MILESTONES:
        value = getattr(incident, column)
        yield f"- {name.capitalize()}: {value:%Y-%m-%d %H:%M:%S}\n" if value else \
            f"- {name.capitalize()}: -\n"
    yield "\n## Timeline (UTC)\n\n| When | Who | Where | What | Detail |\n|---|---|---|---|---|\n"
    async for entry in entries:
        where = "/".join(p for p in (entry.network, entry.channel) if p)
        change = ""
        if entry.old_value is not None or entry.new_value is not None:
            change = f"{entry.old_value or '-'} → {entry.new_value or '-'}"
        detail = " ".join(p for p in (change, entry.text or "") if p)
        kind = entry.kind + ("" if entry.public else " (private)")
        yield (f"| {entry.at:%Y-%m-%d %H:%M:%S} | {_md(entry.actor)} | {_md(where)} | {kind} "
               f"| {_md(detail)} |\n")
