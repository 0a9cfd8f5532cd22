"""Filing tickets as the app runs it: built from `postmortem:` and `playbooks.trackers`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.config.models import Config
from bot.core.ports import Channel
from bot.playbooks.bug_states import BugStates
from bot.playbooks.trackers.registry import TrackerSet
from bot.tickets.deliverer import TicketDeliverer
from bot.tickets.extension import TicketFilingExtension
from bot.tickets.filing_request import installation_tag
from bot.tickets.refresher import TicketStates
from storage.unit_of_work import Store


@dataclass
class Tickets:
    extension: TicketFilingExtension
    deliverer: TicketDeliverer
    refresher: TicketStates
    states: BugStates

    @classmethod
    def from_config(cls, config: Config, store: Store,
                    channels: Callable[[], Sequence[Channel]], *, bot_nick: str,
                    page_url: str | None) -> Tickets | None:
        """None when `postmortem.file_actions_in` is not set (or its tracker cannot file):
        `#action A7 file` then says filing is unavailable."""
        target = config.postmortem.filing_target
        if target is None:
            return None
        trackers = TrackerSet.from_config(config.playbooks.trackers)
        if trackers.filer(target.tracker) is None:
            return None
        states = BugStates(trackers, ttl=config.playbooks.cache_ttl)
        return cls(
            TicketFilingExtension(target,
                                  installation=installation_tag(
                                      f"{page_url}|{config.database.url}"),
                                  file_every_action=config.postmortem.file_every_action),
            TicketDeliverer(trackers, store, channels, bot_nick=bot_nick),
            TicketStates(store, states, every=config.playbooks.cache_ttl),
            states,
        )

    async def close(self) -> None:
        await self.deliverer.close()
        await self.states.close()
