"""The export reads a whole timeline beneath SQLAlchemy (storage/whole_timeline.py: its own
sqlite3 connection in the formatting thread on SQLite, the session's asyncpg connection on
PostgreSQL). Its bytes must be those of the per-field path over the ORM's entries, on random
and varied rows, over more than one batch, on both databases; and on SQLite the same as
when it reads through the session (inside a transaction of its own, as the bundle does)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, Generator
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.incidents.export import (
    LINK_KINDS,
    PAGE_KINDS,
    _change,
    _entry_document,
    _link,
    _md,
    _md_name,
    _stored_documents,
    _stored_json,
    _when,
    export_json,
    export_markdown,
)
from bot.incidents.postmortem import table_line
from storage.db import open_store, upgrade
from storage.timeline import Where
from storage.unit_of_work import Store, Transaction
from storage.whole_timeline import POSTGRES_BATCH, SQLITE_FETCH, close_batches

T0 = datetime(2026, 11, 21, 23, 40, tzinfo=UTC)
GENERATED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ROWS = max(POSTGRES_BATCH, SQLITE_FETCH) + 321
"""More than one batch either way, and a last one that is not full."""

ALPHABET = " \t\n|*_[]`<>&\\ab→é\u00a0\u2028x\"\x01\x1f\x7f/😀"
WHERES = [Where("fungi", identity="fungi via irc", transport="irc", network="oftc",
                channel="#opendev"), Where("b|ob", channel="!r:x"), Where("c_d"),
          Where("e", network="oftc"), Where(" sp  aced ")]
KINDS = ["note", "chat", "state", "severity", "status.notice", "bug", "playbook", "page.sent",
         "page.acknowledged"]
BUG_STATES = {"https://x/1": "[open] #1 | *heap*"}


async def _fill(store: Store) -> None:
    rng = random.Random(2121)
    async with store.transaction() as tx:
        for number in (1, 2):
            await tx.incidents.open(title=f"Incident {number} | <b>", severity=2,
                                    opened_by="op", at=T0)
        for n in range(ROWS):
            kind = rng.choice(KINDS)
            body = None if n % 7 == 0 else "".join(
                rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
            await tx.timeline.append(
                1 if n % 5 else 2,  # the other incident's rows are not read
                kind, rng.choice(WHERES),
                T0 + timedelta(seconds=n, microseconds=rng.choice((0, 1, 250_000, 999_999))),
                text=body, public=rng.random() < 0.4,
                old=rng.choice((None, "investigating", "a|b")),
                new=rng.choice((None, "identified", "https://x/1", "https://x/2 <y>")))


async def _export(tx: Transaction, writer: object, **options: object) -> str:
    incident = await tx.incidents.get(1)
    assert incident is not None
    return "".join([chunk async for chunk in writer(  # type: ignore[operator]
        incident, tx.timeline, generated_at=GENERATED, **options)])


async def test_export_bytes_are_the_per_field_paths_on_either_database(store: Store) -> None:
    await _fill(store)
    async with store.reading() as tx:
        entries = await tx.timeline.entries(1)
        markdown = await _export(tx, export_markdown, bug_line=BUG_STATES.get)
        log = await _export(tx, export_json)
    assert len(entries) == ROWS - len(range(0, ROWS, 5))
    table = "".join(table_line(entry) for entry in entries)
    assert table in markdown
    pages = [e for e in entries if e.kind in PAGE_KINDS]
    assert "".join(
        f"| {_when(e.at)} | {e.kind.removeprefix('page.')} | {_md_name(e.actor)} | "
        f"{_md(' '.join(p for p in (_change(e), e.text or '') if p))} |\n" for e in pages
    ) in markdown
    links = [(e, _md(BUG_STATES.get(e.new_value or "")) if e.kind == "bug" else "")
             for e in entries if e.kind in LINK_KINDS]
    assert "".join(
        f"- {e.kind}: {_link(e.new_value)}{' — ' + state if state else ''}"
        f" (linked by {_md_name(e.actor)}, {_when(e.at)} UTC)\n" for e, state in links
    ) in markdown
    assert markdown.count("\n| 2026-11-2") == len(entries) + len(pages)
    assert markdown.count(" — \\[open\\] #1 \\| \\*heap\\* (linked") > 10
    assert json.loads(log)["timeline"] == [_entry_document(entry) for entry in entries]
    # To the byte: one dumps per 500 rows, joined by "," (where one dumps writes ", ").
    documents = [_entry_document(entry) for entry in entries]
    assert log.split(',"timeline":[', 1)[1] == ",".join(
        json.dumps(documents[start:start + 500], ensure_ascii=False)[1:-1]
        for start in range(0, len(documents), 500)) + "]}\n"


async def test_sqlite_export_is_the_same_read_through_the_session(sqlite_url: str) -> None:
    """Inside a transaction of the session's own (the bundle's snapshot) the rows are read
    through the session; outside it on a connection of the export's own: same bytes."""
    store = open_store(sqlite_url)
    try:
        await upgrade(store.engine)
        await _fill(store)
        async with store.reading() as tx:
            read = await tx.timeline.whole(1)
            assert isinstance(read, Generator)  # its own connection, not yet made
            await close_batches(read)
            own = [await _export(tx, export_markdown), await _export(tx, export_json)]
        async with store.reading() as tx:
            await tx.session.execute(text("BEGIN"))
            read = await tx.timeline.whole(1)
            assert isinstance(read, AsyncGenerator)  # through the session
            await close_batches(read)
            through_session = [await _export(tx, export_markdown),
                               await _export(tx, export_json)]
    finally:
        await store.close()
    assert own == through_session
    assert len(own[0]) > 100_000


async def test_a_reader_that_goes_away_ends_the_export_and_its_read(store: Store) -> None:
    """A client that hangs up after the first piece: the export ends without waiting for the
    rest (its read, on either database, is closed with it), and the next export is whole."""
    await _fill(store)
    for writer in (export_markdown, export_json):
        async with store.reading() as tx:
            incident = await tx.incidents.get(1)
            assert incident is not None
            pieces = writer(incident, tx.timeline, generated_at=GENERATED)
            assert await asyncio.wait_for(anext(pieces), 10)
            await asyncio.wait_for(pieces.aclose(), 10)
        if store.dialect == "sqlite":
            # A read left open (a statement mid-way) would keep the WAL from being
            # truncated: the checkpoint reports itself blocked.
            async with store.engine.connect() as connection:
                blocked = (await connection.exec_driver_sql(
                    "PRAGMA wal_checkpoint(TRUNCATE)")).one()[0]
            assert blocked == 0
        async with store.reading() as tx:
            assert (await _export(tx, writer)).count("2026-11-2") > ROWS // 2


def test_json_written_directly_is_what_dumps_writes_even_for_values_out_of_schema() -> None:
    """`_stored_json` writes what dumps writes; a value the schema does not have (a None
    kind, an id that is text) goes to dumps itself."""
    rows: list[tuple[object, ...]] = [
        (1, 1, "2026-11-21 23:40:00.000000", "note", "a\"b", None, None, None, None, None,
         None, "x\x01\u2028😀", 0),
        (2, 1, "2026-11-21 23:40:01", None, "b", "i", "irc", "oftc", "#c", "o", "n", "", 1),
        ("3", 1, "2026-11-21 23:40:00.250000", "chat", "c", None, None, None, None, None,
         None, None, True),
    ]
    for batch in ([rows[0]], rows[:2], rows):
        assert _stored_json(batch) == json.dumps(_stored_documents(batch),
                                                 ensure_ascii=False)[1:-1]
