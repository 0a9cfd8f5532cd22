"""A desk with paging, on SQLite and PostgreSQL, delivering through the real outbox into the
console transport (the channel) and real HTTP clients talking to local fake providers."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.config import PagingConfig
from bot.core.desk import Desk
from bot.core.events import DeskEvent
from bot.core.ports import Identity, Message
from bot.core.transport_state import StoredTransportState
from bot.delivery.outbox import OutboxWorker
from bot.paging.assembly import Paging, providers_from
from bot.paging.delivery import PagingProvider
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from bot.wiring import build_core
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.unit_of_work import Store
from tests import secrets
from tests.clock import Clock
from tests.harness import delivered_lines

WHITELIST = Whitelist([
    Principal("alice", frozenset({Role.STATUS, Role.INCIDENT}), irc_account="alice"),
    Principal("erin", frozenset({Role.ESCALATION, Role.INCIDENT}), irc_account="erin"),
    Principal("root", frozenset({Role.ADMIN}), irc_account="root"),
    Principal("bob", frozenset({Role.INCIDENT}), irc_account="bob"),
])

BOB_KEY = secrets.PAGERDUTY_ROUTING_KEY
CAROL_KEY = "c" * 32


def paging_config(**sections: Any) -> PagingConfig:
    return PagingConfig.model_validate(sections)


@dataclass
class PagingRig:
    desk: Desk
    store: Store
    worker: OutboxWorker
    paging: Paging
    out: io.StringIO
    clock: Clock
    events: list[DeskEvent] = field(default_factory=list)

    async def say(self, text: str, *, nick: str = "alice", account: str | None = None,
                  transport: str = "irc") -> list[str]:
        identity = Identity(transport=transport, nick=nick, network="oftc",
                            account=nick if account is None else account or None)
        message = Message(transport, "oftc", "#infra", nick, identity, text)
        return [r.text for r in await self.desk.handle(message)]

    async def deliver(self) -> list[str]:
        """Run the outbox until nothing is due; what the channel saw."""
        return await delivered_lines(self.worker, self.out)

    async def escalate(self) -> int:
        return await self.paging.scheduler.check()


async def make_rig(
    store: Store, config: PagingConfig,
    providers: Sequence[PagingProvider] | Callable[[Transports], Sequence[PagingProvider]]
    | None = None,
    http: aiohttp.ClientSession | None = None,
) -> PagingRig:
    """`providers`: given, made from the transports (for chat), or from the config."""
    out = io.StringIO()
    console = ConsoleTransport(StoredTransportState(store, "console"), bot_nick="statusdesk",
                               stdin=io.StringIO(""), stdout=out)
    transports = Transports([console])
    clock = Clock()
    if providers is None:
        assert http is not None
        providers = providers_from(config, http, transports)
    elif callable(providers):
        providers = providers(transports)
    paging = Paging(config, store, transports.channels, providers, bot_nick="statusdesk",
                    page_url="https://status.test", clock=clock)
    core = build_core(store, transports, WHITELIST, bot_nick="statusdesk",
                      page_url="https://status.test", clock=clock,
                      extensions=[paging.extension], deliverers=[paging.deliverer])
    rig = PagingRig(core.desk, store, core.outbox, paging, out, clock)
    core.bus.subscribe(rig.events.append)
    return rig
