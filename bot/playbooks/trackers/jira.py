"""Jira (REST API version 2: Jira Data Center and Server; Cloud serves it too).

`GET {url}/rest/api/2/issue/{KEY}?fields=summary,status,assignee,updated`, with a bearer
token (a personal access token) when one is configured. An issue is closed when its status
is in the `done` category (`fields.status.statusCategory.key`), whatever the workflow calls
it. Bug URLs: `{url}/browse/KEY-123`.

Filing (`filing.IssueFiler`): `POST {url}/rest/api/2/issue` with a JSON
`{"fields": {"project": {"key": KEY}, "summary", "description", "issuetype": {"name": ...}}}`
(201: `id`, `key`, `self`); the marker is found with a JQL search,
`GET {url}/rest/api/2/search?jql=project = KEY AND text ~ "\"MARKER\""` (on Jira Cloud, which
answers 410 there since 2025, the same at `/rest/api/2/search/jql`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aiohttp
from pydantic import SecretStr
from yarl import URL

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.filing import FiledTicket, FilingRefused, short_title, with_marker
from bot.playbooks.trackers.http import get_json, send_json
from bot.playbooks.trackers.site import Site, match_path, parse_timestamp
from bot.playbooks.trackers.tracker import BugInfo, BugNotFound, BugRef, TrackerUnavailable

FIELDS = "summary,status,assignee,updated"

_PATH = re.compile(r"/browse/([A-Z][A-Z0-9_]*-\d+)/?")
_KEY = re.compile(r"[A-Z][A-Z0-9_]*-\d+")


class JiraTracker(ConfigModel):
    """`playbooks.trackers.jira`."""

    url: HttpUrl
    token: SecretStr | None = None
    issue_type: str = "Task"
    """The issue type action items are filed as (`postmortem.file_actions_in: jira:KEY`)."""


class Jira:
    name = "jira"
    CONFIG_SCHEMA = JiraTracker
    order = 50

    def __init__(self, url: str, token: str | None = None, issue_type: str = "Task") -> None:
        self._base = url.rstrip("/")
        self._token = token
        self._issue_type = issue_type
        self._site = Site.of(self._base)

    @classmethod
    def from_config(cls, config: JiraTracker | None) -> Sequence[Jira]:
        """Only when configured."""
        if config is None:
            return []
        return [cls(config.url, config.token.get_secret_value() if config.token else None,
                    config.issue_type)]

    def parse(self, url: str) -> BugRef | None:
        match = match_path((self._site,), url, _PATH)
        return BugRef(url, self.name, match.group(1)) if match else None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def create_issue(self, session: aiohttp.ClientSession, project: str, title: str,
                           body: str, marker: str) -> FiledTicket:
        if not self._token:
            raise FilingRefused("no token: set playbooks.trackers.jira.token")
        _, _, data = await send_json(
            session, "POST", f"{self._base}/rest/api/2/issue", self._headers(),
            json_body={"fields": {
                "project": {"key": project},
                "summary": short_title(title),
                "description": with_marker(body, marker),
                "issuetype": {"name": self._issue_type},
            }})
        key = data.get("key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise TrackerUnavailable("unexpected response")
        return FiledTicket(f"{self._base}/browse/{key}", key)

    async def find_by_marker(self, session: aiohttp.ClientSession, project: str,
                             marker: str) -> FiledTicket | None:
        # A quoted phrase inside the JQL string: the marker is matched as a whole.
        jql = f'project = "{project}" AND text ~ "\\"{marker}\\""'
        query = {"jql": jql, "fields": "description,status", "maxResults": "5"}
        try:
            data = await get_json(session, URL(f"{self._base}/rest/api/2/search")
                                  .with_query(query), self._headers())
        except BugNotFound:
            # Jira Cloud removed /search (410 Gone) for the enhanced `/search/jql`, which
            # Data Center does not have: whichever answers.
            data = await get_json(session, URL(f"{self._base}/rest/api/2/search/jql")
                                  .with_query(query), self._headers())
        issues = data.get("issues") if isinstance(data, dict) else None
        if not isinstance(issues, list):
            raise TrackerUnavailable("unexpected response")
        for issue in issues:
            fields = issue.get("fields") if isinstance(issue, dict) else None
            key = issue.get("key") if isinstance(issue, dict) else None
            if (isinstance(fields, dict) and isinstance(key, str) and _KEY.fullmatch(key)
                    and marker in str(fields.get("description") or "")):
                status = fields.get("status")
                category = status.get("statusCategory") if isinstance(status, dict) else None
                done = isinstance(category, dict) and category.get("key") == "done"
                return FiledTicket(f"{self._base}/browse/{key}", key,
                                   "closed" if done else "open")
        return None

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        headers = self._headers()
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


if TYPE_CHECKING:
    from bot.playbooks.trackers.filing import IssueFiler
    from bot.playbooks.trackers.plugin import TrackerPlugin

    _plugin: TrackerPlugin = Jira  # the entry point's object fits the protocol
    _filer: IssueFiler = Jira("https://jira.example.org")
