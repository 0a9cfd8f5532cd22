"""Delivering the outbox: every queued effect goes out at least once, in order per lane.

Effects were committed with the change that caused them, so a crash or a network outage only
delays them. Each lane (one channel, say) delivers one effect at a time in queue order; lanes
proceed independently, so one dead network never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.core.backoff import jittered_backoff
from bot.core.ports import BeforeWrite, DeliveryRejected, DeliveryUnavailable
from storage.db import is_transient
from storage.leases import FENCING_TERM, LeaseLost
from storage.models import OutboxEffect, utcnow
from storage.unit_of_work import Store
from storage.write_refusals import write_refusal

log = logging.getLogger("statusdesk.outbox")

MAX_AGE = timedelta(hours=24)
"""An effect still undelivered after this long is given up: a day-old announcement is noise."""

CLAIM_LEASE = timedelta(minutes=5)
"""How long a claimed effect stays reserved for the worker that claimed it. Only the leader
delivers, and a new leader frees a dead one's claims at once, so this only matters if
something slips past the election."""

MAX_BACKOFF = 300.0
IDLE_POLL = 30.0


class NotOurs(Exception):
    """The effect may not go out from here: this instance's claim on it was taken over, or
    its term no longer holds the leader lease. Nothing is recorded: it is another's now."""


class EffectDeliverer(Protocol):
    """Carries out one kind of effect (a channel notice, a topic change, a page...)."""

    kinds: frozenset[str]

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        """Raise DeliveryUnavailable to retry later, DeliveryRejected to give up."""
        ...


REPEATABLE_ATTRIBUTE = "repeatable"
"""A deliverer may list, in an attribute of this name, the kinds that are safe to deliver
twice (setting a topic, a page the provider deduplicates). Other kinds are marked as being
sent before they start, so a crash half-way is never followed by a second copy."""


@runtime_checkable
class KeyedDeliverer(Protocol):
    """A deliverer that can make a second delivery of some effects harmless when it is given
    a key that stays the same across attempts (a Matrix notice: the key becomes the
    transaction id, which the homeserver deduplicates by). Those effects are retried after a
    crash instead of given up, so they go out exactly once."""

    def repeats_safely(self, kind: str, payload: dict[str, Any]) -> bool: ...

    async def deliver_keyed(self, kind: str, payload: dict[str, Any], key: str) -> None: ...


@runtime_checkable
class StagedDeliverer(Protocol):
    """A deliverer that says when an effect actually leaves (`before_write`), so it is marked
    as being sent only then, not while it waits in a queue: a crash before that moment
    leaves it to be delivered after the restart."""

    def stages(self, kind: str, payload: dict[str, Any]) -> bool: ...

    async def deliver_staged(self, kind: str, payload: dict[str, Any],
                             before_write: BeforeWrite) -> None: ...


def delivery_key(effect: OutboxEffect) -> str:
    """The same for every attempt at one effect, and different for an effect of another
    database that happens to share its idempotency key and id (a fresh database re-using a
    Matrix device would otherwise have its new notices taken for old ones)."""
    return f"{effect.idempotency_key}|{effect.id}|{effect.created_at.isoformat()}"




class OutboxWorker:
    def __init__(
        self,
        store: Store,
        deliverers: Sequence[EffectDeliverer],
        *,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = 16,
        owner: str = "statusdesk",
        may_send: Callable[[], bool] = lambda: True,
    ) -> None:
        self._store = store
        self._owner = owner
        self._may_send = may_send
        """False once this instance's lease ran out by its own clock: checked right before
        every effect leaves, so a leader that was stopped or stuck and resumes sends nothing
        even before the database has told it so."""
        self._by_kind = {kind: d for d in deliverers for kind in d.kinds}
        self._repeatable = frozenset().union(
            *(getattr(d, REPEATABLE_ATTRIBUTE, frozenset()) for d in deliverers))
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False
        self._retry_lanes: set[str] = set()
        self._refused: set[int] = set()
        """Effects the fence stopped before they left (see `_mark_sending`)."""
        self._in_flight: dict[asyncio.Task[int], str] = {}
        """Deliveries `run()` started and that have not settled, with their lanes."""
        self.delivered = 0
        self.failed = 0
        self.goes_first: Callable[[], Awaitable[None]] | None = None
        """Awaited before each pass: what must go out before chat deliveries (the status
        page's announcement of the change that queued them; bot/app.py sets it)."""

    def wake(self) -> None:
        self._wake.set()

    def retry_now(self, lane_prefix: str) -> None:
        """A network came back: whatever waits in lanes starting with `lane_prefix` (say
        `irc/oftc/`) is tried at once instead of at the end of its backoff."""
        self._retry_lanes.add(lane_prefix)
        self._wake.set()

    async def run(self) -> None:
        """Deliver until `stop()`; sleeps until woken, a delivery settles or the next retry
        is due. Deliveries run on their own: a provider that hangs holds up its own lane
        only, never a broadcast queued after it."""
        try:
            while not self._stopping:
                self._wake.clear()
                if self.goes_first is not None:
                    await self.goes_first()
                try:
                    await self._make_retries_due()
                    started = await self._start_due()
                except LeaseLost as error:
                    # The app stops this worker as it steps down; until then, claim nothing.
                    log.warning("outbox pass refused: %s", error)
                    started = 0
                    await asyncio.sleep(1.0)
                except Exception as error:
                    if write_refusal(error) is not None:
                        # Disk full or read-only: the store logs the episode, once; the
                        # effects wait in the outbox, unharmed, until it takes writes.
                        pass
                    elif is_transient(error):  # the database is away for a moment
                        log.warning("outbox pass failed (database unavailable: %s); retrying",
                                    type(error).__name__)
                    else:
                        log.exception("outbox pass failed; retrying")
                    started = 0
                    await asyncio.sleep(1.0)
                if started or self._stopping:
                    continue
                timeout = await self._seconds_until_next()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            running = list(self._in_flight)
            if running:
                try:
                    await asyncio.wait(running)
                finally:  # cancelled while waiting: the deliveries go with us
                    for task in running:
                        task.cancel()
                    await asyncio.gather(*running, return_exceptions=True)

    async def _start_due(self) -> int:
        """Start delivering the head of every lane that is due and not being delivered."""
        async with self._store.transaction() as tx:
            effects = await tx.outbox.claim_due(self._clock(), self._owner, CLAIM_LEASE,
                                                busy_lanes=set(self._in_flight.values()))
        for effect in effects:
            task = asyncio.create_task(self._deliver_one(effect), name=f"deliver {effect.lane}")
            self._in_flight[task] = effect.lane
            task.add_done_callback(self._settled)
        return len(effects)

    def _settled(self, task: asyncio.Task[int]) -> None:
        self._in_flight.pop(task, None)
        self._wake.set()
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        # Recording the outcome failed (the database went away): the claim is ours still,
        # so the next pass takes the effect up again.
        if write_refusal(error) is not None:
            return  # counted in the store's episode of refused writes, logged there once
        if is_transient(error):
            log.warning("%s: could not record the outcome (database unavailable: %s)",
                        task.get_name(), type(error).__name__)
        else:
            log.error("%s: could not record the outcome", task.get_name(), exc_info=error)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def resume(self) -> None:
        """Let `run()` be called again (the next time this instance leads)."""
        self._stopping = False

    async def drain(self, deadline: float) -> int:
        """Deliver what is due now, lane after lane, for at most `deadline` seconds."""
        total = 0
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while loop.time() < end:
            try:
                done = await asyncio.wait_for(self.deliver_due(), max(0.0, end - loop.time()))
            except TimeoutError:
                break
            total += done
            if not done:
                break
        return total

    async def _make_retries_due(self) -> None:
        if not self._retry_lanes:
            return
        prefixes, self._retry_lanes = self._retry_lanes, set()
        async with self._store.transaction() as tx:
            for prefix in prefixes:
                await tx.outbox.retry_now(prefix, self._clock())

    async def deliver_due(self) -> int:
        """One pass: the head of every lane that is due. Returns how many were settled."""
        async with self._store.transaction() as tx:
            effects = await tx.outbox.claim_due(self._clock(), self._owner, CLAIM_LEASE,
                                                busy_lanes=set(self._in_flight.values()))
        if not effects:
            return 0
        results = await asyncio.gather(*(self._deliver_one(e) for e in effects))
        return sum(results)

    async def _seconds_until_next(self) -> float:
        async with self._store.reading() as tx:
            next_at = await tx.outbox.next_attempt_at(busy_lanes=set(self._in_flight.values()))
        if next_at is None:
            return IDLE_POLL
        return max(0.05, min(IDLE_POLL, (next_at - self._clock()).total_seconds()))

    async def _deliver_one(self, effect: OutboxEffect) -> int:
        now = self._clock()
        deliverer = self._by_kind.get(effect.kind)
        try:
            if not self._may_send():
                raise NotOurs("the leader lease ran out")
            if deliverer is None:
                raise DeliveryRejected(f"no deliverer for effect kind {effect.kind!r}")
            if now - effect.created_at > MAX_AGE:
                raise DeliveryRejected(f"expired: undelivered for more than {MAX_AGE}")
            async with self._slots:
                if (isinstance(deliverer, KeyedDeliverer)
                        and deliverer.repeats_safely(effect.kind, effect.payload)):
                    await self._fence()
                    await deliverer.deliver_keyed(effect.kind, effect.payload,
                                                  delivery_key(effect))
                elif effect.kind in self._repeatable:
                    await self._fence()
                    await deliverer.deliver(effect.kind, effect.payload)
                elif (isinstance(deliverer, StagedDeliverer)
                        and deliverer.stages(effect.kind, effect.payload)):
                    await deliverer.deliver_staged(effect.kind, effect.payload,
                                                   functools.partial(self._mark_sending, effect))
                else:
                    await self._mark_sending(effect)
                    await deliverer.deliver(effect.kind, effect.payload)
        except NotOurs as error:
            log.warning("not delivering %s %s (%s): %s", effect.kind, effect.lane,
                        effect.idempotency_key, error)
            return 0
        except DeliveryRejected as error:
            await self._settle(effect, failed=str(error))
            self.failed += 1
            log.error("gave up on %s %s (%s): %s", effect.kind, effect.lane,
                      effect.idempotency_key, error)
            return 1
        except Exception as error:
            if effect.id in self._refused or not self._may_send():
                # Refused by the fence before it left: the new leader delivers it.
                self._refused.discard(effect.id)
                log.warning("not delivering %s %s (%s): this instance no longer leads",
                            effect.kind, effect.lane, effect.idempotency_key)
                return 0
            delay = jittered_backoff(effect.attempts + 1, cap=MAX_BACKOFF)
            if isinstance(error, DeliveryUnavailable) and error.retry_after is not None:
                delay = max(0.0, error.retry_after)
            reason = str(error) or type(error).__name__
            async with self._store.transaction() as tx:
                await tx.outbox.mark_retry(effect.id, reason, now + timedelta(seconds=delay),
                                           owner=self._owner)
            level = logging.INFO if isinstance(error, DeliveryUnavailable) else logging.WARNING
            log.log(level, "delivery of %s to %s failed (attempt %d), retry in %.0fs: %s",
                    effect.kind, effect.lane, effect.attempts + 1, delay, reason)
            return 0
        await self._settle(effect)
        self.delivered += 1
        return 1

    async def _mark_sending(self, effect: OutboxEffect) -> None:
        """From now on a crash may have let it out: not to be repeated after a restart.
        Also the fence right before a write that cannot be taken back: only while the claim
        is still ours and our term holds the lease (the transaction checks it), and our own
        clock says the lease has not run out."""
        try:
            if not self._may_send():
                raise NotOurs("the leader lease ran out")
            async with self._store.transaction() as tx:
                if not await tx.outbox.mark_sending(effect.id, self._clock(),
                                                    owner=self._owner):
                    raise NotOurs("another instance took the effect over")
        except (NotOurs, LeaseLost):
            self._refused.add(effect.id)
            raise

    async def _fence(self) -> None:
        """For effects sent without being marked first: an empty transaction, which commits
        only while our term holds the lease."""
        if FENCING_TERM.get() is None:
            return  # not fenced (SQLite, or not the leader's work): no round trip
        try:
            async with self._store.transaction():
                pass
        except LeaseLost as error:
            raise NotOurs(str(error)) from error

    async def _settle(self, effect: OutboxEffect, failed: str | None = None) -> None:
        async with self._store.transaction() as tx:
            if failed is None:
                kept = await tx.outbox.mark_delivered(effect.id, self._clock(),
                                                      owner=self._owner)
            else:
                kept = await tx.outbox.mark_failed(effect.id, failed, self._clock(),
                                                   owner=self._owner)
        if not kept:
            log.warning("%s %s (%s) was taken over by another instance while this one "
                        "delivered it", effect.kind, effect.lane, effect.idempotency_key)

    async def take_over(self) -> int:
        """On becoming leader: free what a previous leader had claimed (it is gone: the
        election says so), so it is delivered now rather than when its lease runs out."""
        async with self._store.transaction() as tx:
            freed, interrupted = await tx.outbox.release_claims(except_owner=self._owner,
                                                                now=self._clock())
        if interrupted:
            self.failed += interrupted
            log.error("%d effect(s) were being sent when the previous instance died; not "
                      "repeating them (they may have gone out)", interrupted)
        if freed:
            log.info("took over %d effect(s) claimed by a previous instance", freed)
            self.wake()
        return freed
