"""The core, assembled: the desk, its event bus, and the outbox worker that delivers what
the desk queues (channel notices, topics, and whatever extra deliverers carry, e.g. pages).

`App` builds it this way, and so do the tests' rigs, so what they test is what runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.extension import DeskExtension
from bot.delivery.broadcaster import Broadcaster
from bot.delivery.outbox import EffectDeliverer, OutboxWorker
from bot.delivery.topic_keeper import TopicKeeper
from bot.transports.registry import Transports
from commands.auth import Whitelist
from commands.rate_limit import CommandRateLimit
from storage.models import utcnow
from storage.unit_of_work import Store

OUTBOX_CONCURRENCY = 64
"""Effects delivered at once. An alert queues a notice per channel; a transport can join
only the notices waiting together into one multi-target line (InspIRCd: 20 channels a
NOTICE), so all of a broadcast's lanes must be in flight at once, not 16 at a time."""


@dataclass(frozen=True, slots=True)
class Core:
    bus: EventBus
    desk: Desk
    outbox: OutboxWorker
    topics: TopicKeeper
    """Also what transports report topics people set to (`TopicChanged`)."""


def build_core(
    store: Store,
    transports: Transports,
    whitelist: Whitelist,
    *,
    bot_nick: str,
    page_url: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    capture: Collection[str] = (),
    extensions: Sequence[DeskExtension] = (),
    deliverers: Sequence[EffectDeliverer] = (),
    rate_limit: CommandRateLimit | None = None,
    owner: str = "statusdesk",
    may_send: Callable[[], bool] = lambda: True,
    log_api: bool = False,
) -> Core:
    """`deliverers`: beyond notices and topics (the pager's, say)."""
    topics = TopicKeeper(store, transports, bot_nick=bot_nick)
    outbox = OutboxWorker(
        store,
        [Broadcaster(transports), topics, *deliverers],
        clock=clock, owner=owner, may_send=may_send, concurrency=OUTBOX_CONCURRENCY,
    )
    bus = EventBus()
    desk = Desk(store, bus, whitelist, transports.channels, bot_nick=bot_nick,
                page_url=page_url, clock=clock, on_queued=outbox.wake, capture=capture,
                extensions=extensions, rate_limit=rate_limit, log_api=log_api)
    return Core(bus, desk, outbox, topics)
