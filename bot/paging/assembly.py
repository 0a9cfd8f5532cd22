"""Paging put together from the configuration: the desk extension, the outbox deliverer, the
escalation timer and the inbound hooks, sharing one pager and one HTTP session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import aiohttp
from aiohttp import web

from bot.config.models import PagingConfig
from bot.core.ports import Channel
from bot.paging.announce import Announcer
from bot.paging.delivery import PageDeliverer, PagingProvider
from bot.paging.extension import PagingExtension
from bot.paging.hooks import PagerDutyHook
from bot.paging.pager import Pager
from bot.paging.plugin import ProviderContext, build_providers
from bot.paging.scheduler import EscalationScheduler
from bot.transports.registry import Transports
from storage.models import utcnow
from storage.unit_of_work import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def providers_from(
    config: PagingConfig, http: aiohttp.ClientSession, transports: Transports
) -> list[PagingProvider]:
    """One provider per configured `paging.providers` entry, each built by its plug-in
    (entry point group `statusdesk.paging_providers`)."""
    return list(build_providers(config.providers, ProviderContext(http, transports)))


class Paging:
    """Everything paging needs at run time. `enabled` is False without escalation managers."""

    def __init__(
        self,
        config: PagingConfig,
        store: Store,
        channels: Callable[[], Sequence[Channel]],
        providers: Sequence[PagingProvider],
        *,
        bot_nick: str,
        page_url: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        announcer = Announcer(channels)
        base = page_url.rstrip("/") if page_url else None
        self.pager = Pager(
            config, providers, announcer, bot_nick=bot_nick,
            incident_url=lambda n: f"{base}/incidents/{n}" if base else None,
        )
        self.scheduler = EscalationScheduler(store, self.pager, clock=clock)
        self.extension = PagingExtension(self.pager, on_paged=self.scheduler.wake)
        self.deliverer = PageDeliverer(providers, config.escalation_managers, store, announcer,
                                       bot_nick=bot_nick, clock=clock)
        hook = config.hooks.pagerduty
        self.pagerduty_hook = (
            PagerDutyHook(hook.secret.get_secret_value(), store, self.pager, announcer,
                          clock=clock) if hook is not None else None)

        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def start(
        cls,
        config: PagingConfig,
        store: Store,
        transports: Transports,
        *,
        bot_nick: str,
        page_url: str | None = None,
    ) -> Paging | None:
        """Paging for a running app (None: no escalation managers, nothing to page). Call
        from the event loop; `close()` at shutdown."""
        if not config.escalation_managers:
            return None
        http = aiohttp.ClientSession()
        paging = cls(config, store, transports.channels, providers_from(config, http, transports),
                     bot_nick=bot_nick, page_url=page_url)
        paging._http = http
        return paging

    def reconfigure(self, config: PagingConfig) -> None:
        """A reload's rotation and escalation managers (providers and hooks stay)."""
        self.pager.reconfigure(config)
        self.deliverer.replace_managers(config.escalation_managers)
        self.config = config

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def connect(self, wake_outbox: Callable[[], None]) -> None:
        """What paging queues wakes the outbox (and a refused page, the timer)."""
        self.scheduler.on_queued = wake_outbox

        def queued() -> None:
            wake_outbox()
            self.scheduler.wake()

        self.deliverer.on_queued = queued
        if self.pagerduty_hook is not None:
            self.pagerduty_hook.on_queued = wake_outbox

    def web_hooks(self) -> dict[str, Handler]:
        """Inbound routes for the status page's web server (POST)."""
        if self.pagerduty_hook is None:
            return {}
        return {"/hooks/pagerduty": self.pagerduty_hook.handle}
