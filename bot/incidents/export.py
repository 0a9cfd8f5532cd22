"""An incident's full log: a Markdown postmortem skeleton, or versioned JSON.

Both stream: the timeline is read in batches and written as it comes, so memory stays flat
however long the incident. The few sections that need a look at the whole incident before
the timeline (participants, pages, links) are small queries of their own.
JSON schema: bot/schemas/incident-log-v1.schema.json.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from bot.incidents.aftermath import Aftermath
from bot.incidents.metrics import IncidentTimes, format_duration
from commands.replies import SEVERITY_NAMES
from storage.models import Incident
from storage.timeline import TimelineRecord, TimelineRepository

EXPORT_SCHEMA = "statusdesk.incident-log"
EXPORT_SCHEMA_VERSION = 1

MILESTONES = (
    ("opened", "Opened", "opened_at"),
    ("acknowledged", "Acknowledged", "acknowledged_at"),
    ("identified", "Identified", "identified_at"),
    ("monitoring", "Mitigated (monitoring)", "monitoring_at"),
    ("resolved", "Resolved", "resolved_at"),
)

CHUNK_ROWS = 500
"""Timeline rows per yielded chunk: few enough writes, small enough to stay flat."""

PAGE_KINDS = ("page.sent", "page.acknowledged", "page.escalated", "page.resolved", "page.failed",
              "page.unanswered")
LINK_KINDS = ("bug", "playbook")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _when(value: datetime | None) -> str:
    # isoformat is several times faster than strftime, which shows on 50,000-row exports.
    return value.isoformat(" ", "seconds")[:19] if value else "-"


_MD_ESCAPES = str.maketrans({
    "\\": "\\\\", "&": "&amp;", "|": "\\|", "<": "&lt;", ">": "&gt;", "`": "\\`", "[": "\\[",
    "]": "\\]", "*": "\\*", "_": "\\_",
})


def _md(text: str | None) -> str:
    """Chat text inside Markdown: no table breaks, no line breaks, no raw HTML, no links that
    render as something else, no entity (`&amp;`, `&#0;`) that renders as another character."""
    if not text:
        return ""
    return " ".join(text.translate(_MD_ESCAPES).split())


@functools.lru_cache(maxsize=4096)
def _md_name(text: str | None) -> str:
    """_md for the few values that repeat on every row (actors, channels)."""
    return _md(text)


def _link(url: str | None) -> str:
    """A Markdown autolink when the URL cannot break out of it, else escaped text."""
    if url and url.startswith(("http://", "https://")) and not any(c in url for c in "<> "):
        return f"<{url}>"
    return _md(url)


def _change(entry: TimelineRecord) -> str:
    if entry.old_value is None and entry.new_value is None:
        return ""
    return f"{entry.old_value or '-'} → {entry.new_value or '-'}"


def _entry_document(entry: TimelineRecord) -> dict[str, Any]:
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


def _seconds(value: Any) -> float | None:
    return None if value is None else value.total_seconds()


async def export_json(
    incident: Incident, timeline: TimelineRepository, *, generated_at: datetime | None = None,
    aftermath: Aftermath | None = None,
) -> AsyncIterator[str]:
    """`aftermath` (`bot.incidents.aftermath.load_aftermath`) adds `whys`, `actions` and
    `roles`."""
    times = IncidentTimes.of(incident)
    head = {
        "schema": EXPORT_SCHEMA,
        "version": EXPORT_SCHEMA_VERSION,
        "generated_at": _iso(generated_at or datetime.now(UTC)),
        "incident": {
            "id": str(incident.id),
            "title": incident.title,
            "severity": incident.severity,
            "state": incident.state,
            "lead": incident.lead,
            "escalation_manager": incident.manager,
            "opened_by": incident.opened_by,
            "is_alert": incident.is_alert,
            "milestones": {name: _iso(getattr(incident, column))
                           for name, _, column in MILESTONES},
        },
        "metrics": {
            "time_to_acknowledge_seconds": _seconds(times.to_acknowledge),
            "time_to_identify_seconds": _seconds(times.to_identify),
            "time_to_mitigate_seconds": _seconds(times.to_mitigate),
            "time_to_resolve_seconds": _seconds(times.to_resolve),
        },
        "participants": await timeline.actors(incident.id),
    }
    if aftermath is not None:
        head.update(aftermath.document())
    yield json.dumps(head, ensure_ascii=False)[:-1] + ',"timeline":['
    separator = ""
    chunk: list[dict[str, Any]] = []
    async for entry in timeline.stream(incident.id):
        chunk.append(_entry_document(entry))
        if len(chunk) == CHUNK_ROWS:
            # One dumps per chunk: the C encoder does a list far faster than 500 calls.
            yield separator + json.dumps(chunk, ensure_ascii=False)[1:-1]
            separator, chunk = ",", []
    if chunk:
        yield separator + json.dumps(chunk, ensure_ascii=False)[1:-1]
    yield "]}\n"


async def export_markdown(
    incident: Incident,
    timeline: TimelineRepository,
    *,
    generated_at: datetime | None = None,
    bug_line: Callable[[str], str | None] | None = None,
    aftermath: Aftermath | None = None,
) -> AsyncIterator[str]:
    """`bug_line`, when given, tells a linked bug's last known state (from the tracker
    cache: the export never waits for a tracker). `aftermath` fills the roles, the Five
    Whys and the action items (`bot.incidents.aftermath.load_aftermath`)."""
    times = IncidentTimes.of(incident)
    participants = await timeline.actors(incident.id)
    pages = await timeline.entries(incident.id, kinds=PAGE_KINDS)
    links = await timeline.entries(incident.id, kinds=LINK_KINDS)
    end = incident.resolved_at
    duration = format_duration(times.to_resolve) if end else "ongoing"
    span = f"{_when(incident.opened_at)} → {_when(end) if end else 'now'} UTC"
    generated = generated_at or datetime.now(UTC)

    yield f"# Incident #{incident.id}: {_md(incident.title)}\n\n"
    yield (f"> Postmortem draft generated by statusdesk on {generated:%Y-%m-%d %H:%M} UTC from "
           "the incident log.\n> Replace the _italic_ prompts; everything else is the record.\n\n")

    yield "## Summary\n\n_What happened, in two or three sentences, and what ended it._\n\n"
    yield "| | |\n|---|---|\n"
    yield (f"| Severity | sev{incident.severity} "
           f"({SEVERITY_NAMES.get(incident.severity, '?')}) |\n")
    yield f"| State | {incident.state} |\n"
    yield f"| Duration | {duration} ({span}) |\n"
    yield f"| Opened by | {_md(incident.opened_by)} |\n"
    yield f"| Incident lead | {_md(incident.lead) or '-'} |\n"
    yield f"| Escalation manager | {_md(incident.manager) or '-'} |\n"
    if aftermath is not None:
        for role, nick in aftermath.roles.items():
            if role not in ("lead", "em"):
                yield f"| Role: {_md(role)} | {_md(nick)} |\n"
    yield f"| Participants | {', '.join(_md(p) for p in participants) or '-'} |\n\n"

    yield ("## Impact\n\n_Who and what was affected, how badly, and for how long; "
           "what users saw._\n\n")

    yield "## Milestones (UTC)\n\n| Milestone | Time | Since opened |\n|---|---|---|\n"
    for _, label, column in MILESTONES:
        moment = getattr(incident, column)
        since = "-" if moment is None or column == "opened_at" else \
            format_duration(moment - incident.opened_at)
        yield f"| {label} | {_when(moment)} | {since} |\n"
    yield (f"\nTime to acknowledge: {format_duration(times.to_acknowledge)}; "
           f"to identify: {format_duration(times.to_identify)}; "
           f"to mitigate: {format_duration(times.to_mitigate)}; "
           f"to resolve: {format_duration(times.to_resolve)}.\n\n")

    yield "## Pages and acknowledgements\n\n"
    if not pages:
        yield "No one was paged through statusdesk.\n\n"
    else:
        yield "| When | What | Who | Detail |\n|---|---|---|---|\n"
        for entry in pages:
            detail = " ".join(p for p in (_change(entry), entry.text or "") if p)
            yield (f"| {_when(entry.at)} | {entry.kind.removeprefix('page.')} | "
                   f"{_md(entry.actor)} | {_md(detail)} |\n")
        yield "\n"

    yield "## Linked bugs and playbooks\n\n"
    if not links:
        yield "None linked.\n\n"
    else:
        for entry in links:
            known = bug_line(entry.new_value) if bug_line and entry.kind == "bug" and \
                entry.new_value else None
            state = f" — {_md(known)}" if known else ""
            yield (f"- {entry.kind}: {_link(entry.new_value)}{state} (linked by "
                   f"{_md(entry.actor)}, {_when(entry.at)} UTC)\n")
        yield "\n"

    yield ("## Timeline (UTC)\n\nEvery event, in order; _private_ entries (notes, captured "
           "chat, what the bot did) do not appear on the public status page.\n\n"
           "| When | Who | Where | What | Detail |\n|---|---|---|---|---|\n")
    chunk: list[str] = []
    async for row in timeline.stream(incident.id):
        where = f"{row.network}/{row.channel}" if row.network and row.channel else (
            row.network or row.channel or "")
        change = _change(row)
        detail = f"{change} {row.text}" if change and row.text else (change or row.text or "")
        kind = row.kind if row.public else row.kind + " _(private)_"
        chunk.append(f"| {_when(row.at)} | {_md_name(row.actor)} | {_md_name(where)} | {kind} "
                     f"| {_md(detail)} |\n")
        if len(chunk) == CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)

    yield "\n## Five Whys\n\n"
    whys = aftermath.whys if aftermath is not None else ()
    for why in whys:
        yield f"{why.number}. {_md(why.text)} ({_md(why.author)})\n"
    for n in range(len(whys) + 1, 6):
        yield f"{n}. Why _…_? Because _…_\n"
    yield ("\n## Action items\n\n| Action | Owner | Bug | Due |\n|---|---|---|---|\n")
    actions = aftermath.actions if aftermath is not None else ()
    for action in actions:
        state = "" if action.state == "open" else f" _({action.state})_"
        ticket = _link(action.ticket_url)
        if ticket and action.ticket_state:
            ticket += f" ({_md(action.ticket_state)})"
        due = action.due.isoformat() if action.due else ""
        yield (f"| {action.name}: {_md(action.text)}{state} | {_md(action.owner)} | {ticket} "
               f"| {due} |\n")
    if not actions:
        yield "| _…_ | | | |\n"
