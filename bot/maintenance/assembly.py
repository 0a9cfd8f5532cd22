"""Scheduled maintenance put together from the configuration: the windows, the desk
extension and the leader's timers, sharing one clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from bot.config.models import MaintenanceConfig
from bot.core.events import EventBus
from bot.core.ports import Channel
from bot.maintenance.extension import MaintenanceExtension
from bot.maintenance.timers import MaintenanceTimers
from bot.maintenance.windows import ComponentHolds, Windows
from storage.models import utcnow
from storage.unit_of_work import Store


class Maintenance:
    def __init__(
        self,
        config: MaintenanceConfig,
        store: Store,
        bus: EventBus,
        channels: Callable[[], Sequence[Channel]],
        *,
        bot_nick: str,
        clock: Callable[[], datetime] = utcnow,
        components: Callable[[], Mapping[str, str] | None] = lambda: None,
        holds: ComponentHolds | None = None,
    ) -> None:
        self.windows = Windows(channels, zone=config.zone,
                               announce_before=config.announce_before, holds=holds)
        self.timers = MaintenanceTimers(store, self.windows, bus, bot_nick=bot_nick,
                                        clock=clock)
        self.extension = MaintenanceExtension(self.windows, components=components,
                                              on_change=self.timers.wake)

    def connect(self, wake_outbox: Callable[[], None]) -> None:
        self.timers.on_queued = wake_outbox
