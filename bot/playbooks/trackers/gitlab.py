"""GitLab issues.

`GET {api_url}/projects/{url-encoded path}/issues/{iid}` with a `PRIVATE-TOKEN` header when a
token is configured; `state` is opened or closed. Bug URLs are
`https://HOST/GROUP/[SUBGROUP/]PROJECT/-/issues/IID` on the API's host.

Filing (`filing.IssueFiler`): `POST /projects/{url-encoded path}/issues` with a JSON
`{title, description}` (201: `iid`, `web_url`, `state`); the marker is found with
`GET /projects/{path}/issues?search=MARKER&in=description&scope=all`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr
from yarl import URL

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.filing import FiledTicket, FilingRefused, short_title, with_marker
from bot.playbooks.trackers.http import get_json, send_json
from bot.playbooks.trackers.site import Site, match_path, parse_timestamp
from bot.playbooks.trackers.tracker import BugInfo, BugRef, TrackerUnavailable

PUBLIC_API = "https://gitlab.com/api/v4"

_SEGMENT = r"[A-Za-z0-9_.][A-Za-z0-9_.-]*"
_PATH = re.compile(rf"/((?:{_SEGMENT}/)+{_SEGMENT})/(?:-/)?(?:issues|work_items)/(\d+)/?")
_STATES = {"opened": "open", "reopened": "open", "closed": "closed"}


class GitLabTracker(ConfigModel):
    """`playbooks.trackers.gitlab`."""

    api_url: HttpUrl = "https://gitlab.com/api/v4"
    token: SecretStr | None = None


class GitLab:
    name = "gitlab"
    CONFIG_SCHEMA = GitLabTracker
    order = 20

    def __init__(self, api_url: str = PUBLIC_API, token: str | None = None) -> None:
        self._api = api_url.rstrip("/")
        self._token = token
        api = Site.of(self._api)
        self._sites = (Site(api.host, api.port),)

    @classmethod
    def from_config(cls, config: GitLabTracker | None) -> Sequence[GitLab]:
        """The configured instance; gitlab.com too when that is self-hosted. Without
        configuration: gitlab.com, anonymous."""
        if config is None:
            return [cls()]
        lab = cls(config.api_url, config.token.get_secret_value() if config.token else None)
        return [lab] if lab.public else [lab, cls()]

    @property
    def public(self) -> bool:
        return self._api == PUBLIC_API

    def parse(self, url: str) -> BugRef | None:
        match = match_path(self._sites, url, _PATH)
        return BugRef(url, self.name, match.group(2), match.group(1)) if match else None

    def _issues(self, project: str) -> str:
        # The project path is one path segment: its slashes must stay encoded as %2F.
        return f"{self._api}/projects/{quote(project, safe='')}/issues"

    async def create_issue(self, session: aiohttp.ClientSession, project: str, title: str,
                           body: str, marker: str) -> FiledTicket:
        if not self._token:
            raise FilingRefused("no token: set playbooks.trackers.gitlab.token")
        _, _, data = await send_json(
            session, "POST", URL(self._issues(project), encoded=True),
            {"PRIVATE-TOKEN": self._token},
            json_body={"title": short_title(title), "description": with_marker(body, marker)})
        return _ticket(data)

    async def find_by_marker(self, session: aiohttp.ClientSession, project: str,
                             marker: str) -> FiledTicket | None:
        headers = {"PRIVATE-TOKEN": self._token} if self._token else {}
        url = URL(self._issues(project), encoded=True).with_query(
            search=marker, scope="all", per_page="5", **{"in": "description"})
        data = await get_json(session, url, headers)
        if not isinstance(data, list):
            raise TrackerUnavailable("unexpected response")
        for item in data:
            if isinstance(item, dict) and marker in str(item.get("description") or ""):
                return _ticket(item)
        return None

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        headers = {"PRIVATE-TOKEN": self._token} if self._token else {}
        # The project path is one path segment: its slashes must stay encoded as %2F.
        project = quote(ref.project or "", safe="")
        url = URL(f"{self._api}/projects/{project}/issues/{ref.number}", encoded=True)
        data = await get_json(session, url, headers)
        state = _STATES.get(str(data.get("state"))) if isinstance(data, dict) else None
        if not isinstance(data, dict) or state is None:
            raise TrackerUnavailable("unexpected response")
        assignees = data.get("assignees") or ([data["assignee"]] if data.get("assignee") else [])
        names = [str(a.get("username") or a.get("name")) for a in assignees
                 if isinstance(a, dict) and (a.get("username") or a.get("name"))]
        return BugInfo(
            state="open" if state == "open" else "closed",
            title=str(data.get("title") or ""),
            status=str(data["state"]),
            assignee=", ".join(names) or None,
            updated=parse_timestamp(data.get("updated_at")),
        )


def _ticket(data: object) -> FiledTicket:
    if not isinstance(data, dict) or not isinstance(data.get("iid"), int) \
            or not isinstance(data.get("web_url"), str):
        raise TrackerUnavailable("unexpected response")
    return FiledTicket(data["web_url"], str(data["iid"]),
                       "closed" if data.get("state") == "closed" else "open")


if TYPE_CHECKING:
    from bot.playbooks.trackers.filing import IssueFiler
    from bot.playbooks.trackers.plugin import TrackerPlugin

    _plugin: TrackerPlugin = GitLab  # the entry point's object fits the protocol
    _filer: IssueFiler = GitLab()
