"""Which tracker a bug URL belongs to: the configured ones first, then the public hosts."""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import TrackersConfig
from bot.playbooks.trackers.bugzilla import Bugzilla
from bot.playbooks.trackers.github import GitHub
from bot.playbooks.trackers.gitlab import GitLab
from bot.playbooks.trackers.jira import Jira
from bot.playbooks.trackers.launchpad import Launchpad
from bot.playbooks.trackers.tracker import BugRef, Tracker


class TrackerSet:
    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self._trackers = tuple(trackers)

    @classmethod
    def from_config(cls, config: TrackersConfig) -> TrackerSet:
        """Every configured tracker; GitHub, GitLab and Launchpad also without configuration,
        for their public sites (anonymous, so with their lower rate limits)."""

        def secret(value: object) -> str | None:
            get = getattr(value, "get_secret_value", None)
            return str(get()) if get is not None else None

        trackers: list[Tracker] = []
        github, gitlab, launchpad = config.github, config.gitlab, config.launchpad
        hub = GitHub(github.api_url, secret(github.token)) if github else GitHub()
        lab = GitLab(gitlab.api_url, secret(gitlab.token)) if gitlab else GitLab()
        # An Enterprise or self-hosted instance answers for its own host only; github.com
        # and gitlab.com links still go to the public APIs.
        trackers += [hub] if hub.public else [hub, GitHub()]
        trackers += [lab] if lab.public else [lab, GitLab()]
        trackers.append(Launchpad(launchpad.api_url) if launchpad else Launchpad())
        if config.bugzilla is not None:
            trackers.append(Bugzilla(config.bugzilla.url))
        if config.jira is not None:
            trackers.append(Jira(config.jira.url, secret(config.jira.token)))
        return cls(trackers)

    def resolve(self, url: str) -> tuple[Tracker, BugRef] | None:
        for tracker in self._trackers:
            ref = tracker.parse(url)
            if ref is not None:
                return tracker, ref
        return None
