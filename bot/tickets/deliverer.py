"""The outbox's deliverer for `ticket.file`: files one action item, exactly once.

Exactly once across crashes: the effect is retried after a crash rather than given up
(`repeats_safely`), and every attempt first asks the tracker for an issue carrying the
item's marker (`filing.file_once`), so an issue made by an attempt that died before it could
record it is found, not made again. The ticket is recorded on the item as soon as it is
known, with a timeline entry and a notice in the incident's channel.

Failures never block chat: this runs in the outbox worker. Tracker trouble is retried with
the outbox's backoff (a rate limit's own delay honoured); a refusal for good (no such
project, a field the tracker will not take) is reported in the channel and the timeline,
and the effect is given up.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import aiohttp

from bot.core.effects import to_own_channel, to_row
from bot.core.ports import Channel, DeliveryRejected, DeliveryUnavailable
from bot.playbooks.trackers.filing import FiledTicket, FilingRefused, file_once
from bot.playbooks.trackers.registry import TrackerSet
from bot.playbooks.trackers.tracker import TrackerUnavailable
from bot.tickets.filing_request import KIND, FilingRequest
from commands.text import clean_text
from storage.models import utcnow
from storage.timeline import Where
from storage.unit_of_work import Store, Transaction

log = logging.getLogger("statusdesk.tickets")

FILER_IDENTITY = "statusdesk tickets"

REQUEST_TIMEOUT = 30.0
"""Seconds one filing (search, then create) may take before it is retried later."""


class TicketDeliverer:
    kinds = frozenset({KIND})

    def __init__(self, trackers: TrackerSet, store: Store,
                 channels: Callable[[], Sequence[Channel]], *, bot_nick: str,
                 clock: Callable[[], datetime] = utcnow,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        self._trackers = trackers
        self._store = store
        self._channels = channels
        self._bot_nick = bot_nick
        self._clock = clock
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.filed = 0
        """Tickets recorded by this process (tests, metrics)."""
        self.on_queued: Callable[[], None] = lambda: None
        """Called after a notice was queued (wakes the outbox)."""

    def repeats_safely(self, kind: str, payload: dict[str, Any]) -> bool:
        return kind == KIND  # the marker search makes a second attempt find the first

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        await self.deliver_keyed(kind, payload, "")

    async def deliver_keyed(self, kind: str, payload: dict[str, Any], key: str) -> None:
        request = FilingRequest.from_payload(payload)
        if await self._already_filed(request):
            return
        filer = self._trackers.filer(request.tracker)
        if filer is None:
            raise DeliveryRejected(f"no {request.tracker} tracker configured")
        try:
            async with asyncio.timeout(self._timeout):
                ticket = await file_once(filer, self._http(), request.project, request.title,
                                         request.body, request.marker)
        except FilingRefused as error:
            await self._report_refusal(request, str(error), key)
            raise DeliveryRejected(str(error)) from None
        except TrackerUnavailable as error:
            raise DeliveryUnavailable(f"{request.tracker}: {error.reason}",
                                      retry_after=error.retry_after) from None
        except TimeoutError:
            raise DeliveryUnavailable(f"{request.tracker}: no answer in "
                                      f"{self._timeout:.0f}s") from None
        await self._record(request, ticket)

    async def _already_filed(self, request: FilingRequest) -> bool:
        async with self._store.reading() as tx:
            item = await tx.actions.get(request.action_id)
        return item is None or bool(item.ticket_url)

    async def _record(self, request: FilingRequest, ticket: FiledTicket) -> None:
        now = self._clock()
        name = f"A{request.action_id}"
        async with self._store.transaction() as tx:
            item = await tx.actions.get(request.action_id, for_update=True)
            if item is None or item.ticket_url:
                return
            item.ticket_url = ticket.url
            item.ticket_state = ticket.state
            item.ticket_checked_at = now
            where = Where(actor=self._bot_nick, identity=FILER_IDENTITY)
            await tx.timeline.append(request.incident_id, "action.ticket", where, now,
                                     text=f"{name}: {ticket.url}", new=ticket.url,
                                     public=False)
            await self._announce(tx, request, f"Action {name} filed: {ticket.url}", now)
        self.filed += 1
        log.info("action %s of incident #%d filed in %s:%s as %s", name,
                 request.incident_id, request.tracker, request.project, ticket.id)
        self.on_queued()

    async def _report_refusal(self, request: FilingRequest, reason: str, key: str) -> None:
        now = self._clock()
        name = f"A{request.action_id}"
        reason = clean_text(reason)[:300]
        async with self._store.transaction() as tx:
            where = Where(actor=self._bot_nick, identity=FILER_IDENTITY)
            await tx.timeline.append(request.incident_id, "action.ticket.failed", where, now,
                                     text=f"{name}: {reason}", public=False)
            await self._announce(
                tx, request, f"Could not file action {name} in {request.tracker}:"
                f"{request.project}: {reason}", now,
                key=f"ticket.refused:{request.marker}:{_short(key)}")
        log.warning("filing action %s in %s:%s refused: %s", name, request.tracker,
                    request.project, reason)
        self.on_queued()

    async def _announce(self, tx: Transaction, request: FilingRequest, text: str,
                        now: datetime, *, key: str | None = None) -> None:
        first = (await tx.timeline.first_of([request.incident_id])).get(request.incident_id)
        own = None
        if first is not None and first.transport and first.network and first.channel:
            own = Channel(first.transport, first.network, first.channel)
        for queued in to_own_channel(key or f"ticket.filed:{request.marker}", text, own,
                                     list(self._channels())):
            await tx.outbox.add(*to_row(queued), now)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._timeout, connect=self._timeout / 3)
            self._session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _short(key: str) -> str:
    """A delivery key made short enough to sit inside another idempotency key."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]
