"""Leader election, outbox claims and the change relay, against real PostgreSQL (and SQLite
where the piece has a SQLite form)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bot.app import App
from bot.config import load_config_text
from bot.core.events import AlertSet, DeskEvent
from bot.ha.change_relay import CHANNEL, MAX_PAYLOAD, ChangeRelay, decode, encode
from bot.ha.leadership import FileLock, SoleInstance, asyncpg_dsn, leadership_for
from bot.ha.lease import LeaderLease
from storage.db import open_store, revisions, upgrade
from storage.leases import FENCING_TERM, LeaseLost, LeaseSession
from storage.unit_of_work import Store
from tests.servers.ports import free_port

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def _wait(condition: object, within: float) -> float:
    """Seconds until `condition()` is true; fails after `within` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within}s")


def test_the_election_fits_the_database(tmp_path: Path) -> None:
    assert isinstance(leadership_for("postgresql+asyncpg://u:p@h/db"), LeaderLease)
    assert isinstance(leadership_for(f"sqlite+aiosqlite:///{tmp_path}/a.db"), FileLock)
    assert isinstance(leadership_for("sqlite+aiosqlite:///:memory:"), SoleInstance)
    assert asyncpg_dsn("postgresql+asyncpg://u:p%40ss@h:5433/db?ssl=require") == (
        "postgresql://u:p%40ss@h:5433/db?ssl=require")


def _lease(dsn: str, name: str, **kwargs: float) -> LeaderLease:
    options = {"lease": 3.0, "renew_every": 0.5, "margin": 1.0, "poll": 0.05,
               "step_back": 0.2}
    options.update(kwargs)
    return LeaderLease(dsn, f"{name}-{uuid.uuid4().hex[:6]}", **options)


async def test_a_standby_takes_over_at_once_when_the_leaders_session_ends(pg_url: str) -> None:
    dsn = asyncpg_dsn(pg_url)
    first, second = _lease(dsn, "first", lease=30.0), _lease(dsn, "second", lease=30.0)
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    try:
        await asyncio.sleep(0.6)
        assert first.is_leader and not second.is_leader and not waiting.done()
        # What a crash looks like from the server: the holder's lease session is gone. The
        # lease has 30 s to run, yet the standby need not wait for it.
        admin = await asyncpg.connect(dsn)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(holder_pid)) FROM leader_lease")
        finally:
            await admin.close()
        assert killed == 1
        took = await _wait(waiting.done, 3)
        assert second.is_leader and second.term == (first.term or 0) + 1
        await asyncio.wait_for(first.lost(), 3)  # its renewal is refused: a new term
        assert not first.is_leader
        print(f"standby took over {took:.2f}s after the leader's session ended")
    finally:
        waiting.cancel()
        await first.release()
        await second.release()


async def test_a_leader_that_stops_renewing_is_replaced_when_the_lease_expires(
    pg_url: str,
) -> None:
    """A stopped or stuck leader keeps its session open (here: a connection that took the
    lease and then says nothing): the standby takes over once the lease has expired, in a
    new term, and the old term can no longer commit anything."""
    dsn = asyncpg_dsn(pg_url)
    frozen = await asyncpg.connect(dsn)
    standby = _lease(dsn, "standby")
    store = open_store(pg_url)
    try:
        grant = await LeaseSession(frozen).take("frozen", 2.0, None)
        assert grant is not None
        started = time.monotonic()
        await asyncio.wait_for(standby.acquire(), 5)
        took = time.monotonic() - started
        assert 1.5 < took < 3.0, took
        assert standby.term == grant.term + 1
        print(f"standby took over {took:.2f}s after a 2 s lease was last renewed")
        fencing = FENCING_TERM.set(grant.term)
        try:
            try:
                async with store.transaction() as tx:
                    await tx.kudos.add("success", "x", "written by a deposed leader", T0)
            except LeaseLost:
                pass
            else:
                raise AssertionError("the old term committed")
        finally:
            FENCING_TERM.reset(fencing)
        async with store.reading() as tx:
            assert not await tx.kudos.recent("success", 10)
        fencing = FENCING_TERM.set(standby.term)
        try:
            async with store.transaction() as tx:
                await tx.kudos.add("success", "x", "written by the leader", T0)
        finally:
            FENCING_TERM.reset(fencing)
        assert await LeaseSession(frozen).renew(grant.term, "frozen", 2.0) is None
    finally:
        await store.close()
        await frozen.close()
        await standby.release()


async def test_a_leader_whose_loop_stalls_past_its_lease_acts_no_more(pg_url: str) -> None:
    """Its own clock says the lease ran out: it stops acting before the database says so,
    and steps down as soon as it runs again."""
    dsn = asyncpg_dsn(pg_url)
    leader = _lease(dsn, "stalled", lease=3.0, margin=1.0)
    await leader.acquire()
    try:
        assert leader.holds()
        time.sleep(2.2)  # noqa: ASYNC251 - the point: the event loop blocked, no renewal runs
        assert not leader.holds() and not leader.is_leader
        await asyncio.wait_for(leader.lost(), 2)
        assert leader.term is None
    finally:
        await leader.release()


async def test_releasing_hands_over_at_once(pg_url: str) -> None:
    dsn = asyncpg_dsn(pg_url)
    first, second = _lease(dsn, "first", lease=30.0), _lease(dsn, "second", lease=30.0)
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    await asyncio.sleep(0.3)
    await first.release()
    await asyncio.wait_for(waiting, 2)
    assert second.is_leader and not first.is_leader
    await second.release()


async def test_an_unreachable_database_keeps_the_standby_waiting_not_failing() -> None:
    lease = _lease("postgresql://nobody@127.0.0.1:1/none", "nobody")
    task = asyncio.create_task(lease.acquire())
    await asyncio.sleep(0.5)
    assert not task.done() and not lease.is_leader
    task.cancel()
    await lease.release()


async def test_a_second_process_on_the_same_sqlite_file_stands_by(tmp_path: Path) -> None:
    path = tmp_path / "desk.db.leader"
    first, second = FileLock(path, poll=0.05), FileLock(path, poll=0.05)
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await first.release()
    await asyncio.wait_for(waiting, 2)
    assert second.is_leader
    await asyncio.wait_for(first.lost(), 1)
    await second.release()


# --- outbox claims ------------------------------------------------------------------------


async def _queue(store: Store, *lanes: str) -> None:
    async with store.transaction() as tx:
        for number, lane in enumerate(lanes):
            await tx.outbox.add("notice", lane, {"text": str(number)}, f"k{number}", T0)


async def test_claimed_effects_are_not_handed_to_another_worker(store: Store) -> None:
    await _queue(store, "irc/a/#x", "irc/a/#y", "irc/a/#x")
    lease = timedelta(minutes=5)
    async with store.transaction() as tx:
        mine = await tx.outbox.claim_due(T0, "one", lease)
    assert [e.lane for e in mine] == ["irc/a/#x", "irc/a/#y"]  # one head per lane
    async with store.transaction() as tx:
        assert await tx.outbox.claim_due(T0, "two", lease) == []
        assert len(await tx.outbox.claim_due(T0, "one", lease)) == 2  # its own, again
    # A claim runs out: then anyone may take it.
    async with store.transaction() as tx:
        assert len(await tx.outbox.claim_due(T0 + lease, "two", lease)) == 2
    async with store.transaction() as tx:
        # "one" was too slow: its outcome no longer counts...
        assert not await tx.outbox.mark_delivered(mine[0].id, T0, owner="one")
        # ..."two"'s does, and frees the lane's next effect.
        assert await tx.outbox.mark_delivered(mine[0].id, T0, owner="two")
    async with store.transaction() as tx:
        (head,) = [e for e in await tx.outbox.claim_due(T0 + lease, "two", lease)
                   if e.lane == "irc/a/#x"]
        assert head.payload == {"text": "2"}


async def test_a_new_leader_frees_what_the_old_one_had_claimed(store: Store) -> None:
    await _queue(store, "irc/a/#x", "irc/a/#y", "irc/a/#z")
    async with store.transaction() as tx:
        claimed = await tx.outbox.claim_due(T0, "dead-leader", timedelta(minutes=5))
        # It had started sending one of them when it died: that one may have gone out.
        await tx.outbox.mark_sending(claimed[2].id, T0)
    async with store.transaction() as tx:
        assert await tx.outbox.release_claims(except_owner="new-leader", now=T0) == (2, 1)
    async with store.transaction() as tx:
        again = await tx.outbox.claim_due(T0, "new-leader", timedelta(minutes=5))
        assert [e.lane for e in again] == ["irc/a/#x", "irc/a/#y"]
        assert await tx.outbox.release_claims(except_owner="new-leader", now=T0) == (0, 0)
        assert await tx.outbox.failed_count() == 1


async def test_concurrent_claims_skip_locked_rows_without_waiting(pg_url: str) -> None:
    from storage.db import open_store

    store = open_store(pg_url)
    try:
        await _queue(store, "irc/a/#x", "irc/a/#y")
        async with store.transaction() as first:
            claimed = await first.outbox.claim_due(T0, "one", timedelta(minutes=5))
            assert len(claimed) == 2
            # Not committed yet: the rows are locked. The other instance must neither wait
            # for them nor get them.
            async with store.transaction() as second:
                got = await asyncio.wait_for(
                    second.outbox.claim_due(T0, "two", timedelta(minutes=5)), 5)
                assert got == []
    finally:
        await store.close()


# --- the change relay ---------------------------------------------------------------------


def test_events_survive_the_wire_and_oversized_texts_are_cut_short() -> None:
    event = AlertSet(at=T0, incident_id=3, text="Gate <down>")
    origin, back = decode(encode(event, "a"))  # type: ignore[misc]
    assert (origin, back) == ("a", event)
    huge = AlertSet(at=T0, incident_id=3, text="x" * 20_000)
    payload = encode(huge, "a")
    assert len(payload.encode()) <= MAX_PAYLOAD
    assert decode(payload) == ("a", AlertSet(at=T0, incident_id=3, text="x" * 200 + "…"))
    assert decode("not json") is None
    assert decode('{"kind": 1}') is None


async def test_changes_reach_the_other_instances_not_the_sender(pg_url: str) -> None:
    dsn = asyncpg_dsn(pg_url)
    seen: dict[str, list[DeskEvent]] = {"a": [], "b": []}
    gaps = {"a": 0, "b": 0}

    def gap(name: str) -> None:
        gaps[name] += 1

    relays = {
        name: ChangeRelay(dsn, name, on_remote=seen[name].append,
                          on_gap=lambda name=name: gap(name))  # type: ignore[misc]
        for name in ("a", "b")
    }
    for relay in relays.values():
        await relay.start()
    try:
        await _wait(lambda: gaps["a"] and gaps["b"], 5)  # listening: a rebuild was asked for
        event = AlertSet(at=T0, incident_id=1, text="Gate is down")
        relays["a"].publish(event)
        took = await _wait(lambda: seen["b"], 2)
        assert seen["b"] == [event] and seen["a"] == []
        assert took < 1.0
    finally:
        for relay in relays.values():
            await relay.stop()


async def test_a_notification_of_another_version_asks_for_a_rebuild(pg_url: str) -> None:
    """A rolling upgrade: an older instance's event has no `type`; the page is read afresh."""
    dsn = asyncpg_dsn(pg_url)
    gaps: list[int] = []
    seen: list[DeskEvent] = []
    relay = ChangeRelay(dsn, "b", on_remote=seen.append, on_gap=lambda: gaps.append(1))
    await relay.start()
    try:
        await _wait(lambda: gaps, 5)
        older = json.dumps({"origin": "a", "kind": "alert.set", "at": T0.isoformat(),
                            "incident_id": 1, "data": {"text": "Gate"}})
        sender = await asyncpg.connect(dsn)
        try:
            await sender.execute("SELECT pg_notify($1, $2)", CHANNEL, older)
        finally:
            await sender.close()
        await _wait(lambda: len(gaps) >= 2, 5)
        assert seen == []
    finally:
        await relay.stop()


async def test_a_listener_that_reconnects_asks_for_a_rebuild(pg_url: str) -> None:
    dsn = asyncpg_dsn(pg_url)
    gaps: list[int] = []
    relay = ChangeRelay(dsn, "a", on_remote=lambda e: None, on_gap=lambda: gaps.append(1))
    await relay.start()
    try:
        await _wait(lambda: gaps, 5)
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        finally:
            await admin.close()
        await _wait(lambda: len(gaps) >= 2, 5)
    finally:
        await relay.stop()


async def test_sole_instance_leads_at_once() -> None:
    sole = SoleInstance()
    await asyncio.wait_for(sole.acquire(), 1)
    assert sole.is_leader
    await sole.release()
    await asyncio.wait_for(sole.lost(), 1)


# --- the app stepping down and leading again -----------------------------------------------


async def test_a_leader_cut_off_from_the_database_goes_quiet_at_once(
    pg_url: str, tmp_path: Path
) -> None:
    dsn = asyncpg_dsn(pg_url)
    read_end, write_end = os.pipe()
    stdin, typing = os.fdopen(read_end), os.fdopen(write_end, "w")
    out = io.StringIO()
    config = load_config_text(
        f"database: {{url: '{pg_url}'}}\nconsole: true\n"
        f"status_page: {{listen: '127.0.0.1:{free_port()}', title: T}}\n")
    lock = _lease(dsn, "app", lease=30.0)
    app = App(config, stdin=stdin, stdout=out, leadership=lock)
    running = asyncio.create_task(app.run())
    rival = _lease(dsn, "rival", lease=30.0)
    rival_waiting: asyncio.Task[None] | None = None
    try:
        await _wait(lambda: lock.is_leader and len(app.transports) == 1, 10)
        rival_waiting = asyncio.create_task(rival.acquire())
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute("SELECT pg_terminate_backend(holder_pid) FROM leader_lease")
        finally:
            await admin.close()
        await asyncio.wait_for(rival_waiting, 5)
        # The rival leads now: this instance has stopped its chat side.
        await _wait(lambda: not lock.is_leader and len(app.transports) == 0, 5)
        typing.write("#status notice typed while standing by\n")
        typing.flush()
        await asyncio.sleep(0.5)
        assert "typed while standing by" not in out.getvalue()
        await rival.release()
        await _wait(lambda: "-statusdesk- NOTICE: typed while standing by" in out.getvalue(), 10)
        assert out.getvalue().count("NOTICE: typed while standing by") == 1
    finally:
        # The app reads its console (and so sees the end of input) only while it leads: when
        # an assertion above failed with the rival leading, the rival steps aside first, or
        # the app would wait for leadership until the wait below ran out.
        if rival_waiting is not None:
            rival_waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await rival_waiting
        await asyncio.wait_for(rival.release(), 10)
        typing.close()  # end of input: the app shuts down
        assert await asyncio.wait_for(running, 30) == 0


async def test_instances_starting_together_migrate_once(pg_server: object) -> None:
    from tests.conftest import admin_sql

    name = f"t_{uuid.uuid4().hex[:12]}"
    await admin_sql(pg_server, f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    stores = [open_store(pg_server.url(name)) for _ in range(3)]  # type: ignore[attr-defined]
    try:
        await asyncio.gather(*(upgrade(s.engine) for s in stores))
        current, head = await revisions(stores[0].engine)
        assert current == head
    finally:
        for s in stores:
            await s.close()
        await admin_sql(pg_server, f"DROP DATABASE {name} WITH (FORCE)")  # type: ignore[arg-type]


async def test_the_lease_migration_rolls_back_and_forward(pg_url: str, sqlite_url: str) -> None:
    from alembic import command as alembic_command
    from sqlalchemy import Connection, inspect

    from storage.db import _alembic_config

    def downgrade(connection: Connection) -> list[str]:
        alembic_command.downgrade(_alembic_config(connection), "0006_inbound_events")
        return inspect(connection).get_table_names()

    for url in (pg_url, sqlite_url):
        store = open_store(url)
        try:
            await upgrade(store.engine)
            async with store.engine.begin() as connection:
                tables = await connection.run_sync(downgrade)
            assert "leader_lease" not in tables and "outbox" in tables
            await upgrade(store.engine)
            async with store.engine.connect() as connection:
                row = (await connection.exec_driver_sql(
                    "SELECT term, holder FROM leader_lease WHERE id = 1")).one()
            assert tuple(row) == (0, None)
        finally:
            await store.close()


class StagedRecorder:
    """A deliverer like the IRC one: it asks `before_write` right before it would write, and
    writes (here: records) only if that passes. `gate` holds it just before asking."""

    kinds = frozenset({"notice"})

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    def stages(self, kind: str, payload: dict[str, object]) -> bool:
        return True

    async def deliver_staged(self, kind: str, payload: dict[str, object],
                             before_write: object) -> None:
        from bot.core.ports import DeliveryUnavailable

        self.waiting.set()
        await self.gate.wait()
        try:
            await before_write()  # type: ignore[operator]
        except Exception as error:
            raise DeliveryUnavailable(f"not sent: {error}") from error
        self.sent.append(str(payload["text"]))

    async def deliver(self, kind: str, payload: dict[str, object]) -> None:
        raise AssertionError("staged deliveries only")


async def test_a_deposed_term_claims_nothing_and_sends_nothing(pg_url: str) -> None:
    """The outbox fence in SQL: once another instance has taken the lease, the old term's
    claims are refused, and an effect it had claimed before is not marked as being sent, so
    not written; the new leader delivers it."""
    from bot.delivery.outbox import OutboxWorker
    from storage.models import utcnow

    dsn = asyncpg_dsn(pg_url)
    store = open_store(pg_url)
    old_session, new_session = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    recorder = StagedRecorder()
    old = OutboxWorker(store, [recorder], owner="old")
    try:
        old_grant = await LeaseSession(old_session).take("old", 30.0, None)
        assert old_grant is not None
        async with store.transaction() as tx:
            await tx.outbox.add("notice", "irc/a/#x", {"text": "first"}, "k1", utcnow())
        fencing = FENCING_TERM.set(old_grant.term)
        try:
            delivering = asyncio.create_task(old.deliver_due())  # claims, then waits
            await asyncio.wait_for(recorder.waiting.wait(), 5)
            # Deposed meanwhile: its lease session ends, another instance takes over.
            await old_session.close()
            new_grant = await LeaseSession(new_session).take("new", 30.0, None)
            assert new_grant is not None and new_grant.term == old_grant.term + 1
            recorder.gate.set()
            assert await asyncio.wait_for(delivering, 5) == 0
            assert recorder.sent == []
        finally:
            FENCING_TERM.reset(fencing)
        async with store.transaction() as tx:  # a fresh effect: the old term may not claim it
            await tx.outbox.add("notice", "irc/a/#y", {"text": "second"}, "k2", utcnow())
        fencing = FENCING_TERM.set(old_grant.term)
        try:
            try:
                await old.deliver_due()
            except LeaseLost:
                pass
            else:
                raise AssertionError("a deposed term claimed effects")
        finally:
            FENCING_TERM.reset(fencing)
        assert recorder.sent == []
        new = OutboxWorker(store, [recorder], owner="new")
        fencing = FENCING_TERM.set(new_grant.term)
        try:
            await new.take_over()
            assert await new.deliver_due() == 2
        finally:
            FENCING_TERM.reset(fencing)
        assert sorted(recorder.sent) == ["first", "second"]
    finally:
        await new_session.close()
        if not old_session.is_closed():
            await old_session.close()
        await store.close()
