"""Redmine (its REST API, JSON; openQA's progress.opensuse.org is one).

Reading: `GET {url}/issues/{id}.json` answers `{"issue": {...}}`; an issue is closed when its
status says `is_closed` (Redmine 5.1 and later) or, on older servers, when it has a
`closed_on` time. Bug URLs: `{url}/issues/ID`. The API key, when configured, goes in the
`X-Redmine-API-Key` header (never in the URL, where it would reach logs).

Filing (`filing.IssueFiler`): `POST {url}/issues.json` with a JSON
`{"issue": {"project_id": IDENTIFIER, "subject", "description"}}` (201: `{"issue": {"id"}}`);
the marker is found with the project's search,
`GET {url}/projects/IDENTIFIER/search.json?q=MARKER&issues=1&all_words=1`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr
from yarl import URL

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.filing import FiledTicket, FilingRefused, short_title, with_marker
from bot.playbooks.trackers.http import get_json, send_json
from bot.playbooks.trackers.site import Site, match_path, parse_timestamp
from bot.playbooks.trackers.tracker import BugInfo, BugRef, TrackerUnavailable

_PATH = re.compile(r"/issues/(\d+)/?")


class RedmineTracker(ConfigModel):
    """`playbooks.trackers.redmine`."""

    url: HttpUrl
    api_key: SecretStr | None = None


class Redmine:
    name = "redmine"
    CONFIG_SCHEMA = RedmineTracker
    order = 60

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self._base = url.rstrip("/")
        self._key = api_key
        self._site = Site.of(self._base)

    @classmethod
    def from_config(cls, config: RedmineTracker | None) -> Sequence[Redmine]:
        """Only when configured."""
        if config is None:
            return []
        return [cls(config.url, config.api_key.get_secret_value() if config.api_key else None)]

    def _headers(self) -> dict[str, str]:
        return {"X-Redmine-API-Key": self._key} if self._key else {}

    def parse(self, url: str) -> BugRef | None:
        match = match_path((self._site,), url, _PATH)
        return BugRef(url, self.name, match.group(1)) if match else None

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        data = await get_json(session, f"{self._base}/issues/{ref.number}.json", self._headers())
        issue = data.get("issue") if isinstance(data, dict) else None
        status = issue.get("status") if isinstance(issue, dict) else None
        if not isinstance(issue, dict) or not isinstance(status, dict):
            raise TrackerUnavailable("unexpected response")
        assignee = issue.get("assigned_to")
        return BugInfo(
            state="closed" if _closed(issue, status) else "open",
            title=str(issue.get("subject") or ""),
            status=str(status.get("name") or ""),
            assignee=str(assignee["name"]) if isinstance(assignee, dict)
            and assignee.get("name") else None,
            updated=parse_timestamp(issue.get("updated_on")),
        )

    async def create_issue(self, session: aiohttp.ClientSession, project: str, title: str,
                           body: str, marker: str) -> FiledTicket:
        if not self._key:
            raise FilingRefused("no API key: set playbooks.trackers.redmine.api_key")
        _, _, data = await send_json(
            session, "POST", f"{self._base}/issues.json", self._headers(),
            json_body={"issue": {"project_id": project, "subject": short_title(title),
                                 "description": with_marker(body, marker)}})
        issue = data.get("issue") if isinstance(data, dict) else None
        number = issue.get("id") if isinstance(issue, dict) else None
        if not isinstance(number, int):
            raise TrackerUnavailable("unexpected response")
        return FiledTicket(f"{self._base}/issues/{number}", str(number))

    async def find_by_marker(self, session: aiohttp.ClientSession, project: str,
                             marker: str) -> FiledTicket | None:
        url = URL(f"{self._base}/projects/{quote(project, safe='')}/search.json",
                  encoded=True).with_query(q=marker, issues="1", all_words="1", limit="5")
        data = await get_json(session, url, self._headers())
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise TrackerUnavailable("unexpected response")
        for result in results:
            if (isinstance(result, dict) and str(result.get("type", "")).startswith("issue")
                    and isinstance(result.get("id"), int)
                    and marker in str(result.get("description") or "")):
                number = result["id"]
                closed = str(result["type"]) == "issue-closed"
                return FiledTicket(f"{self._base}/issues/{number}", str(number),
                                   "closed" if closed else "open")
        return None


def _closed(issue: dict[str, Any], status: dict[str, Any]) -> bool:
    if isinstance(status.get("is_closed"), bool):
        return bool(status["is_closed"])
    return bool(issue.get("closed_on"))


if TYPE_CHECKING:
    from bot.playbooks.trackers.filing import IssueFiler
    from bot.playbooks.trackers.plugin import TrackerPlugin

    _plugin: TrackerPlugin = Redmine  # the entry point's object fits the protocol
    _filer: IssueFiler = Redmine("https://redmine.example.org")
