"""An incident's full log: a Markdown postmortem skeleton, or versioned JSON.

Both stream: the timeline is read in batches and written as it comes, so memory stays flat
however long the incident. The few sections that need a look at the whole incident before
the timeline (participants, pages, links) are small queries of their own.
JSON schema: bot/schemas/incident-log-v1.schema.json. The Markdown comes from a Jinja2 template
(bot/incidents/postmortem.py).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring as _quote  # what dumps(ensure_ascii=False) uses
from pathlib import Path
from typing import Any

from bot.incidents.aftermath import Aftermath
from bot.incidents.handoff import Handoff
from bot.incidents.metrics import IncidentTimes
from storage.models import Incident
from storage.timeline import StoredEntry, TimelineRecord, TimelineRepository, stored_time
from storage.whole_timeline import StoredRow, close_batches

EXPORT_SCHEMA = "statusdesk.incident-log"
EXPORT_SCHEMA_VERSION = 1
EXPORT_SCHEMA_REVISION = "1.1"
"""Within version 1 (so v1 readers keep working): 1.1 added `whys`, `actions` and `roles`."""

MILESTONES = (
    ("opened", "Opened", "opened_at"),
    ("acknowledged", "Acknowledged", "acknowledged_at"),
    ("identified", "Identified", "identified_at"),
    ("monitoring", "Mitigated (monitoring)", "monitoring_at"),
    ("resolved", "Resolved", "resolved_at"),
)

CHUNK_ROWS = 500
"""Timeline rows per chunk of the JSON log: its bytes have "," between two chunks where one
dumps of their rows writes ", " (so a chunk is 500 rows, whatever the read's batches); and
a chunk written in one C call (dumps did) holds the GIL, and the event loop, that long."""

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


_MD_SPECIAL = re.compile(r"[\\&|<>`\[\]*_]")
"""The characters _MD_ESCAPES changes: most chat lines have none, and looking for them costs
a fraction of translating (a 50,000-line export spent a sixth of its time in translate)."""

_OTHER_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003"
                     "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""What `str.split()` splits on besides the space (`str.isspace`; a unit test checks it)."""

_MD_CHANGED = re.compile("[" + re.escape("\\&|<>`[]*_" + _OTHER_WHITESPACE) + "]")
"""A character `_md` changes. With none, no doubled space and none at either end, `_md` gives
the text back as it is: one search instead of a search, a split and a join on most lines."""


def _md(text: str | None) -> str:
    """Chat text inside Markdown: no table breaks, no line breaks, no raw HTML, no links that
    render as something else, no entity (`&amp;`, `&#0;`) that renders as another character."""
    if not text:
        return ""
    if _MD_CHANGED.search(text) is None and "  " not in text and text[0] != " " \
            and text[-1] != " ":
        return text
    if _MD_SPECIAL.search(text) is not None:
        text = text.translate(_MD_ESCAPES)
    return " ".join(text.split())


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
    return _change_of(entry.old_value, entry.new_value)


def _change_of(old: str | None, new: str | None) -> str:
    return "" if old is None and new is None else f"{old or '-'} → {new or '-'}"


def _entry_document(entry: TimelineRecord) -> dict[str, Any]:
    return _document(entry.id, _iso(entry.at), entry.kind, entry.actor, entry.identity,
                     entry.transport, entry.network, entry.channel, entry.old_value,
                     entry.new_value, entry.text, entry.public)


def _document(entry_id: int, at: str | None, kind: str, actor: str, identity: str | None,
              transport: str | None, network: str | None, channel: str | None,
              old: str | None, new: str | None, text: str | None, public: object
              ) -> dict[str, Any]:
    return {
        "id": str(entry_id),
        "at": at,
        "kind": kind,
        "actor": actor,
        "identity": identity,
        "where": {"transport": transport, "network": network, "channel": channel},
        "old": old,
        "new": new,
        "text": text,
        "public": bool(public),
    }


def _iso_stored(stored: datetime | str) -> str | None:
    """`_iso` of a time as the driver returned it. SQLite's stored text (UTC,
    `YYYY-MM-DD HH:MM:SS[.ffffff]`) has the digits already: isoformat would print them again
    with a `T`, and the fraction only when it is not zero."""
    if isinstance(stored, str) and len(stored) in (19, 26) and stored[10] == " " \
            and stored[19:20] in ("", "."):
        fraction = stored[19:]
        return f"{stored[:10]}T{stored[11:19]}{'' if fraction == '.000000' else fraction}Z"
    return _iso(stored_time(stored))


def _entry_documents(batch: Sequence[TimelineRecord]) -> list[dict[str, Any]]:
    """`_entry_document` of each row; a streamed row (`StoredEntry`) by `_stored_documents`."""
    return [_stored_documents([entry.stored])[0] if isinstance(entry, StoredEntry)
            else _entry_document(entry) for entry in batch]


def _stored_documents(batch: Sequence[StoredRow]) -> list[dict[str, Any]]:
    """`_entry_document` of each row as the driver returned it (`storage.whole_timeline`),
    its fields read in one unpacking: a property call per field was much of the JSON
    export's formatting."""
    return [_document(entry_id, _iso_stored(at), kind, actor, identity, transport, network,
                      channel, old, new, text, public)
            for (entry_id, _, at, kind, actor, identity, transport, network, channel, old,
                 new, text, public) in batch]


def _stored_json(batch: Sequence[StoredRow]) -> str:
    """`json.dumps(_stored_documents(batch), ensure_ascii=False)[1:-1]`, written directly:
    each string by the very function that dumps uses for it (`encode_basestring`), around
    it the characters dumps writes. Dumping a dict per row (two with "where") was most of
    the JSON export's formatting: 10,000 documents took dumps 97 ms on the bench machine,
    their values as lists 18 ms; this writes them in 53 ms, the dicts' making included.
    A value that is not text (none is, in the schema) goes to dumps itself."""
    quote = _quote
    # A None where the schema has none (`at`, `kind`, `actor`) raises TypeError in quote:
    # dumps then writes it as null.
    try:
        return ", ".join([
            f'{{"id": "{entry_id:d}", "at": {quote(_iso_stored(at))}, '  # type: ignore[arg-type]
            f'"kind": {quote(kind)}, '
            f'"actor": {quote(actor)}, '
            f'"identity": {"null" if identity is None else quote(identity)}, '
            f'"where": {{"transport": {"null" if transport is None else quote(transport)}, '
            f'"network": {"null" if network is None else quote(network)}, '
            f'"channel": {"null" if channel is None else quote(channel)}}}, '
            f'"old": {"null" if old is None else quote(old)}, '
            f'"new": {"null" if new is None else quote(new)}, '
            f'"text": {"null" if text is None else quote(text)}, '
            f'"public": {"true" if public else "false"}}}'
            for (entry_id, _, at, kind, actor, identity, transport, network, channel, old,
                 new, text, public) in batch])
    except (TypeError, ValueError):  # `:d` of an id that is not an integer: ValueError
        return json.dumps(_stored_documents(batch), ensure_ascii=False)[1:-1]


def _chunks(batches: Iterable[list[StoredRow]], size: int) -> Iterator[list[StoredRow]]:
    """The rows of `batches` in lists of exactly `size` (the last one perhaps fewer)."""
    pending: list[StoredRow] = []
    for batch in batches:
        pending.extend(batch)
        while len(pending) >= size:
            yield pending[:size]
            del pending[:size]
    if pending:
        yield pending


def _seconds(value: Any) -> float | None:
    return None if value is None else value.total_seconds()


async def export_json(
    incident: Incident,
    timeline: TimelineRepository,
    *,
    generated_at: datetime | None = None,
    aftermath: Aftermath | None = None,
) -> AsyncIterator[str]:
    """`aftermath` (`bot.incidents.aftermath.load_aftermath`) adds `whys`, `actions` and
    `roles` (empty without it: schema 1.1 always carries them)."""
    times = IncidentTimes.of(incident)
    head = {
        "schema": EXPORT_SCHEMA,
        "version": EXPORT_SCHEMA_VERSION,
        "schema_version": EXPORT_SCHEMA_REVISION,
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
        **(aftermath or Aftermath()).document(),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1] + ',"timeline":['
    batches = await timeline.whole(incident.id)

    def encode(out: Handoff[str]) -> None:
        # In a worker thread: 50,000 rows are a second of CPU the event loop need not spend
        # (on SQLite they are read here too: storage/whole_timeline.py).
        separator = ""
        for chunk in _chunks(out.batches_from(batches), CHUNK_ROWS):
            # A chunk's documents as dumps writes them, a chunk at a time (CHUNK_ROWS).
            out.send(separator + _stored_json(chunk))
            separator = ","

    try:
        async for piece in Handoff[str](asyncio.get_running_loop()).pieces(encode):
            yield piece
    finally:
        await close_batches(batches)
    yield "]}\n"


async def export_markdown(
    incident: Incident,
    timeline: TimelineRepository,
    *,
    generated_at: datetime | None = None,
    bug_line: Callable[[str], str | None] | None = None,
    template: Path | None = None,
    aftermath: Aftermath | None = None,
) -> AsyncIterator[str]:
    """The postmortem, from the built-in template or `template` (bot/incidents/postmortem.py).
    `bug_line`, when given, tells a linked bug's last known state (from the tracker
    cache: the export never waits for a tracker). `aftermath` fills the roles, the Five
    Whys and the action items (`bot.incidents.aftermath.load_aftermath`)."""
    from bot.incidents.postmortem import render_postmortem  # it builds on the helpers above

    async for chunk in render_postmortem(incident, timeline, template=template,
                                         generated_at=generated_at, bug_line=bug_line,
                                         aftermath=aftermath):
        yield chunk
