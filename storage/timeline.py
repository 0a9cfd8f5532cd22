"""The append-only incident timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Incident, TimelineEntry
from storage.whole_timeline import (
    STORED_FIELDS,
    StoredBatches,
    is_public,
    session_batches,
    whole_timeline,
)


class TimelineRecord(Protocol):
    """A timeline entry as read: an ORM `TimelineEntry` or a plain row of its table."""

    @property
    def id(self) -> int: ...
    @property
    def incident_id(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def identity(self) -> str | None: ...
    @property
    def transport(self) -> str | None: ...
    @property
    def network(self) -> str | None: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def old_value(self) -> str | None: ...
    @property
    def new_value(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def public(self) -> bool: ...


def _edge(*, newest: bool, public_only: bool) -> Any:
    """Per incident, one index seek to its first or last entry (a GROUP BY over the
    incidents' entries read every public entry of a long incident on each `#now`), read as
    plain rows of the table. Built once: building it (an aliased subquery) cost more than
    running it on every `#now`; the incident ids are an expanding parameter."""
    entry = aliased(TimelineEntry)
    edge = select(entry.id).where(entry.incident_id == Incident.id)
    if public_only:
        edge = edge.where(is_public(entry.public))
    edge = edge.order_by(entry.id.desc() if newest else entry.id.asc()).limit(1)
    edges = (select(edge.scalar_subquery())
             .where(Incident.id.in_(bindparam("ids", expanding=True))))
    table = TimelineEntry.__table__
    return select(table).where(table.c.id.in_(edges.scalar_subquery()))


_FIRST = _edge(newest=False, public_only=False)
_NEWEST = _edge(newest=True, public_only=False)
_NEWEST_PUBLIC = _edge(newest=True, public_only=True)
_ENTRIES = TimelineEntry.__table__
_ENTRY_COLUMNS = [_ENTRIES.c[name] for name in STORED_FIELDS]
"""An entry's columns by their attribute names: a row of them is a `TimelineRecord`."""


def stored_time(value: datetime | str) -> datetime:
    """A timestamp as the driver returned it, timezone-aware UTC (what `UTCDateTime` reads)."""
    if isinstance(value, str):  # SQLite keeps UTC as text without an offset
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StoredEntry:
    """A timeline row as the driver returned it, converted field by field when read."""

    __slots__ = ("_row",)

    def __init__(self, row: Sequence[Any]) -> None:
        self._row = row

    @property
    def stored(self) -> Sequence[Any]:
        """Every field as the driver returned it, in `STORED_FIELDS` order (`at` as
        `at_as_stored`, `public` perhaps 0 or 1), for a writer that reads every field of
        thousands of rows: a property call per field was a good part of an export's time."""
        return self._row

    @property
    def id(self) -> int:
        return int(self._row[0])

    @property
    def incident_id(self) -> int:
        return int(self._row[1])

    @property
    def at(self) -> datetime:
        return stored_time(self._row[2])

    @property
    def at_as_stored(self) -> datetime | str:
        """`at` as the driver returned it (SQLite: UTC text such as `2026-01-01 12:00:00.000000`),
        for a writer that only copies its digits."""
        return self._row[2]  # type: ignore[no-any-return]

    @property
    def kind(self) -> str:
        return str(self._row[3])

    @property
    def actor(self) -> str:
        return str(self._row[4])

    @property
    def identity(self) -> str | None:
        return self._row[5]  # type: ignore[no-any-return]

    @property
    def transport(self) -> str | None:
        return self._row[6]  # type: ignore[no-any-return]

    @property
    def network(self) -> str | None:
        return self._row[7]  # type: ignore[no-any-return]

    @property
    def channel(self) -> str | None:
        return self._row[8]  # type: ignore[no-any-return]

    @property
    def old_value(self) -> str | None:
        return self._row[9]  # type: ignore[no-any-return]

    @property
    def new_value(self) -> str | None:
        return self._row[10]  # type: ignore[no-any-return]

    @property
    def text(self) -> str | None:
        return self._row[11]  # type: ignore[no-any-return]

    @property
    def public(self) -> bool:
        return bool(self._row[12])


@dataclass(frozen=True, slots=True)
class Where:
    """Who did something, and where: the provenance of a timeline entry or audit record."""

    actor: str
    identity: str | None = None
    transport: str | None = None
    network: str | None = None
    channel: str | None = None


class TimelineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(
        self,
        incident_id: int,
        kind: str,
        where: Where,
        at: datetime,
        *,
        text: str | None = None,
        old: str | None = None,
        new: str | None = None,
        public: bool = True,
    ) -> None:
        # One INSERT, no ORM object: no caller reads the entry back, and building and
        # flushing one was a good part of a command's time.
        await self._session.execute(_APPEND, {
            "incident_id": incident_id,
            "at": at,
            "kind": kind,
            "actor": where.actor,
            "identity": where.identity,
            "transport": where.transport,
            "network": where.network,
            "channel": where.channel,
            "old_value": old,
            "new_value": new,
            "text": text,
            "public": public,
        })

    async def append_private_many(
        self, rows: Sequence[tuple[int, str, Where, datetime, str]]
    ) -> None:
        """Many private entries, each (incident_id, kind, where, at, text), in one statement:
        captured chat arrives in batches and needs no ids back."""
        if not rows:
            return
        await self._session.execute(insert(TimelineEntry), [
            {"incident_id": incident_id, "at": at, "kind": kind, "actor": where.actor,
             "identity": where.identity, "transport": where.transport,
             "network": where.network, "channel": where.channel, "old_value": None,
             "new_value": None, "text": text, "public": False}
            for incident_id, kind, where, at, text in rows
        ])

    async def entries(
        self, incident_id: int, *, public_only: bool = False, kinds: Sequence[str] = ()
    ) -> Sequence[TimelineEntry]:
        query = (
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.id)
        )
        if public_only:
            query = query.where(is_public(TimelineEntry.public))
        if kinds:
            query = query.where(TimelineEntry.kind.in_(kinds))
        return (await self._session.execute(query)).scalars().all()

    async def actors(self, incident_id: int) -> list[str]:
        """Everyone who did something in the incident, in order of first appearance."""
        first_seen = func.min(TimelineEntry.id)
        query = (
            select(TimelineEntry.actor)
            .where(TimelineEntry.incident_id == incident_id)
            .group_by(TimelineEntry.actor)
            .order_by(first_seen)
        )
        return list((await self._session.execute(query)).scalars())

    async def whole(self, incident_id: int, *, kinds: Sequence[str] = ()) -> StoredBatches:
        """Every entry of the incident (of `kinds`, if given), in order, in batches of rows
        as the driver returned them, read beneath SQLAlchemy (storage/whole_timeline.py):
        for an export, which formats them in a worker thread. Close an unfinished read with
        `storage.whole_timeline.close_batches`."""
        return await whole_timeline(self._session, incident_id, kinds=kinds)

    async def stream(
        self, incident_id: int, *, public_only: bool = False, batch: int = 500,
        kinds: Sequence[str] = (),
    ) -> AsyncIterator[StoredEntry]:
        """Entries in order, in batches so memory stays flat for long incidents.

        As the driver returns them, wrapped (`StoredEntry`): no ORM objects, and no type
        conversion on the event loop. (An export reads its whole timeline with `whole`.)
        """
        async for rows in session_batches(self._session, incident_id, kinds=kinds,
                                          public_only=public_only, size=batch):
            for row in rows:
                yield StoredEntry(row)

    async def places(self, incident_id: int, kind: str) -> list[tuple[str | None, str]]:
        """Every (network, channel) with entries of `kind` in the incident: where its chat
        was captured, for the bundle's one file per channel."""
        query = (
            select(TimelineEntry.network, TimelineEntry.channel)
            .where(TimelineEntry.incident_id == incident_id, TimelineEntry.kind == kind,
                   TimelineEntry.channel.is_not(None))
            .distinct()
        )
        rows = await self._session.execute(query)
        return [(network, channel) for network, channel in rows if channel is not None]

    async def entries_of(
        self, incident_ids: Sequence[int], *, public_only: bool = False
    ) -> dict[int, list[TimelineEntry]]:
        """Every entry of each incident, in order, in one query."""
        found: dict[int, list[TimelineEntry]] = {i: [] for i in incident_ids}
        if not incident_ids:
            return found
        query = (
            select(TimelineEntry)
            .where(TimelineEntry.incident_id.in_(incident_ids))
            .order_by(TimelineEntry.id)
        )
        if public_only:
            query = query.where(is_public(TimelineEntry.public))
        for entry in (await self._session.execute(query)).scalars():
            found[entry.incident_id].append(entry)
        return found

    async def incidents_with_public_entries(
        self, incident_ids: Sequence[int],
        known: Mapping[int, Sequence[TimelineRecord]] | None = None,
    ) -> dict[int, tuple[Incident, list[TimelineRecord]]]:
        """Each incident of `incident_ids` that exists, with its public entries in order:
        `IncidentRepository.get` and `entries_of(public_only=True)` in one statement (the
        status page's read after a change: each statement is a round trip, and on SQLite
        several hops to the driver's thread). The entries are plain rows of their table:
        an ORM object for each of an incident's hundred updates was most of the read.

        `known`: public entries of some of these incidents read before (the page's last
        read), in order. Only the entries after the last of them are read, with a count of
        those up to it: the timeline is append-only, so the same count means nothing came
        in below it (an entry whose id was taken before and committed after the last read);
        another count reads that incident's entries again. Reading every entry again made
        each change to an incident with 400 updates cost 10 ms more than one with 40."""
        found: dict[int, tuple[Incident, list[TimelineRecord]]] = {}
        if not incident_ids:
            return found
        known = {i: entries for i, entries in (known or {}).items()
                 if i in incident_ids and entries}
        after: ColumnElement[int] = literal(0, BigInteger)
        if known:
            after = case({i: entries[-1].id for i, entries in known.items()},
                         value=Incident.id, else_=0)
        counted = _ENTRIES.alias("counted")
        below = (select(func.count()).select_from(counted)
                 .where(counted.c.incident_id == Incident.id, is_public(counted.c.public),
                        counted.c.id <= after)
                 .correlate(Incident)
                 .scalar_subquery())
        query = (
            select(Incident, below.label("known_count"), *_ENTRY_COLUMNS)
            .outerjoin(_ENTRIES, (_ENTRIES.c.incident_id == Incident.id)
                       & is_public(_ENTRIES.c.public) & (_ENTRIES.c.id > after))
            .where(Incident.id.in_(incident_ids))
            .order_by(Incident.id, _ENTRIES.c.id)
        )
        stale: list[int] = []
        for row in await self._session.execute(query):
            incident = row[0]
            if incident.id not in found:
                before = known.get(incident.id, ())
                if row.known_count != len(before):
                    stale.append(incident.id)
                found[incident.id] = (incident, list(before))
            if row.id is not None:  # an incident without new public entries: NULLs
                found[incident.id][1].append(row)
        if stale:
            again = await self.entries_of(stale, public_only=True)
            for i in stale:
                found[i] = (found[i][0], list(again[i]))
        return found

    async def first_of(self, incident_ids: Sequence[int]) -> dict[int, TimelineRecord]:
        """The first entry of each incident (where it was opened), in one query."""
        return await self._edge_of(incident_ids, _FIRST)

    async def latest_of(
        self, incident_ids: Sequence[int], *, public_only: bool = True
    ) -> dict[int, TimelineRecord]:
        """The newest entry of each incident, in one query."""
        return await self._edge_of(incident_ids,
                                   _NEWEST_PUBLIC if public_only else _NEWEST)

    async def _edge_of(self, incident_ids: Sequence[int], query: Any
                       ) -> dict[int, TimelineRecord]:
        if not incident_ids:
            return {}
        rows = await self._session.execute(query, {"ids": list(incident_ids)})
        return {row.incident_id: row for row in rows}

    async def last(self, incident_id: int, count: int) -> Sequence[TimelineEntry]:
        query = (
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.id.desc())
            .limit(count)
        )
        rows = (await self._session.execute(query)).scalars().all()
        return list(reversed(rows))


_APPEND = insert(cast(Table, TimelineEntry.__table__))
