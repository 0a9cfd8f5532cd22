"""GitHub issues (and pull requests, which the issues API serves too).

`GET {api_url}/repos/{owner}/{repo}/issues/{number}`: `state` is open or closed. Bug URLs are
`https://github.com/OWNER/REPO/issues/N`; with GitHub Enterprise (`api_url`
`https://ghe.example.org/api/v3`) they are on the API's host.

Filing (`filing.IssueFiler`): `POST /repos/{owner}/{repo}/issues` with a JSON `{title, body}`
(201: `number`, `html_url`, `state`), which needs a token; the marker is found with
`GET /search/issues?q="MARKER" repo:OWNER/REPO is:issue in:body`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import SecretStr
from yarl import URL

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.filing import FiledTicket, FilingRefused, short_title, with_marker
from bot.playbooks.trackers.http import get_json, send_json
from bot.playbooks.trackers.site import Site, match_path, parse_timestamp
from bot.playbooks.trackers.tracker import BugInfo, BugRef, TrackerUnavailable

PUBLIC_API = "https://api.github.com"
PUBLIC_HOSTS = ("github.com", "www.github.com")

_PATH = re.compile(r"/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/(?:issues|pull)/(\d+)/?")


class GitHubTracker(ConfigModel):
    """`playbooks.trackers.github`."""

    api_url: HttpUrl = "https://api.github.com"
    token: SecretStr | None = None


class GitHub:
    name = "github"
    CONFIG_SCHEMA = GitHubTracker
    order = 10

    def __init__(self, api_url: str = PUBLIC_API, token: str | None = None) -> None:
        self._api = api_url.rstrip("/")
        self._token = token
        api_host = (urlsplit(self._api).hostname or "").lower()
        if api_host == "api.github.com":
            self._sites = tuple(Site(host) for host in PUBLIC_HOSTS)
        else:
            site = Site.of(self._api)
            # GitHub Enterprise serves the API under /api/v3 of the web host.
            self._sites = (Site(site.host, site.port),)

    @classmethod
    def from_config(cls, config: GitHubTracker | None) -> Sequence[GitHub]:
        """The configured instance; github.com too when that is an Enterprise server (its
        links still go to the public API). Without configuration: github.com, anonymous."""
        if config is None:
            return [cls()]
        hub = cls(config.api_url, config.token.get_secret_value() if config.token else None)
        return [hub] if hub.public else [hub, cls()]

    @property
    def public(self) -> bool:
        return self._api == PUBLIC_API

    def parse(self, url: str) -> BugRef | None:
        match = match_path(self._sites, url, _PATH)
        if match is None:
            return None
        owner, repo, number = match.groups()
        return BugRef(url, self.name, number, f"{owner}/{repo}")

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def create_issue(self, session: aiohttp.ClientSession, project: str, title: str,
                           body: str, marker: str) -> FiledTicket:
        if not self._token:
            raise FilingRefused("no token: set playbooks.trackers.github.token")
        owner, repo = project.split("/", 1)
        _, _, data = await send_json(
            session, "POST", f"{self._api}/repos/{quote(owner)}/{quote(repo)}/issues",
            self._headers(), json_body={"title": short_title(title),
                                        "body": with_marker(body, marker)})
        return _ticket(data)

    async def find_by_marker(self, session: aiohttp.ClientSession, project: str,
                             marker: str) -> FiledTicket | None:
        query = f'"{marker}" repo:{project} is:issue in:body'
        url = URL(f"{self._api}/search/issues").with_query(q=query, per_page="5")
        data = await get_json(session, url, self._headers())
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise TrackerUnavailable("unexpected response")
        for item in items:
            # Search matches words loosely: only an issue whose body has the marker counts.
            if isinstance(item, dict) and marker in str(item.get("body") or ""):
                return _ticket(item)
        return None

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        headers = self._headers()
        owner, repo = (ref.project or "/").split("/", 1)
        data = await get_json(
            session, f"{self._api}/repos/{quote(owner)}/{quote(repo)}/issues/{ref.number}",
            headers,
        )
        if not isinstance(data, dict) or data.get("state") not in ("open", "closed"):
            raise TrackerUnavailable("unexpected response")
        assignee = data.get("assignee")
        reason = data.get("state_reason")
        return BugInfo(
            state=data["state"],
            title=str(data.get("title") or ""),
            status=f"{data['state']} ({reason})" if reason else data["state"],
            assignee=str(assignee["login"]) if isinstance(assignee, dict) and
            assignee.get("login") else None,
            updated=parse_timestamp(data.get("updated_at")),
        )


def _ticket(data: object) -> FiledTicket:
    if not isinstance(data, dict) or not isinstance(data.get("number"), int) \
            or not isinstance(data.get("html_url"), str):
        raise TrackerUnavailable("unexpected response")
    return FiledTicket(data["html_url"], str(data["number"]),
                       "closed" if data.get("state") == "closed" else "open")


if TYPE_CHECKING:
    from bot.playbooks.trackers.filing import IssueFiler
    from bot.playbooks.trackers.plugin import TrackerPlugin

    _plugin: TrackerPlugin = GitHub  # the entry point's object fits the protocol
    _filer: IssueFiler = GitHub()
