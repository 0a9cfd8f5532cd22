"""Which tracker a bug URL belongs to: the configured ones first, then the public hosts."""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import plugins
from bot.config.models import TrackersBase
from bot.playbooks.trackers.filing import IssueFiler
from bot.playbooks.trackers.plugin import tracker_plugins
from bot.playbooks.trackers.tracker import BugRef, Tracker


class TrackerSet:
    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self._trackers = tuple(trackers)

    @classmethod
    def from_config(cls, config: TrackersBase) -> TrackerSet:
        """What every tracker plug-in (entry point group `statusdesk.trackers`) makes of its
        `playbooks.trackers` entry, in registry order. GitHub, GitLab and Launchpad answer
        also without configuration, for their public sites (anonymous, so with their lower
        rate limits)."""
        trackers: list[Tracker] = []
        for name, plugin in tracker_plugins().items():
            try:
                trackers.extend(plugin.from_config(getattr(config, name, None)))
            except Exception as exc:  # a plug-in's own failure, named as such
                raise plugins.building(plugins.TRACKERS, name, exc) from exc
        return cls(trackers)

    def resolve(self, url: str) -> tuple[Tracker, BugRef] | None:
        for tracker in self._trackers:
            ref = tracker.parse(url)
            if ref is not None:
                return tracker, ref
        return None

    def filer(self, name: str) -> IssueFiler | None:
        """The tracker that files issues for `postmortem.file_actions_in: NAME:...`: the
        configured one (it comes first), if it can create issues."""
        for tracker in self._trackers:
            if tracker.name == name and isinstance(tracker, IssueFiler):
                return tracker
        return None
