"""The Markdown postmortem: a Jinja2 template over the incident, rendered as it streams.

The built-in template (templates/postmortem.md.j2) is replaceable (`postmortem.template`).
An operator's template runs sandboxed (it must not reach the process through attribute
tricks) with autoescape off, since the output is Markdown, not HTML: instead, every value
that came from chat is already escaped for Markdown in the views below (`_md`), so a custom
template is as safe as the built-in one without having to remember a filter. Values that
are ours (kinds, ids, times) are passed as they are; `md` is there for anything a template
composes itself.

The timeline is an iterator over rows read in batches: the template's loop pulls them one by
one and the output is handed on in chunks, so 50,000 events never sit in a list. The
template renders in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template

from bot.config.postmortem_template import template_environment
from bot.incidents.aftermath import Aftermath
from bot.incidents.export import (
    LINK_KINDS,
    MILESTONES,
    PAGE_KINDS,
    _change,
    _change_of,
    _link,
    _md,
    _md_name,
    _when,
)
from bot.incidents.handoff import Handoff, over_batches
from bot.incidents.metrics import IncidentTimes, format_duration
from commands.replies import SEVERITY_NAMES
from storage.models import Incident
from storage.timeline import StoredEntry, TimelineRecord, TimelineRepository, stored_time
from storage.whole_timeline import StoredRow, close_batches

BUILT_IN = Path(__file__).parent / "templates" / "postmortem.md.j2"

PUBLIC_ROLES = ("lead", "comms")
"""Roles the status page shows (DESIGN §1.7); a template may use `role.public`."""

CHUNK_CHARS = 64 * 1024
"""Output is handed on in pieces about this big: few writes, flat memory."""


@functools.lru_cache(maxsize=8)
def _environment(directory: Path, sandboxed: bool) -> Environment:
    return template_environment(directory, {"md": _md, "link": _link}, sandboxed=sandboxed)


def load_template(path: Path | None = None) -> Template:
    """The built-in template, or an operator's file (recompiled when the file changes)."""
    chosen = path or BUILT_IN
    return _environment(chosen.parent.resolve(), path is not None).get_template(chosen.name)


class TimelineRow:
    """One timeline entry, ready for a Markdown table: chat text escaped, times formatted."""

    __slots__ = ("actor", "at", "detail", "id", "kind", "public", "when", "where")

    def __init__(self, row: TimelineRecord) -> None:
        where = f"{row.network}/{row.channel}" if row.network and row.channel else (
            row.network or row.channel or "")
        change = _change(row)
        detail = f"{change} {row.text}" if change and row.text else (change or row.text or "")
        self.id = row.id
        self.at = at = row.at  # read once: a streamed row parses it on each read
        self.when = _when(at)
        self.actor = _md_name(row.actor)
        self.where = _md_name(where)
        self.kind = row.kind
        self.public = row.public
        self.detail = _md(detail)


def _when_stored(stored: datetime | str) -> str:
    """`_when` of a time as the driver returned it. From SQLite's stored text (UTC,
    `YYYY-MM-DD HH:MM:SS[.ffffff]`) its first 19 characters are those very digits, without
    parsing a datetime to print it again."""
    if isinstance(stored, str) and len(stored) in (19, 26) and stored[10] == " " \
            and stored[19:20] in ("", "."):
        return stored[:19]
    return _when(stored_time(stored))


def _table_line(when: str, actor: str, network: str | None, channel: str | None, kind: str,
                old: str | None, new: str | None, text: str | None, public: object) -> str:
    where = f"{network}/{channel}" if network and channel else (network or channel or "")
    change = _change_of(old, new)
    detail = f"{change} {text}" if change and text else (change or text or "")
    private = "" if public else " _(private)_"
    return (f"| {when} | {_md_name(actor)} | {_md_name(where)} | "
            f"{kind}{private} | {_md(detail)} |\n")


def table_line(row: TimelineRecord) -> str:
    """One timeline entry as the built-in template's table line, built in Python: the same
    characters its `{% for row in timeline %}` loop wrote, at a fraction of the cost (per-row
    template rendering was most of a 50,000-event export)."""
    if isinstance(row, StoredEntry):
        return stored_table_lines([row.stored])
    return _table_line(_when(row.at), row.actor, row.network, row.channel, row.kind,
                       row.old_value, row.new_value, row.text, row.public)


def table_lines(batch: Sequence[TimelineRecord]) -> str:
    """`table_line` of each row, as one string; a streamed row (`StoredEntry`) by
    `stored_table_lines`."""
    return "".join([stored_table_lines([row.stored]) if isinstance(row, StoredEntry)
                    else table_line(row) for row in batch])


def stored_table_lines(batch: Sequence[StoredRow]) -> str:
    """`table_line` of each row as the driver returned it (`storage.whole_timeline`), as one
    string: its fields read in one unpacking (a property call per field was a third of the
    Markdown export's formatting)."""
    return "".join([_table_line(_when_stored(at), actor, network, channel, kind, old, new,
                                text, public)
                    for (_, _, at, kind, actor, _, _, network, channel, old, new, text,
                         public) in batch])


def link_lines(links: Sequence[dict[str, str]]) -> str:
    """The built-in template's list of linked bugs and playbooks, built in Python: the same
    characters its per-link loop wrote (Jinja looks up each of a dict's fields by trying an
    attribute first: thousands of links took longer than their rows' whole table)."""
    return "".join([
        f"- {link['kind']}: {link['target']}"
        f"{' — ' + link['state'] if link['state'] else ''} (linked by {link['by']}, "
        f"{link['when']} UTC)\n" for link in links])


def _pages_and_links(batches: Iterator[list[StoredRow]]
                     ) -> tuple[list[dict[str, str]], list[dict[str, str]], list[tuple[int, str]]]:
    """The template's `pages` and `links` from rows of their kinds; and (index in links,
    target) of each linked bug, whose state the caller fills in."""
    pages: list[dict[str, str]] = []
    links: list[dict[str, str]] = []
    bugs: list[tuple[int, str]] = []
    for batch in batches:
        for (_, _, at, kind, actor, _, _, _, _, old, new, text, _) in batch:
            if kind in LINK_KINDS:
                if kind == "bug" and new:
                    bugs.append((len(links), new))
                links.append({"kind": kind, "target": _link(new), "state": "",
                              "by": _md_name(actor), "when": _when_stored(at)})
            else:
                detail = " ".join(p for p in (_change_of(old, new), text or "") if p)
                pages.append({"when": _when_stored(at), "what": kind.removeprefix("page."),
                              "who": _md_name(actor), "detail": _md(detail)})
    return pages, links, bugs


async def postmortem_context(
    incident: Incident,
    timeline: TimelineRepository,
    *,
    generated_at: datetime | None = None,
    bug_line: Callable[[str], str | None] | None = None,
    aftermath: Aftermath | None = None,
) -> dict[str, Any]:
    """Everything a postmortem template may use (README "Custom postmortem template")."""
    after = aftermath or Aftermath()
    times = IncidentTimes.of(incident)
    end = incident.resolved_at
    generated = generated_at or datetime.now(UTC)
    # One read for both (each is a pass over the incident's entries), as the driver returns
    # them, and made into the template's dicts in an export thread: a long incident may
    # have thousands, which held the event loop (storage/whole_timeline.py).
    read = await timeline.whole(incident.id, kinds=PAGE_KINDS + LINK_KINDS)
    if isinstance(read, AsyncIterator):  # read through the session: one statement at a time
        pages, links, bugs = await over_batches(read, _pages_and_links)
        actors = await timeline.actors(incident.id)
    else:
        # On a connection of its own (SQLite): the participants' query (a GROUP BY over the
        # whole incident, 20-30 ms of 50,000 events) runs on the session meanwhile.
        made = asyncio.ensure_future(over_batches(read, _pages_and_links))
        try:
            actors = await timeline.actors(incident.id)
        finally:
            pages, links, bugs = await made
    if bug_line is not None:
        # Each bug's last known state from the tracker cache, here on the loop (the cache
        # is the loop's), once per bug however often it was linked.
        known: dict[str, str] = {}
        for index, target in bugs:
            if target not in known:
                known[target] = _md(bug_line(target))
            links[index]["state"] = known[target]
    milestones = []
    for name, label, column in MILESTONES:
        moment = getattr(incident, column)
        since = "-" if moment is None or column == "opened_at" else \
            format_duration(moment - incident.opened_at)
        milestones.append({"name": name, "label": label, "when": _when(moment), "since": since})
    return {
        "incident": {
            "id": incident.id, "title": _md(incident.title), "severity": incident.severity,
            "severity_name": SEVERITY_NAMES.get(incident.severity, "?"),
            "state": incident.state, "opened_by": _md(incident.opened_by),
            "lead": _md(incident.lead), "escalation_manager": _md(incident.manager),
            "is_alert": incident.is_alert,
        },
        "generated_at": f"{generated:%Y-%m-%d %H:%M}",
        "duration": format_duration(times.to_resolve) if end else "ongoing",
        "span": f"{_when(incident.opened_at)} → {_when(end) if end else 'now'} UTC",
        "participants": [_md(p) for p in actors],
        "milestones": milestones,
        "metrics": {"to_acknowledge": format_duration(times.to_acknowledge),
                    "to_identify": format_duration(times.to_identify),
                    "to_mitigate": format_duration(times.to_mitigate),
                    "to_resolve": format_duration(times.to_resolve)},
        "pages": pages,
        "links": links,
        "timeline": (),  # render_postmortem puts the rows here
        "timeline_table": (),  # and the built-in table's lines, a batch per string
        # The built-in list of links as one string, made in the rendering thread.
        "link_lines": (link_lines(links) for _ in range(1)),
        "whys": [{"number": w.number, "text": _md(w.text), "author": _md(w.author),
                  "when": _when(w.at)} for w in after.whys],
        "actions": [{
            "id": a.name, "text": _md(a.text), "state": a.state, "owner": _md(a.owner),
            "due": a.due.isoformat() if a.due else "", "by": _md(a.created_by),
            "closed_by": _md(a.closed_by), "ticket": _link(a.ticket_url),
            "ticket_state": _md(a.ticket_state),
        } for a in after.actions],
        "roles": [{"role": _md(role), "nick": _md(nick), "public": role in PUBLIC_ROLES}
                  for role, nick in after.roles.items()],
    }


async def render_postmortem(
    incident: Incident,
    timeline: TimelineRepository,
    *,
    template: Path | None = None,
    generated_at: datetime | None = None,
    bug_line: Callable[[str], str | None] | None = None,
    aftermath: Aftermath | None = None,
) -> AsyncIterator[str]:
    """The postmortem in chunks of about CHUNK_CHARS, as the template produces it.

    The template runs in a worker thread (sync Jinja2 is four times faster than its async
    mode, and the event loop stays free for chat and the page); the rows it loops over are
    read on the loop, a batch at a time, as it asks for them."""
    context = await postmortem_context(incident, timeline, generated_at=generated_at,
                                       bug_line=bug_line, aftermath=aftermath)
    compiled = load_template(template)
    source = await timeline.whole(incident.id)
    handoff: Handoff[str] = Handoff(asyncio.get_running_loop())
    batches = handoff.batches_from(source)
    # Two views of the one read (a template loops over one of them): rows for a custom
    # template, and for the built-in one each batch's table lines as one string.
    context["timeline"] = (TimelineRow(StoredEntry(row)) for batch in batches for row in batch)
    context["timeline_table"] = (stored_table_lines(batch) for batch in batches)

    def render(out: Handoff[str]) -> None:
        pending: list[str] = []
        size = 0
        for piece in compiled.generate(context):
            pending.append(piece)
            size += len(piece)
            if size >= CHUNK_CHARS:
                out.send("".join(pending))
                pending, size = [], 0
        out.send("".join(pending))

    try:
        async for chunk in handoff.pieces(render):
            if chunk:
                yield chunk
    finally:
        await close_batches(source)
