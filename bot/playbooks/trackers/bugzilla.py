"""Bugzilla (5.0 and later REST API).

`GET {url}/rest/bug/{id}` answers `{"bugs": [{...}]}`; `is_open` (or, on old servers,
`status` alone) says open or closed; `status` and `resolution` are shown as they are. Bug URLs:
`{url}/show_bug.cgi?id=ID` or the short `{url}/ID`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote

import aiohttp

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.http import get_json
from bot.playbooks.trackers.site import Site, parse_timestamp
from bot.playbooks.trackers.tracker import BugInfo, BugNotFound, BugRef, TrackerUnavailable

CLOSED_STATUSES = frozenset({"RESOLVED", "VERIFIED", "CLOSED"})
FIELDS = "id,summary,status,resolution,is_open,assigned_to,last_change_time"

_ID = re.compile(r"[0-9]+|[A-Za-z][A-Za-z0-9_.-]*")
"""A bug number, or an alias."""


class BugzillaTracker(ConfigModel):
    """`playbooks.trackers.bugzilla`."""

    url: HttpUrl


class Bugzilla:
    name = "bugzilla"
    CONFIG_SCHEMA = BugzillaTracker
    order = 40

    def __init__(self, url: str) -> None:
        self._base = url.rstrip("/")
        self._site = Site.of(self._base)

    @classmethod
    def from_config(cls, config: BugzillaTracker | None) -> Sequence[Bugzilla]:
        """Only when configured."""
        return [cls(config.url)] if config is not None else []

    def parse(self, url: str) -> BugRef | None:
        found = self._site.rest(url)
        if found is None:
            return None
        parts, path = found
        if path == "/show_bug.cgi":
            ids = parse_qs(parts.query).get("id", [])
            number = ids[0] if len(ids) == 1 else ""
        else:
            number = path.strip("/") if path.count("/") == 1 and path[1:].isdigit() else ""
        if not _ID.fullmatch(number):
            return None
        return BugRef(url, self.name, number)

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        data = await get_json(
            session, f"{self._base}/rest/bug/{quote(ref.number)}?include_fields={FIELDS}"
        )
        bugs = data.get("bugs") if isinstance(data, dict) else None
        if isinstance(data, dict) and data.get("error") and data.get("code") == 101:
            raise BugNotFound(str(data.get("message") or "no such bug"))
        if not isinstance(bugs, list) or not bugs or not isinstance(bugs[0], dict):
            if isinstance(bugs, list) and not bugs:
                raise BugNotFound("no such bug")
            raise TrackerUnavailable("unexpected response")
        bug = bugs[0]
        status = str(bug.get("status") or "")
        is_open = bug.get("is_open")
        if not isinstance(is_open, bool):
            is_open = status.upper() not in CLOSED_STATUSES
        resolution = str(bug.get("resolution") or "")
        return BugInfo(
            state="open" if is_open else "closed",
            title=str(bug.get("summary") or ""),
            status=f"{status} {resolution}".strip(),
            assignee=str(bug["assigned_to"]) if bug.get("assigned_to") else None,
            updated=parse_timestamp(bug.get("last_change_time")),
        )


if TYPE_CHECKING:
    from bot.playbooks.trackers.plugin import TrackerPlugin

    _plugin: TrackerPlugin = Bugzilla  # the entry point's object fits the protocol
