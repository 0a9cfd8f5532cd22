"""Jira (REST API version 2: Jira Data Center and Server; Cloud serves it too).

`GET {url}/rest/api/2/issue/{KEY}?fields=summary,status,assignee,updated`, with a bearer
token (a personal access token) when one is configured. An issue is closed when its status
is in the `done` category (`fields.status.statusCategory.key`), whatever the workflow calls
it. Bug URLs: `{url}/browse/KEY-123`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aiohttp
from pydantic import SecretStr

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.http import get_json
from bot.playbooks.trackers.site import Site, match_path, parse_timestamp
from bot.playbooks.trackers.tracker import BugInfo, BugRef, TrackerUnavailable

FIELDS = "summary,status,assignee,updated"

_PATH = re.compile(r"/browse/([A-Z][A-Z0-9_]*-\d+)/?")


class JiraTracker(ConfigModel):
    """`playbooks.trackers.jira`."""

    url: HttpUrl
    token: SecretStr | None = None


class Jira:
    name = "jira"
    CONFIG_SCHEMA = JiraTracker
    order = 50

    def __init__(self, url: str, token: str | None = None) -> None:
        self._base = url.rstrip("/")
        self._token = token
        self._site = Site.of(self._base)

    @classmethod
    def from_config(cls, config: JiraTracker | None) -> Sequence[Jira]:
        """Only when configured."""
        if config is None:
            return []
        return [cls(config.url, config.token.get_secret_value() if config.token else None)]

    def parse(self, url: str) -> BugRef | None:
        match = match_path((self._site,), url, _PATH)
        return BugRef(url, self.name, match.group(1)) if match else None

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        data = await get_json(
            session, f"{self._base}/rest/api/2/issue/{ref.number}?fields={FIELDS}", headers
        )
        fields = data.get("fields") if isinstance(data, dict) else None
        status = fields.get("status") if isinstance(fields, dict) else None
        if not isinstance(fields, dict) or not isinstance(status, dict):
            raise TrackerUnavailable("unexpected response")
        category = status.get("statusCategory")
        done = isinstance(category, dict) and category.get("key") == "done"
        assignee = fields.get("assignee")
        return BugInfo(
            state="closed" if done else "open",
            title=str(fields.get("summary") or ""),
            status=str(status.get("name") or ""),
            assignee=str(assignee.get("displayName") or assignee.get("name"))
            if isinstance(assignee, dict) else None,
            updated=parse_timestamp(fields.get("updated")),
        )
