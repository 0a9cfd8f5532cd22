"""The escalation manager's bundle: everything about one incident in one `.tar.gz`.

    postmortem.md       the Markdown postmortem (the configured template)
    log.json            the JSON incident log (bot/schemas/incident-log-v1.schema.json)
    chat/CHANNEL.log    captured chat, one file per channel (bot/incidents/member_names.py)
    bugs.json           linked bugs and action tickets, with their state when bundled
    pages.json          the paging records: who was paged, when, and who acknowledged

A tar header carries its member's size, so each member is first written to a spooled
temporary file (memory up to SPOOL_BYTES, then disk) while the database is read in batches;
the archive is then packed and compressed in a worker thread, off the event loop (over
HTTP, sent as it is compressed: bot/incidents/handoff.py). Memory
stays bounded however long the incident (bench/bundle.py).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tarfile
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import text

from bot.incidents.aftermath import Aftermath, load_aftermath
from bot.incidents.export import _iso, export_json, export_markdown
from bot.incidents.handoff import Handoff
from bot.incidents.member_names import chat_member_names
from commands.text import clean_text
from storage.unit_of_work import Store, Transaction

COMPRESS_LEVEL = 6
"""gzip level: 9 (tarfile's) takes four times as long for a few percent (bench/RESULTS.md)."""

SPOOL_BYTES = 1024 * 1024
"""A member this small stays in memory; a bigger one goes to a temporary file."""


BugLookup = Callable[[Sequence[str]], Awaitable[dict[str, dict[str, Any]]]]
"""Linked bug URLs → what the tracker (or its cache) says of each; a URL left out is unknown.
Given by the caller: the running bot answers from its cache, the command line asks."""


@dataclass
class BundleSources:
    """What a bundle draws on besides the incident's own rows."""

    template: Path | None = None
    bug_lookup: BugLookup | None = None
    role_order: Sequence[str] = ()
    """`incidents.roles`, the order roles are listed in."""
    generated_at: datetime | None = None


@dataclass
class _Member:
    name: str
    # Closed by _close (the members outlive the function that opens them).
    data: IO[bytes] = field(default_factory=lambda: tempfile.SpooledTemporaryFile(  # noqa: SIM115
        SPOOL_BYTES))

    async def write_all(self, chunks: AsyncIterator[str]) -> None:
        async for chunk in chunks:
            self.data.write(chunk.encode())

    def write_json(self, value: Any) -> None:
        self.data.write(json.dumps(value, ensure_ascii=False, indent=2).encode())
        self.data.write(b"\n")


def _chat_line(at: datetime, actor: str, text: str | None) -> str:
    # One line per message whatever came in: no CR/LF or terminal escapes from chat.
    return f"{at.isoformat(' ', 'seconds')[:19]} <{clean_text(actor)}> {clean_text(text or '')}\n"


async def _gather(tx: Transaction, incident_id: int, sources: BundleSources,
                  generated: datetime) -> list[_Member]:
    # One snapshot for every part: an incident still going on must not have a log.json that
    # holds events its postmortem.md lacks. (A read-only transaction: writers go on.)
    if tx.session.get_bind().dialect.name == "postgresql":
        await tx.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        # pysqlite opens no transaction for reads; in WAL mode BEGIN gives them a snapshot.
        await tx.session.execute(text("BEGIN"))
    incident = await tx.incidents.get(incident_id)
    if incident is None:
        raise LookupError(f"there is no incident #{incident_id}")
    aftermath: Aftermath = await load_aftermath(tx, incident, sources.role_order)
    links = await tx.timeline.entries(incident_id, kinds=("bug",))
    urls = list(dict.fromkeys(e.new_value for e in links if e.new_value))
    states = await sources.bug_lookup(urls) if sources.bug_lookup and urls else {}

    def bug_line(url: str) -> str | None:
        line = states.get(url, {}).get("line")
        return line if isinstance(line, str) else None

    members: list[_Member] = []
    try:
        postmortem = _Member("postmortem.md")
        members.append(postmortem)
        await postmortem.write_all(export_markdown(
            incident, tx.timeline, generated_at=generated, bug_line=bug_line,
            template=sources.template, aftermath=aftermath))
        log = _Member("log.json")
        members.append(log)
        await log.write_all(export_json(incident, tx.timeline, generated_at=generated,
                                        aftermath=aftermath))

        names = chat_member_names(await tx.timeline.places(incident_id, "chat"))
        chats: dict[tuple[str | None, str], _Member] = {}
        for key, name in sorted(names.items(), key=lambda item: item[1]):
            chats[key] = _Member(name)
            members.append(chats[key])
        async for row in tx.timeline.stream(incident_id, kinds=("chat",)):
            if row.channel is not None:
                chats[(row.network, row.channel)].data.write(
                    _chat_line(row.at, row.actor, row.text).encode())

        bugs = _Member("bugs.json")
        members.append(bugs)
        bugs.write_json({
            "incident": str(incident_id),
            "generated_at": _iso(generated),
            "bugs": [{"url": e.new_value, "linked_by": e.actor, "linked_at": _iso(e.at),
                      "state": states.get(e.new_value or "")} for e in links],
            "action_tickets": [{"action": a.name, "text": a.text, "action_state": a.state,
                                "url": a.ticket_url, "state": a.ticket_state,
                                "checked_at": _iso(a.ticket_checked_at)}
                               for a in aftermath.actions if a.ticket_url],
        })
        pages = _Member("pages.json")
        members.append(pages)
        pages.write_json({
            "incident": str(incident_id),
            "pages": [{
                "id": str(p.id), "round": p.round, "step": p.step, "manager": p.manager,
                "chain": p.chain, "status": p.status, "text": p.text, "paged_by": p.paged_by,
                "deliveries": p.deliveries, "rejected": p.rejected,
                "created_at": _iso(p.created_at), "escalate_at": _iso(p.escalate_at),
                "acknowledged_at": _iso(p.acknowledged_at),
                "acknowledged_by": p.acknowledged_by, "resolved_at": _iso(p.resolved_at),
            } for p in await tx.pages.of_incident(incident_id)],
        })
    except BaseException:
        _close(members)
        raise
    return members


def _close(members: list[_Member]) -> None:
    for member in members:
        member.data.close()


def _pack(members: list[_Member], out: IO[bytes], mtime: float) -> None:
    """The archive, streamed to `out` (no seeking, so a pipe or a socket will do)."""
    # gzip by hand: tarfile's own `w|gz` compresses at level 9, four times slower than 6
    # for a few percent smaller (bench/bundle.py).
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=COMPRESS_LEVEL,
                       mtime=int(mtime)) as compressed, \
            tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.size = member.data.tell()
            info.mtime = int(mtime)
            info.mode = 0o644
            info.uname = info.gname = "statusdesk"
            member.data.seek(0)
            archive.addfile(info, member.data)


async def write_bundle(store: Store, incident_id: int, out: IO[bytes],
                       sources: BundleSources | None = None) -> None:
    """Write incident `incident_id`'s bundle to `out` (LookupError when there is none)."""
    sources = sources or BundleSources()
    generated = sources.generated_at or datetime.now(UTC)
    async with store.reading() as tx:
        members = await _gather(tx, incident_id, sources, generated)
    try:
        await asyncio.to_thread(_pack, members, out, generated.timestamp())
    finally:
        _close(members)


class _Sink:
    """The archive's file object when it goes to a reader on the event loop."""

    def __init__(self, handoff: Handoff[bytes]) -> None:
        self._handoff = handoff

    def write(self, data: bytes) -> int:
        self._handoff.send(bytes(data))
        return len(data)


async def stream_bundle(store: Store, incident_id: int,
                        sources: BundleSources | None = None) -> AsyncGenerator[bytes, None]:
    """The bundle in pieces as it is compressed, for an HTTP response. LookupError (before the
    first piece) when there is no such incident."""
    sources = sources or BundleSources()
    generated = sources.generated_at or datetime.now(UTC)
    async with store.reading() as tx:
        members = await _gather(tx, incident_id, sources, generated)
    handoff: Handoff[bytes] = Handoff(asyncio.get_running_loop(), depth=8)
    try:
        async for piece in handoff.pieces(
                lambda out: _pack(members, cast(IO[bytes], _Sink(out)), generated.timestamp())):
            yield piece
    finally:
        _close(members)
