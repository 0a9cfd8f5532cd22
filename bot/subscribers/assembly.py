"""Subscribers put together from the configuration: the desk extension, the outbox deliverer,
the web routes and the sweep that forgets unconfirmed addresses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import aiohttp
from aiohttp import web

from bot.config.models import SubscribersConfig
from bot.delivery.outbox import MAX_AGE
from bot.subscribers.delivery import SubscriberDeliverer
from bot.subscribers.extension import SubscribersExtension
from bot.subscribers.mail import Site
from bot.subscribers.tokens import new_key
from bot.subscribers.web import Subscriptions
from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.subscribers")

KEY_SCOPE = "subscribers"
KEY_NAME = "token_key"
SWEEP_SECONDS = 600.0


class Subscribers:
    """Everything subscribers need at run time; `start()` returns None when nobody can
    subscribe (no `subscribers.email`, no webhooks)."""

    def __init__(
        self,
        config: SubscribersConfig,
        store: Store,
        *,
        title: str,
        page_url: str,
        components: Sequence[tuple[str, str]] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self._store = store
        self._clock = clock
        self._key: bytes | None = None
        self._http: aiohttp.ClientSession | None = None
        sender = config.email.from_ if config.email is not None else "statusdesk@localhost"
        site = Site(title=title, url=page_url.rstrip("/"), sender=sender,
                    component_names=dict(components))
        self.extension = SubscribersExtension(store, clock=clock)
        self.deliverer = SubscriberDeliverer(config, store, site, self.key, http=self.http,
                                             clock=clock)
        self.pages = Subscriptions(config, store, title=title, key=self.key,
                                   components=components, clock=clock)
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        config: SubscribersConfig,
        store: Store,
        *,
        title: str,
        page_url: str,
        components: Sequence[tuple[str, str]] = (),
    ) -> Subscribers | None:
        if config.email is None and not config.webhooks:
            return None
        subscribers = cls(config, store, title=title, page_url=page_url,
                          components=components)
        await subscribers.load_key()
        subscribers._sweeper = asyncio.create_task(subscribers._sweep_forever(),
                                                   name="subscribers-sweep")
        return subscribers

    def key(self) -> bytes:
        assert self._key is not None, "load_key() first"
        return self._key

    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def load_key(self) -> None:
        """The key links' tokens are derived with: made once, kept in the database, so every
        instance (and every restart) builds the same links."""
        try:
            async with self._store.transaction() as tx:
                value = await tx.transport_state.get(KEY_SCOPE, KEY_NAME)
                if value is None:
                    value = new_key()
                    await tx.transport_state.put(KEY_SCOPE, KEY_NAME, value, self._clock())
        except Exception:
            # Another instance made it at the same moment: theirs is the one.
            async with self._store.reading() as tx:
                found = await tx.transport_state.get(KEY_SCOPE, KEY_NAME)
            if found is None:
                raise
            value = found
        self._key = bytes.fromhex(value)

    def connect(self, wake_outbox: Callable[[], None]) -> None:
        self.deliverer.on_queued = wake_outbox
        self.pages.on_queued = wake_outbox
        self.extension.on_queued = wake_outbox

    def routes(self) -> list[web.RouteDef]:
        return self.pages.routes()

    async def sweep(self) -> int:
        """Forget the addresses not confirmed within `confirm_within`, and the record of
        notices too old for the outbox to retry (they only kept them from going twice)."""
        now = self._clock()
        async with self._store.transaction() as tx:
            await tx.subscribers.forget_notices(now - 2 * MAX_AGE)
            return await tx.subscribers.forget_unconfirmed(now - self.config.confirm_within)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                forgotten = await self.sweep()
                if forgotten:
                    log.info("forgot %d unconfirmed subscription(s)", forgotten)
            except Exception as error:  # the database is away: next time
                log.warning("could not forget unconfirmed subscriptions: %s",
                            type(error).__name__)
            await asyncio.sleep(SWEEP_SECONDS)

    async def close(self) -> None:
        await self.extension.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._http is not None:
            await self._http.close()
