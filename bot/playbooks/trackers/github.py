"""GitHub issues (and pull requests, which the issues API serves too).

`GET {api_url}/repos/{owner}/{repo}/issues/{number}`: `state` is open or closed. Bug URLs are
`https://github.com/OWNER/REPO/issues/N`; with GitHub Enterprise (`api_url`
`https://ghe.example.org/api/v3`) they are on the API's host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import SecretStr

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.http import get_json
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

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
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


if TYPE_CHECKING:
    from bot.playbooks.trackers.plugin import TrackerPlugin

    _plugin: TrackerPlugin = GitHub  # the entry point's object fits the protocol
