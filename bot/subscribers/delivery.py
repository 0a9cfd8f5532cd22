"""Carrying notices to subscribers through the outbox.

A desk event that concerns subscribers queues one `subscribers.notice` effect in the
command's own transaction (cheap: chat never waits for the fan-out). Delivering it writes one
`subscriber_notices` row per subscriber it reaches, grouped into batches, and one
`subscribers.email` effect per batch plus one `subscribers.webhook` effect per webhook. A
batch goes out over one SMTP connection at the configured pace; each mail is marked sent as
it leaves, so a batch retried after a failure or a restart sends only what is left: each
subscriber gets each notice once (a mail interrupted between the server's acceptance and our
record of it is the one exception: it goes again with the same Message-ID).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import aiohttp

from bot.config.models import SubscribersConfig, SubscriberWebhook
from bot.core.ports import DeliveryRejected, DeliveryUnavailable
from bot.delivery.signing import signed_headers
from bot.subscribers import mail
from bot.subscribers.notices import Notice, reaches
from bot.subscribers.smtp import Connection, MailSender
from bot.subscribers.tokens import CONFIRM, UNSUBSCRIBE, token
from storage.models import utcnow
from storage.unit_of_work import Store, Transaction

log = logging.getLogger("statusdesk.subscribers")

NOTICE = "subscribers.notice"
EMAIL = "subscribers.email"
WEBHOOK = "subscribers.webhook"
CONFIRMATION = "subscribers.confirm"

NOTICE_LANE = "subscribers/notices"
EMAIL_LANE = "subscribers/email"
"""One lane: batches go out one after another, so one SMTP connection at a time."""
CONFIRM_LANE = "subscribers/confirm"
"""Its own lane: a confirmation does not wait for a burst of notices to finish."""

MAX_BATCH = 100
STOP_GRACE = 10.0
"""At shutdown, how long the mail being sent may take to be accepted and recorded."""
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=10)
VERSION = 1


def batch_size(per_minute: int) -> int:
    """About a minute's worth of mail at most, and never more than `MAX_BATCH`: a batch
    holds one SMTP connection open for its whole length."""
    return max(1, min(per_minute, MAX_BATCH))


def webhook_lane(index: int) -> str:
    return f"subscribers/webhook/{index}"


def _url_tag(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def duration_words(length: timedelta) -> str:
    hours = length.total_seconds() / 3600
    if hours >= 1 and hours == int(hours):
        return f"{int(hours)} hours" if hours != 1 else "1 hour"
    minutes = max(1, round(length.total_seconds() / 60))
    return f"{minutes} minutes"


class _Progress:
    """The mail of a batch that the server accepted and that is not yet recorded as sent."""

    unrecorded: int | None = None


class SubscriberDeliverer:
    """The outbox's deliverer for every `subscribers.*` kind."""

    kinds = frozenset({NOTICE, EMAIL, WEBHOOK, CONFIRMATION})
    repeatable = frozenset({NOTICE, EMAIL, WEBHOOK, CONFIRMATION})
    """All safe to repeat: the fan-out and batches record each mail as it leaves, webhook
    receivers deduplicate on `X-Statusdesk-Delivery`, mails repeat their Message-ID."""

    def __init__(
        self,
        config: SubscribersConfig,
        store: Store,
        site: mail.Site,
        key: Callable[[], bytes],
        *,
        http: Callable[[], aiohttp.ClientSession],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._config = config
        self._store = store
        self._site = site
        self._key = key
        self._http = http
        self._clock = clock
        self.sender = MailSender(config.email) if config.email is not None else None
        self._batch = batch_size(config.email.per_minute) if config.email else MAX_BATCH
        self._webhooks = {w.url: w for w in config.webhooks}
        self.on_queued: Callable[[], None] = lambda: None
        self.mails_sent = 0

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        match kind:
            case "subscribers.notice":
                await self._fan_out(Notice.from_payload(payload))
            case "subscribers.email":
                await self._send_batch(Notice.from_payload(payload["notice"]),
                                       int(payload["batch"]))
            case "subscribers.webhook":
                await self._post(Notice.from_payload(payload["notice"]), payload["url"])
            case "subscribers.confirm":
                await self._confirm(int(payload["subscriber_id"]))

    # --- fan-out ---------------------------------------------------------------------------

    async def _fan_out(self, notice: Notice) -> None:
        now = self._clock()
        async with self._store.transaction() as tx:
            notice = await self._complete(tx, notice)
            effects: list[tuple[str, str, dict[str, Any], str]] = []
            if self.sender is not None:
                chosen = [sid for sid, components in await tx.subscribers.confirmed()
                          if reaches(notice.components, components)]
                batches = [(sid, index // self._batch) for index, sid in enumerate(chosen)]
                # Rows that exist already (a fan-out repeated after a crash) are kept, and
                # so are their batches' effects (same keys).
                await tx.subscribers.queue(notice.key, batches, now)
                for number in range((len(chosen) + self._batch - 1) // self._batch):
                    effects.append((EMAIL, EMAIL_LANE,
                                    {"notice": notice.payload(), "batch": number},
                                    f"subscribers:{notice.key}:email:{number}"))
                log.info("notice %s for %d subscriber(s) in %d batch(es)", notice.kind,
                         len(chosen), len(effects))
            for index, hook in enumerate(self._config.webhooks):
                if reaches(notice.components, hook.components):
                    effects.append((WEBHOOK, webhook_lane(index),
                                    {"notice": notice.payload(), "url": hook.url},
                                    f"subscribers:{notice.key}:webhook:{_url_tag(hook.url)}"))
            await tx.outbox.add_many(effects, now)
        if effects:
            self.on_queued()

    async def _complete(self, tx: Transaction, notice: Notice) -> Notice:
        """What an incident's notice did not carry: its title."""
        if notice.incident_id is None or notice.title is not None:
            return notice
        incident = await tx.incidents.get(notice.incident_id)
        if incident is None:
            return notice
        return dataclasses.replace(notice, title=incident.title)

    # --- e-mail ----------------------------------------------------------------------------

    def _unsubscribe_url(self, nonce: str) -> str:
        return (f"{self._site.url}/subscriptions/unsubscribe?token="
                f"{token(self._key(), UNSUBSCRIBE, nonce)}")

    async def _send_batch(self, notice: Notice, number: int) -> None:
        sender = self.sender
        if sender is None:
            raise DeliveryRejected("subscribers.email is no longer configured")
        async with self._store.reading() as tx:
            waiting = await tx.subscribers.unsent(notice.key, number)
        if not waiting:
            return
        progress = _Progress()
        try:
            async with sender.connection() as smtp:
                for row, subscriber in waiting:
                    message = mail.notice_mail(self._site, subscriber.address, notice,
                                               self._unsubscribe_url(subscriber.nonce),
                                               mail.message_id(notice.key, subscriber.id))
                    await smtp.pace()
                    one = asyncio.ensure_future(self._send_one(smtp, row.id, message,
                                                               progress))
                    try:
                        await asyncio.shield(one)
                    except asyncio.CancelledError:
                        # Stopping: the mail under way is finished first (and recorded
                        # below), so after the restart it is neither repeated nor missing.
                        await asyncio.wait({one}, timeout=STOP_GRACE)
                        raise
        finally:
            if progress.unrecorded is not None:
                async with self._store.transaction() as tx:
                    await tx.subscribers.mark_sent(progress.unrecorded, self._clock())
        log.info("notice %s: batch %d sent (%d mail(s))", notice.kind, number, len(waiting))

    async def _send_one(self, smtp: Connection, row_id: int, message: Message,
                        progress: _Progress) -> None:
        """One transaction a mail: it records the previous mail as sent and this one as
        leaving. A crash can only leave the one mail in between unrecorded (it goes again,
        with its Message-ID)."""
        async with self._store.transaction() as tx:
            if progress.unrecorded is not None:
                await tx.subscribers.mark_sent(progress.unrecorded, self._clock())
            await tx.subscribers.mark_sending(row_id, self._clock())
        progress.unrecorded = None
        await smtp.transmit(message)
        progress.unrecorded = row_id
        self.mails_sent += 1

    async def _confirm(self, subscriber_id: int) -> None:
        sender = self.sender
        if sender is None:
            raise DeliveryRejected("subscribers.email is no longer configured")
        async with self._store.reading() as tx:
            subscriber = await tx.subscribers.get(subscriber_id)
        if subscriber is None or subscriber.confirmed_at is not None:
            return  # expired, unsubscribed or confirmed meanwhile: nothing to ask
        key = self._key()
        confirm_url = (f"{self._site.url}/subscriptions/confirm?token="
                       f"{token(key, CONFIRM, subscriber.nonce)}")
        message = mail.confirmation(
            self._site, subscriber.address, confirm_url,
            self._unsubscribe_url(subscriber.nonce),
            mail.message_id(f"confirm:{subscriber.nonce}", subscriber.id),
            duration_words(self._config.confirm_within))
        async with sender.connection() as smtp:
            await smtp.send(message)
        self.mails_sent += 1
        log.info("confirmation mail sent to subscriber %d", subscriber.id)

    # --- webhooks --------------------------------------------------------------------------

    @staticmethod
    def document(notice: Notice, url: str, page_url: str) -> dict[str, Any]:
        incident = None
        if notice.incident_id is not None:
            incident = {"id": str(notice.incident_id), "title": notice.title,
                        "url": f"{page_url}/incidents/{notice.incident_id}"}
        return {"version": VERSION, "event": notice.kind,
                "delivery": f"{notice.key}:{_url_tag(url)}", "at": notice.at.isoformat(),
                "incident": incident, "status": notice.status, "text": notice.text,
                "components": list(notice.components), "page": page_url}

    async def _post(self, notice: Notice, url: str) -> None:
        hook: SubscriberWebhook | None = self._webhooks.get(url)
        if hook is None:
            raise DeliveryRejected("this webhook is no longer in subscribers.webhooks")
        document = self.document(notice, url, self._site.url)
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        secret = hook.secret.get_secret_value() if hook.secret is not None else None
        headers = {"Content-Type": "application/json", "User-Agent": "statusdesk",
                   "X-Statusdesk-Event": notice.kind,
                   "X-Statusdesk-Delivery": document["delivery"],
                   **signed_headers(secret, str(int(time.time())), body)}
        try:
            async with self._http().post(url, data=body, headers=headers,
                                         timeout=HTTP_TIMEOUT) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryUnavailable(
                f"subscriber webhook unreachable: {type(error).__name__}") from None
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            raise DeliveryUnavailable(f"subscriber webhook answered {status}")
        raise DeliveryRejected(f"subscriber webhook answered {status}")
