"""The status page's read after a change to an incident reads only the public entries after
those it read last time (storage/timeline.py `incidents_with_public_entries(known=...)`), and
still gets every one: also an entry whose id was taken before the last read and committed
after it, which only PostgreSQL's concurrent writers can make."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from storage.db import open_store, upgrade
from storage.timeline import TimelineRecord, Where
from storage.unit_of_work import Store

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
WHO = Where("alice", transport="irc", network="oftc", channel="#ops")


def fields(entries: Sequence[TimelineRecord]) -> list[tuple[object, ...]]:
    return [(e.id, e.incident_id, e.at, e.kind, e.actor, e.text, e.old_value, e.new_value)
            for e in entries]


async def read(store: Store, ids: list[int],
               known: dict[int, Sequence[TimelineRecord]] | None = None
               ) -> dict[int, list[TimelineRecord]]:
    async with store.reading() as tx:
        found = await tx.timeline.incidents_with_public_entries(ids, known=known)
    return {i: entries for i, (_, entries) in found.items()}


async def test_only_the_new_entries_are_read_and_the_result_is_the_whole_list(
        store: Store) -> None:
    async with store.transaction() as tx:
        first = await tx.incidents.open(title="Gate", severity=2, opened_by="alice", at=T0)
        second = await tx.incidents.open(title="Mirror", severity=3, opened_by="bob", at=T0)
        quiet = await tx.incidents.open(title="Quiet", severity=4, opened_by="bob", at=T0)
        for n in range(5):
            await tx.timeline.append(first.id, "update", WHO, T0 + timedelta(minutes=n),
                                     text=f"update {n}")
            await tx.timeline.append(first.id, "chat", WHO, T0 + timedelta(minutes=n),
                                     text=f"captured {n}", public=False)
    ids = [first.id, second.id, quiet.id]
    before = await read(store, ids)
    async with store.transaction() as tx:
        await tx.timeline.append(first.id, "state", WHO, T0 + timedelta(hours=1),
                                 old="investigating", new="identified")
        await tx.timeline.append(first.id, "chat", WHO, T0 + timedelta(hours=1),
                                 text="captured later", public=False)
        await tx.timeline.append(second.id, "update", WHO, T0 + timedelta(hours=1),
                                 text="first words")
    # What the incremental read asks the database for: rows after the known entries only.
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
    try:
        after = await read(store, ids, known=before)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", seen)
    whole = await read(store, ids)
    assert {i: fields(e) for i, e in after.items()} == {i: fields(e) for i, e in whole.items()}
    assert [e.text for e in after[first.id]][:5] == [f"update {n}" for n in range(5)]
    assert after[first.id][-1].new_value == "identified"
    assert fields(after[second.id]) == fields(whole[second.id]) and len(after[second.id]) == 1
    assert after[quiet.id] == []
    assert len(statements) == 1, statements  # nothing came in below: no second read
    # The known entries are the same objects: only the new ones were made from rows.
    assert all(a is b for a, b in zip(after[first.id][:5], before[first.id], strict=True))


async def test_an_entry_committed_after_a_read_below_its_last_entry_is_not_lost(
        pg_url: str) -> None:
    store = open_store(pg_url)
    await upgrade(store.engine)
    try:
        async with store.transaction() as tx:
            incident = await tx.incidents.open(title="Gate", severity=2, opened_by="alice",
                                               at=T0)
            await tx.timeline.append(incident.id, "update", WHO, T0, text="first")
        wrote, release = asyncio.Event(), asyncio.Event()

        async def slow_writer() -> None:
            # Takes its id first, commits last.
            async with store.transaction() as tx:
                await tx.timeline.append(incident.id, "update", WHO, T0 + timedelta(minutes=1),
                                         text="taken first, committed last")
                wrote.set()
                await release.wait()

        slow = asyncio.create_task(slow_writer())
        await wrote.wait()
        async with store.transaction() as tx:
            await tx.timeline.append(incident.id, "update", WHO, T0 + timedelta(minutes=2),
                                     text="taken second, committed first")
        known = await read(store, [incident.id])
        assert [e.text for e in known[incident.id]] == ["first", "taken second, committed first"]
        release.set()
        await slow
        after = await read(store, [incident.id], known=known)
        whole = await read(store, [incident.id])
        assert [e.text for e in after[incident.id]] == [
            "first", "taken first, committed last", "taken second, committed first"]
        assert fields(after[incident.id]) == fields(whole[incident.id])
    finally:
        await store.close()
