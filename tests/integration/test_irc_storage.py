"""What the IRC transport needs from storage: a network's waiting effects made due at once
when it is back, and a topic set by a human during an alert replacing the saved one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.delivery.outbox import OutboxWorker
from storage.unit_of_work import Store
from tests.clock import Clock

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_retry_now_makes_one_networks_lanes_due(store: Store) -> None:
    later = T0 + timedelta(minutes=5)
    async with store.transaction() as tx:
        for key, lane in (("a", "irc/oftc/#a"), ("b", "irc/oftc/#b"), ("c", "irc/oftc_x/#c"),
                          ("d", "matrix/m/!r")):
            await tx.outbox.add("notice", lane, {}, key, T0)
        for effect in await tx.outbox.pending():
            await tx.outbox.mark_retry(effect.id, "disconnected", later)
        # `_` is a LIKE wildcard: it must not make irc/oftc_x/ match irc/oftc/.
        assert await tx.outbox.retry_now("irc/oftc/", T0) == 2
        due = await tx.outbox.due(T0)
    assert sorted(e.lane for e in due) == ["irc/oftc/#a", "irc/oftc/#b"]


async def test_the_worker_applies_retry_now_before_its_next_pass(store: Store) -> None:
    clock = Clock(T0)
    delivered: list[str] = []

    class Recorder:
        kinds = frozenset({"notice"})

        async def deliver(self, kind: str, payload: dict[str, str]) -> None:
            delivered.append(payload["n"])

    async with store.transaction() as tx:
        await tx.outbox.add("notice", "irc/net/#a", {"n": "1"}, "k1", T0)
        (effect,) = await tx.outbox.pending()
        await tx.outbox.mark_retry(effect.id, "disconnected", T0 + timedelta(minutes=5))
    worker = OutboxWorker(store, [Recorder()], clock=clock)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.2)
        assert delivered == []  # not due for five minutes
        worker.retry_now("irc/net/")
        for _ in range(100):
            if delivered:
                break
            await asyncio.sleep(0.02)
        assert delivered == ["1"]
    finally:
        worker.stop()
        await asyncio.wait_for(running, 5)


async def test_replace_changes_only_a_saved_topic(store: Store) -> None:
    async with store.transaction() as tx:
        assert not await tx.topics.replace("irc", "oftc", "#a", "human topic", T0)
        assert await tx.topics.get("irc", "oftc", "#a") is None
        await tx.topics.save_if_absent("irc", "oftc", "#a", "original", T0)
        assert await tx.topics.replace("irc", "oftc", "#a", "human topic", T0)
    async with store.reading() as tx:
        saved = await tx.topics.get("irc", "oftc", "#a")
    assert saved is not None and saved.topic == "human topic"
