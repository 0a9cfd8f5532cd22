"""Launchpad bugs.

`GET {api_url}/bugs/{id}` for the title and last update, then the bug's `bug_tasks`
collection: each task (one per affected project or package) has its own status. A bug is
closed when its task for the project in the URL is, or, without one, when every task is.
Bug URLs: `https://bugs.launchpad.net/PROJECT/+bug/ID` or `https://launchpad.net/bugs/ID`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.http import get_json
from bot.playbooks.trackers.site import Site, match_path, parse_timestamp
from bot.playbooks.trackers.tracker import BugInfo, BugRef, TrackerUnavailable

PUBLIC_API = "https://api.launchpad.net/1.0"

CLOSED = frozenset({"Fix Released", "Invalid", "Won't Fix", "Expired", "Opinion",
                    "Does Not Exist"})
"""Launchpad's statuses that end a task; `Fix Committed` is not one: the fix is not out yet,
so the workaround is still needed."""

_PATH = re.compile(r"(?:/([A-Za-z0-9][A-Za-z0-9+_.-]*(?:/[A-Za-z0-9+_.-]+)*))?/\+bug/(\d+)/?"
                   r"|/bugs/(\d+)/?")


class LaunchpadTracker(ConfigModel):
    """`playbooks.trackers.launchpad`."""

    api_url: HttpUrl = "https://api.launchpad.net/1.0"


class Launchpad:
    name = "launchpad"
    CONFIG_SCHEMA = LaunchpadTracker
    order = 30

    def __init__(self, api_url: str = PUBLIC_API) -> None:
        self._api = api_url.rstrip("/")
        api = Site.of(self._api)
        hosts = {"bugs.launchpad.net", "launchpad.net"}
        if api.host.startswith("api."):
            # api.staging.launchpad.net serves bugs.staging.launchpad.net
            hosts |= {"bugs." + api.host.removeprefix("api."), api.host.removeprefix("api.")}
        self._sites = tuple(Site(host) for host in sorted(hosts))

    @classmethod
    def from_config(cls, config: LaunchpadTracker | None) -> Sequence[Launchpad]:
        """The configured API, or Launchpad's public one."""
        return [cls(config.api_url) if config is not None else cls()]

    def parse(self, url: str) -> BugRef | None:
        match = match_path(self._sites, url, _PATH)
        if match is None:
            return None
        target, number, bare = match.groups()
        return BugRef(url, self.name, number or bare, target)

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        bug = await get_json(session, f"{self._api}/bugs/{ref.number}")
        tasks = await get_json(session, f"{self._api}/bugs/{ref.number}/bug_tasks")
        if not isinstance(bug, dict) or not isinstance(tasks, dict):
            raise TrackerUnavailable("unexpected response")
        entries = [t for t in tasks.get("entries") or () if isinstance(t, dict)]
        if not entries:
            raise TrackerUnavailable("unexpected response")
        mine = [t for t in entries if ref.project and _target(t) == ref.project.split("/")[-1]]
        relevant = mine or entries
        statuses = [str(t.get("status") or "Unknown") for t in relevant]
        closed = all(status in CLOSED for status in statuses)
        assignees = [_person(t.get("assignee_link")) for t in relevant]
        return BugInfo(
            state="closed" if closed else "open",
            title=str(bug.get("title") or ""),
            status=", ".join(dict.fromkeys(statuses)),
            assignee=", ".join(dict.fromkeys(a for a in assignees if a)) or None,
            updated=parse_timestamp(bug.get("date_last_updated")),
        )


def _target(task: dict[str, Any]) -> str | None:
    """The task's project or package name (`nova`, `nova (Ubuntu)` → `nova`)."""
    name = task.get("bug_target_name")
    return str(name).split(" (")[0] if name else None


def _person(link: object) -> str | None:
    """`https://api.launchpad.net/1.0/~alice` → `alice`."""
    if not isinstance(link, str) or "/~" not in link:
        return None
    return link.rsplit("/~", 1)[1].strip("/") or None


if TYPE_CHECKING:
    from bot.playbooks.trackers.plugin import TrackerPlugin

    _plugin: TrackerPlugin = Launchpad  # the entry point's object fits the protocol
