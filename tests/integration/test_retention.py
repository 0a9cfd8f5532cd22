"""Retention on SQLite and PostgreSQL: delivered outbox effects and audit records older than
their period are deleted in batches, everything else stays; and the maintenance queries
(pruning, failed/pending counts, public timeline reads) find their rows by index, checked
with the databases' own EXPLAIN of the statements the repositories send."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import Connection, event, func, insert, inspect, select

from bot.config import RetentionConfig
from bot.retention import Pruner
from storage.db import _alembic_config, revisions, upgrade
from storage.models import AuditRecord, OutboxEffect, TimelineEntry
from storage.timeline import Where
from storage.unit_of_work import Store, Transaction

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ALICE = Where(actor="alice", identity="alice via irc/oftc account=alice", transport="irc",
              network="oftc", channel="#infra")


def _effect(n: int, at: datetime, *, delivered: bool = False, failed: bool = False
            ) -> dict[str, Any]:
    return {"kind": "notice", "lane": f"irc/oftc/#c{n % 7}", "payload": {"n": n},
            "idempotency_key": f"k{n}", "created_at": at, "attempts": 1,
            "next_attempt_at": at, "delivered_at": at if delivered else None,
            "failed_at": at if failed else None}


def _audit(n: int, at: datetime) -> dict[str, Any]:
    return {"at": at, "actor": "alice", "identity": None, "transport": "irc",
            "network": "oftc", "channel": "#infra", "command": "#status",
            "text": f"#status notice {n}", "outcome": "accepted", "reason": None}


async def _fill(store: Store) -> None:
    old, recent = NOW - 40 * DAY, NOW - 2 * DAY
    async with store.engine.begin() as session:  # bulk rows, as a year of use leaves them
        effects = ([_effect(n, old, delivered=True) for n in range(250)]
                   + [_effect(n, recent, delivered=True) for n in range(250, 260)]
                   + [_effect(n, old) for n in range(260, 265)]               # pending
                   + [_effect(n, old, failed=True) for n in range(265, 270)])  # failed
        await session.execute(insert(OutboxEffect), effects)
        await session.execute(insert(AuditRecord),
                              [_audit(n, NOW - 400 * DAY) for n in range(130)]
                              + [_audit(n, NOW - 300 * DAY) for n in range(130, 140)])


async def _count(store: Store, query: Any) -> int:
    async with store.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def test_pruning_deletes_only_rows_past_their_period_in_batches(store: Store) -> None:
    await _fill(store)
    pruner = Pruner(store, RetentionConfig(), clock=lambda: NOW, batch=40)
    assert await pruner.check() == {"outbox_delivered": 250, "audit": 130}
    assert await _count(store, select(func.count()).select_from(OutboxEffect)) == 20
    async with store.reading() as tx:
        assert await tx.outbox.pending_count() == 5
        assert await tx.outbox.failed_count() == 5
        audit = await tx.audit.recent(100)
    assert len(audit) == 10 and all(r.at == NOW - 300 * DAY for r in audit)
    assert await pruner.check() == {"outbox_delivered": 0, "audit": 0}  # nothing left to do


async def test_null_periods_keep_everything(store: Store) -> None:
    await _fill(store)
    forever = RetentionConfig(outbox_delivered=None, audit=None)
    assert await Pruner(store, forever, clock=lambda: NOW).check() == {
        "outbox_delivered": 0, "audit": 0}
    assert await _count(store, select(func.count()).select_from(OutboxEffect)) == 270
    assert await _count(store, select(func.count()).select_from(AuditRecord)) == 140


async def _plans(store: Store, action: Callable[[Transaction], Awaitable[object]]
                 ) -> list[str]:
    """The plan of every SELECT or DELETE that `action` sends, from the database."""
    sent: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "DELETE")):
            sent.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", grab)
    try:
        async with store.transaction() as tx:
            await action(tx)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", grab)
    plans = []
    async with store.engine.connect() as connection:
        if store.dialect == "postgresql":
            # Tables this small are cheaper to read whole: ask whether an index *can* serve.
            await connection.exec_driver_sql("SET enable_seqscan = off")
        prefix = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
        for statement, parameters in sent:
            rows = await connection.exec_driver_sql(prefix + statement, parameters)
            plans.append(" / ".join(str(row[-1]) for row in rows))
    return plans


def _assert_no_scan(plans: list[str], index: str, *, small: tuple[str, ...] = ()
                    ) -> None:
    """Every table is reached by an index condition (or through a partial index that holds
    just the rows asked for), and `index` is among those used. `small`: tables this check
    leaves alone, each as small as the configuration or as the open incidents, where the
    planner's choice on these few test rows says nothing (PostgreSQL joined three roles to
    the open incidents by reading them all rather than by their key)."""
    assert plans
    assert any(index in plan for plan in plans), plans
    for plan in plans:
        scanned = re.findall(r"Seq Scan on (\w+)", plan)
        assert all(table in small for table in scanned), plan
        # SQLite: SEARCH is an index lookup; SCAN reads a whole table or index.
        scans = re.findall(r"SCAN (incidents|incident_events|outbox|audit_log)\b"
                           r"(?: USING (?:COVERING )?INDEX (\w+))?", plan)
        for _, used in scans:
            assert used in PARTIAL, plan
        # PostgreSQL: an index scan with no Index Cond under it reads the whole index.
        nodes = plan.split(" / ")
        for at, node in enumerate(nodes):
            used = re.search(r"Scan using (\w+) on (\w+)", node) or re.search(
                r"Bitmap Index Scan on (\w+)", node)
            if used and used.lastindex == 2 and used[2] in small:
                continue
            if used and used[1] not in PARTIAL:
                details = []
                for line in nodes[at + 1:]:
                    if "->" in line:
                        break
                    details.append(line)
                assert any("Index Cond" in d for d in details), plan


PARTIAL = {"ix_outbox_failed"}


async def test_maintenance_and_public_reads_use_indexes(store: Store) -> None:
    await _fill(store)
    async with store.transaction() as tx:
        incident = await tx.incidents.open(title="Long", severity=2, opened_by="alice", at=NOW)
        await tx.timeline.append(incident.id, "state", ALICE, NOW, text="opened")
        incident_id = incident.id
    async with store.engine.begin() as connection:
        await connection.execute(insert(TimelineEntry), [
            {"incident_id": incident_id, "at": NOW, "kind": "chat", "actor": "bob",
             "text": f"line {n}", "public": False} for n in range(2000)])
    async with store.engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE")
    cutoff = NOW - 30 * DAY
    _assert_no_scan(await _plans(store, lambda tx: tx.outbox.failed_count()),
                    "ix_outbox_failed")
    _assert_no_scan(await _plans(store, lambda tx: tx.outbox.pending_count()),
                    "ix_outbox_pending")
    _assert_no_scan(await _plans(store, lambda tx: tx.outbox.counts()), "ix_outbox_failed")
    _assert_no_scan(await _plans(store, lambda tx: tx.outbox.counts()), "ix_outbox_pending")
    _assert_no_scan(await _plans(store, lambda tx: tx.outbox.prune_delivered(cutoff, 10)),
                    "ix_outbox_pending")
    _assert_no_scan(await _plans(store, lambda tx: tx.audit.prune(cutoff, 10)),
                    "ix_audit_log_at")
    # What each /metrics scrape reads of the incidents, even once ANALYZE says `state`
    # has few values (SQLite then preferred reading every incident).
    async with store.transaction() as tx:
        for n in range(300):
            await tx.incidents.open(title=f"Old {n}", severity=3, opened_by="alice",
                                    at=NOW - 400 * DAY)
    async with store.engine.begin() as connection:
        await connection.exec_driver_sql("UPDATE incidents SET state = 'resolved', "
                                         "resolved_at = opened_at WHERE title LIKE 'Old %'")
        await connection.exec_driver_sql("ANALYZE")
    for index in ("ix_incidents_state", "ix_incidents_resolved_at"):
        _assert_no_scan(await _plans(store, lambda tx: tx.incidents.milestones_of(
            ids=[1, 2], open_now=True, after_id=incident_id, limit=10,
            resolved_since=cutoff)), index)
    # `#now`'s one statement: the open incidents by ix_incidents_state (even after ANALYZE,
    # above), their newest public entries by ix_incident_events_public.
    for index in ("ix_incidents_state", "ix_incident_events_public"):
        _assert_no_scan(await _plans(store, lambda tx: tx.situation.read()), index,
                        small=("components", "incident_roles", "maintenance_windows"))
    for read in (lambda tx: tx.timeline.latest_of([incident_id]),
                 lambda tx: tx.incidents.list_open_with_latest(),
                 lambda tx: tx.timeline.entries(incident_id, public_only=True),
                 lambda tx: tx.timeline.entries_of([incident_id], public_only=True)):
        _assert_no_scan(await _plans(store, read), "ix_incident_events_public")

    async def stream(tx: Transaction) -> None:
        async for _ in tx.timeline.stream(incident_id, public_only=True):
            pass

    _assert_no_scan(await _plans(store, stream), "ix_incident_events_public")


async def test_migration_0013_rolls_back_and_forward(store: Store) -> None:
    def indexes(connection: Connection) -> set[str]:
        found = set()
        for table in ("incident_events", "outbox"):
            found |= {i["name"] for i in inspect(connection).get_indexes(table)}
        return found

    new = {"ix_incident_events_public", "ix_outbox_failed"}
    async with store.engine.begin() as connection:
        assert new <= await connection.run_sync(indexes)
        await connection.run_sync(
            lambda c: command.downgrade(_alembic_config(c), "0012_api_tokens"))
        assert not new & await connection.run_sync(indexes)
    await upgrade(store.engine)
    async with store.engine.connect() as connection:
        assert new <= await connection.run_sync(indexes)
    current, head = await revisions(store.engine)
    assert current == head
