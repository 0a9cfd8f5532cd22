"""The playbooks feature as the app runs it: one store, one bug-state cache, the desk
extension and the pages, built from `playbooks:` in the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config.models import PlaybooksConfig
from bot.playbooks.bug_states import BugStates
from bot.playbooks.extension import PlaybooksExtension
from bot.playbooks.pages import PlaybookPages
from bot.playbooks.store import PlaybookStore
from bot.playbooks.trackers.registry import TrackerSet
from storage.unit_of_work import Store


@dataclass
class Playbooks:
    store: PlaybookStore
    states: BugStates
    extension: PlaybooksExtension
    pages: PlaybookPages

    @classmethod
    def from_config(cls, config: PlaybooksConfig, database: Store, *,
                    bot_nick: str) -> Playbooks | None:
        """None when `playbooks.dir` is not set: the feature is off."""
        if config.dir is None:
            return None
        store = PlaybookStore(Path(config.dir))
        states = BugStates(TrackerSet.from_config(config.trackers), ttl=config.cache_ttl)
        return cls(store, states, PlaybooksExtension(store, states, bot_nick=bot_nick),
                   PlaybookPages(store, states, database))

    async def close(self) -> None:
        await self.states.close()
