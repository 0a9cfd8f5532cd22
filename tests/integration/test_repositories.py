"""Every repository, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from storage.components import DeclaredComponent
from storage.db import revisions, upgrade
from storage.models import Base
from storage.timeline import Where
from storage.unit_of_work import Store

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALICE = Where(actor="alice", identity="alice via irc/oftc account=alice", transport="irc",
              network="oftc", channel="#infra")


async def test_migrations_match_models_and_are_idempotent(store: Store) -> None:
    def diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with store.engine.connect() as connection:
        assert await connection.run_sync(diff) == []
    await upgrade(store.engine)  # a second run changes nothing
    current, head = await revisions(store.engine)
    assert current == head is not None


async def test_incident_lifecycle_stamps_milestones_once(store: Store) -> None:
    async with store.transaction() as tx:
        incident = await tx.incidents.open(title="Gate broken", severity=2, opened_by="alice",
                                           at=T0)
        incident_id = incident.id
    assert incident_id >= 1
    async with store.transaction() as tx:
        incident = await tx.incidents.get(incident_id, for_update=True)
        assert incident is not None
        tx.incidents.set_state(incident, "identified", T0 + timedelta(minutes=5))
        tx.incidents.set_state(incident, "investigating", T0 + timedelta(minutes=6))
        tx.incidents.set_state(incident, "identified", T0 + timedelta(minutes=7))
        tx.incidents.set_state(incident, "resolved", T0 + timedelta(minutes=9))
    async with store.reading() as tx:
        incident = await tx.incidents.get(incident_id)
        assert incident is not None
        assert incident.identified_at == T0 + timedelta(minutes=5)  # the first time counts
        assert incident.resolved_at == T0 + timedelta(minutes=9)
        assert incident.opened_at.tzinfo is not None
        assert incident.opened_at == T0
        assert await tx.incidents.list_open() == []
        assert [i.id for i in await tx.incidents.list_all()] == [incident_id]


async def test_reopening_clears_resolution(store: Store) -> None:
    async with store.transaction() as tx:
        incident = await tx.incidents.open(title="x", severity=3, opened_by="a", at=T0)
        tx.incidents.set_state(incident, "resolved", T0 + timedelta(minutes=1))
        tx.incidents.set_state(incident, "monitoring", T0 + timedelta(minutes=2))
        assert incident.resolved_at is None
        assert incident.monitoring_at == T0 + timedelta(minutes=2)


async def test_open_alert_incident_is_the_newest_open_alert(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.incidents.open(title="plain", severity=3, opened_by="a", at=T0)
        alert = await tx.incidents.open(title="alert", severity=2, opened_by="a", at=T0,
                                        is_alert=True)
        alert_id = alert.id
    async with store.reading() as tx:
        found = await tx.incidents.open_alert_incident()
        assert found is not None and found.id == alert_id


async def test_timeline_is_ordered_and_streams_in_batches(store: Store) -> None:
    async with store.transaction() as tx:
        incident = await tx.incidents.open(title="t", severity=3, opened_by="a", at=T0)
        incident_id = incident.id
        for n in range(25):
            await tx.timeline.append(incident_id, "note", ALICE, T0 + timedelta(seconds=n),
                                     text=f"note {n}", public=n % 2 == 0)
    async with store.reading() as tx:
        streamed = [e.text async for e in tx.timeline.stream(incident_id, batch=7)]
        assert streamed == [f"note {n}" for n in range(25)]
        public = [e.text async for e in tx.timeline.stream(incident_id, public_only=True,
                                                            batch=4)]
        assert public == [f"note {n}" for n in range(0, 25, 2)]
        assert [e.text for e in await tx.timeline.last(incident_id, 3)] == [
            "note 22", "note 23", "note 24"]
        entry = (await tx.timeline.entries(incident_id))[0]
        assert (entry.actor, entry.network, entry.channel) == ("alice", "oftc", "#infra")
        assert entry.identity == ALICE.identity


async def test_timeline_rejects_unknown_incident(store: Store) -> None:
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await tx.timeline.append(999, "note", ALICE, T0, text="orphan")


async def test_status_post_add_returns_the_id_of_the_row_it_wrote(store: Store) -> None:
    async with store.transaction() as tx:
        incident = await tx.incidents.open(title="Gate", severity=2, opened_by="a", at=T0)
        first = await tx.status_posts.add("notice", "one", "alice", T0, incident.id)
        second = await tx.status_posts.add("log", None, "bob", T0 + timedelta(minutes=1), None)
    async with store.reading() as tx:
        posts = await tx.status_posts.recent(10)
    assert [(p.id, p.kind, p.text, p.author, p.at, p.incident_id) for p in posts] == [
        (second, "log", None, "bob", T0 + timedelta(minutes=1), None),
        (first, "notice", "one", "alice", T0, incident.id),
    ]


async def test_alert_set_replace_and_clear(store: Store) -> None:
    async with store.transaction() as tx:
        post_id = await tx.status_posts.add("alert", "first", "alice", T0, None)
        await tx.alert.set("first", "alice", T0, None, post_id)
    async with store.transaction() as tx:
        post_id = await tx.status_posts.add("alert", "second", "bob", T0, None)
        await tx.alert.set("second", "bob", T0 + timedelta(minutes=1), None, post_id)
    async with store.reading() as tx:
        alert = await tx.alert.current()
        assert alert is not None and (alert.text, alert.set_by) == ("second", "bob")
        assert [p.text for p in await tx.status_posts.recent(10)] == ["second", "first"]
    async with store.transaction() as tx:
        await tx.alert.clear()
    async with store.reading() as tx:
        assert await tx.alert.current() is None


async def test_saved_topic_keeps_the_first(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.topics.save_if_absent("irc", "oftc", "#infra", "Welcome", T0)
        assert not await tx.topics.save_if_absent("irc", "oftc", "#infra", "ALERT", T0)
    async with store.transaction() as tx:
        saved = await tx.topics.pop("irc", "oftc", "#infra")
        assert saved is not None and saved.topic == "Welcome"
        assert await tx.topics.pop("irc", "oftc", "#infra") is None


async def test_kudos_and_audit(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.kudos.add("success", "gate fixed", "alice", T0)
        await tx.kudos.add("thanks", "bob for the fix", "alice", T0)
        await tx.audit.record(ALICE, T0, command="#status alert", text="x" * 5000,
                              outcome="refused", reason="not on the whitelist")
    async with store.reading() as tx:
        assert [k.text for k in await tx.kudos.recent("success", 10)] == ["gate fixed"]
        refused = await tx.audit.recent(10, outcome="refused")
        assert len(refused) == 1
        assert refused[0].text == "x" * 2000 + " … [3000 more characters not kept]"


async def test_outbox_is_idempotent_and_ordered_per_lane(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.outbox.add("notice", "irc/oftc/#a", {"n": 1}, "k1", T0)
        assert not await tx.outbox.add("notice", "irc/oftc/#a", {"n": 1}, "k1", T0)
        assert await tx.outbox.add("set_topic", "irc/oftc/#a", {"n": 2}, "k2", T0)
        assert await tx.outbox.add("notice", "irc/oftc/#b", {"n": 3}, "k3", T0)
    async with store.reading() as tx:
        due = await tx.outbox.due(T0)
        assert [e.payload["n"] for e in due] == [1, 3]  # one head per lane
        assert await tx.outbox.pending_count() == 3
        first, other = due
    async with store.transaction() as tx:
        await tx.outbox.mark_delivered(first.id, T0)
        await tx.outbox.mark_retry(other.id, "disconnected", T0 + timedelta(minutes=1))
    async with store.reading() as tx:
        assert [e.payload["n"] for e in await tx.outbox.due(T0)] == [2]
        assert await tx.outbox.next_attempt_at() == T0
        later = await tx.outbox.due(T0 + timedelta(minutes=2))
        assert [e.payload["n"] for e in later] == [2, 3]
        retried = next(e for e in later if e.payload["n"] == 3)
        assert retried.attempts == 1 and retried.last_error == "disconnected"
    async with store.transaction() as tx:
        await tx.outbox.mark_failed(retried.id, "no such channel", T0)
    async with store.reading() as tx:
        assert await tx.outbox.pending_count() == 1
        assert await tx.outbox.failed_count() == 1


async def test_transport_state(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.transport_state.get("matrix", "next_batch") is None
        await tx.transport_state.put("matrix", "next_batch", "s1", T0)
        await tx.transport_state.put("matrix", "next_batch", "s2", T0)
    async with store.transaction() as tx:
        assert await tx.transport_state.get("matrix", "next_batch") == "s2"
        await tx.transport_state.delete("matrix", "next_batch")
        assert await tx.transport_state.get("matrix", "next_batch") is None


async def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    from storage.db import open_store

    store = open_store(sqlite_url)
    try:
        async with store.engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
            timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert mode == "wal"
        assert timeout >= 5000
    finally:
        await store.close()


async def test_latest_of_many_incidents_in_one_query(store: Store) -> None:
    async with store.transaction() as tx:
        ids = []
        for n in range(3):
            incident = await tx.incidents.open(title=f"i{n}", severity=3, opened_by="a", at=T0)
            ids.append(incident.id)
            await tx.timeline.append(incident.id, "state", ALICE, T0, text=f"public {n}")
            await tx.timeline.append(incident.id, "note", ALICE, T0, text=f"private {n}",
                                     public=False)
    async with store.reading() as tx:
        latest = await tx.timeline.latest_of(ids[:2])
        assert {k: v.text for k, v in latest.items()} == {ids[0]: "public 0",
                                                          ids[1]: "public 1"}
        everything = await tx.timeline.latest_of(ids, public_only=False)
        assert everything[ids[2]].text == "private 2"
        assert await tx.timeline.latest_of([]) == {}


async def test_open_incidents_with_their_newest_public_entry(store: Store) -> None:
    async with store.transaction() as tx:
        incidents = [await tx.incidents.open(title=f"i{n}", severity=3, opened_by="a", at=T0)
                     for n in range(3)]
        ids = [incident.id for incident in incidents]
        for n in (0, 1):
            await tx.timeline.append(ids[n], "note", ALICE, T0, text=f"old {n}")
            await tx.timeline.append(ids[n], "state", ALICE, T0, text=f"public {n}")
            await tx.timeline.append(ids[n], "chat", ALICE, T0, text=f"chat {n}",
                                     public=False)
        await tx.timeline.append(ids[2], "chat", ALICE, T0, text="only chat", public=False)
        incidents[1].state = "resolved"
    async with store.reading() as tx:
        found = await tx.incidents.list_open_with_latest()
    newest = {incident.id: incident.latest.text if incident.latest is not None else None
              for incident in found}
    assert newest == {ids[0]: "public 0", ids[2]: None}
    assert [incident.id for incident in found] == [ids[0], ids[2]]


async def test_add_many_keeps_order_and_skips_known_keys(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.outbox.add("notice", "lane", {"n": 0}, "k0", T0)
        await tx.outbox.add_many([("notice", "lane", {"n": 0}, "k0"),
                                  ("set_topic", "lane", {"n": 1}, "k1"),
                                  ("notice", "lane", {"n": 2}, "k2")], T0)
    async with store.reading() as tx:
        assert [e.payload["n"] for e in await tx.outbox.pending()] == [0, 1, 2]


async def test_resolved_newest_first_and_entries_of_many(store: Store) -> None:
    async with store.transaction() as tx:
        ids = []
        for n in range(3):
            incident = await tx.incidents.open(title=f"i{n}", severity=3, opened_by="a", at=T0)
            await tx.timeline.append(incident.id, "opened", ALICE, T0, text=f"open {n}")
            tx.incidents.set_state(incident, "resolved", T0 + timedelta(minutes=10 - n))
            ids.append(incident.id)
        await tx.timeline.append(ids[1], "note", ALICE, T0, text="later", public=False)
    async with store.reading() as tx:
        assert [i.id for i in await tx.incidents.list_resolved(limit=2)] == [ids[0], ids[1]]
        entries = await tx.timeline.entries_of([ids[1], ids[2]])
        assert [e.text for e in entries[ids[1]]] == ["open 1", "later"]
        assert [e.text for e in entries[ids[2]]] == ["open 2"]


async def test_the_situation_in_one_statement_is_what_its_five_reads_give(
        store: Store) -> None:
    """`#now` reads the open incidents with their newest public entries, their roles, the
    components not operational, the windows in progress and the alert in one UNION ALL:
    each part as the repository read of its own gives it, in the same order."""
    async with store.reading() as tx:
        empty = await tx.situation.read()
    assert (empty.open_incidents, empty.roles, empty.components, empty.maintenance,
            empty.alert) == ([], {}, [], [], None)
    await _fill_situation(store)
    async with store.reading() as tx:
        found = await tx.situation.read()
        open_incidents = await tx.incidents.list_open_with_latest()
        roles = await tx.roles.held_in([i.id for i in open_incidents])
        components = [(c.name, c.status) for c in await tx.components.all()
                      if c.status != "operational"]
        windows = [(w.id, w.incident.title, w.window.ends_at, w.window.timezone)
                   for w in await tx.maintenance.live() if w.window.phase == "in_progress"]
        alert = await tx.alert.in_force()
    assert found.open_incidents == open_incidents
    assert [i.latest.text if i.latest else None for i in found.open_incidents] == [
        "public 0", None, "public 3"]
    assert found.open_incidents[0].latest is not None
    assert found.open_incidents[0].latest.at.tzinfo is not None
    assert found.roles == {i: held for i, held in roles.items() if held}
    assert found.roles == {found.open_incidents[0].id: [("comms", "dan"), ("scribe", "eve")]}
    assert found.components == components == [("Zuul", "partial_outage"),
                                              ("Docs", "major_outage")]
    assert [(w.id, w.title, w.ends_at, w.timezone) for w in found.maintenance] == windows
    assert [w.title for w in found.maintenance] == ["Early window", "Late window"]
    assert found.alert == alert
    assert found.alert is not None and found.alert.text == "Gate is broken"


async def _fill_situation(store: Store) -> None:
    async with store.transaction() as tx:
        ids = [(await tx.incidents.open(title=f"i{n}", severity=n % 4 + 1, opened_by="a",
                                        at=T0 + timedelta(minutes=n))).id for n in range(4)]
        for n in (0, 3):
            await tx.timeline.append(ids[n], "note", ALICE, T0, text=f"old {n}")
            await tx.timeline.append(ids[n], "state", ALICE, T0, text=f"public {n}")
            await tx.timeline.append(ids[n], "chat", ALICE, T0, text="chat", public=False)
        for role, nick in (("scribe", "eve"), ("comms", "dan")):
            await tx.roles.assign(ids[0], role, nick, "a", T0)
        await tx.roles.assign(ids[2], "comms", "zed", "a", T0)
        resolved = await tx.incidents.get(ids[2])
        assert resolved is not None
        tx.incidents.set_state(resolved, "resolved", T0)  # its role is not read
        await tx.components.sync([DeclaredComponent("gerrit", "Gerrit"),
                                  DeclaredComponent("zuul", "Zuul"),
                                  DeclaredComponent("docs", "Docs")], T0)
        for component_id, status in (("docs", "major_outage"), ("zuul", "partial_outage")):
            component = await tx.components.get(component_id)
            assert component is not None
            await tx.components.set_status(component, status, T0, actor="a")
        for title, start, phase in (("Late window", 3, "in_progress"),
                                    ("Early window", 1, "in_progress"),
                                    ("Not yet", 0, "scheduled")):
            window = await tx.maintenance.schedule(
                title=title, starts_at=T0 + timedelta(hours=start),
                ends_at=T0 + timedelta(hours=start + 2), timezone="Europe/Berlin",
                components=[], scheduled_by="a", at=T0)
            window.window.phase = window.incident.state = phase
        post_id = await tx.status_posts.add("alert", "Gate is broken", "alice", T0, ids[1])
        await tx.alert.set("Gate is broken", "alice", T0, ids[1], post_id)


async def test_incidents_with_public_entries_is_get_and_entries_of_in_one(store: Store) -> None:
    async with store.transaction() as tx:
        ids = []
        for n in range(3):
            incident = await tx.incidents.open(title=f"i{n}", severity=3, opened_by="a", at=T0)
            ids.append(incident.id)
        await tx.timeline.append(ids[0], "opened", ALICE, T0, text="open 0")
        await tx.timeline.append(ids[0], "note", ALICE, T0, text="private", public=False)
        await tx.timeline.append(ids[0], "state", ALICE, T0, text="fixed", old="a", new="b")
        await tx.timeline.append(ids[2], "opened", ALICE, T0, text="open 2")
    async with store.reading() as tx:
        found = await tx.timeline.incidents_with_public_entries([ids[1], ids[0], 99_999])
        public = await tx.timeline.entries_of([ids[0], ids[1]], public_only=True)
        assert sorted(found) == [ids[0], ids[1]]  # no row for an id that names none
        for incident_id in (ids[0], ids[1]):
            row, entries = found[incident_id]
            assert row.id == incident_id and row.title == f"i{ids.index(incident_id)}"
            assert [e.id for e in entries] == [e.id for e in public[incident_id]]
        assert [e.text for e in found[ids[0]][1]] == ["open 0", "fixed"]
        assert found[ids[1]][1] == []
