"""Launchpad bugs.

`GET {api_url}/bugs/{id}` for the title and last update, then the bug's `bug_tasks`
collection: each task (one per affected project or package) has its own status. A bug is
closed when its task for the project in the URL is, or, without one, when every task is.
Bug URLs: `https://bugs.launchpad.net/PROJECT/+bug/ID` or `https://launchpad.net/bugs/ID`.

Filing (`filing.IssueFiler`): the named operation `createBug` on the bugs collection,
`POST {api_url}/bugs` form-encoded `ws.op=createBug&target={api_url}/PROJECT&title=&description=`
(201 with the new bug in `Location`), signed with OAuth 1.0 (PLAINTEXT, the token and secret
of a Launchpad access token); the marker is found with the project's `searchTasks`
(`GET {api_url}/PROJECT?ws.op=searchTasks&search_text=MARKER`).
"""

from __future__ import annotations

import re
import secrets
import time
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
    consumer_key: str = "statusdesk"
    """OAuth consumer key the access token was granted to (filing only)."""
    oauth_token: SecretStr | None = None
    oauth_token_secret: SecretStr | None = None


class Launchpad:
    name = "launchpad"
    CONFIG_SCHEMA = LaunchpadTracker
    order = 30

    def __init__(self, api_url: str = PUBLIC_API, *, consumer_key: str = "statusdesk",
                 token: str | None = None, token_secret: str | None = None) -> None:
        self._api = api_url.rstrip("/")
        self._oauth = (consumer_key, token, token_secret or "") if token else None
        api = Site.of(self._api)
        self._web = ("https://bugs." + api.host.removeprefix("api.")
                     if api.host.startswith("api.") else "https://bugs.launchpad.net")
        hosts = {"bugs.launchpad.net", "launchpad.net"}
        if api.host.startswith("api."):
            # api.staging.launchpad.net serves bugs.staging.launchpad.net
            hosts |= {"bugs." + api.host.removeprefix("api."), api.host.removeprefix("api.")}
        self._sites = tuple(Site(host) for host in sorted(hosts))

    @classmethod
    def from_config(cls, config: LaunchpadTracker | None) -> Sequence[Launchpad]:
        """The configured API, or Launchpad's public one."""
        if config is None:
            return [cls()]
        return [cls(config.api_url, consumer_key=config.consumer_key,
                    token=config.oauth_token.get_secret_value() if config.oauth_token else None,
                    token_secret=config.oauth_token_secret.get_secret_value()
                    if config.oauth_token_secret else None)]

    def parse(self, url: str) -> BugRef | None:
        match = match_path(self._sites, url, _PATH)
        if match is None:
            return None
        target, number, bare = match.groups()
        return BugRef(url, self.name, number or bare, target)

    def _signed(self) -> dict[str, str]:
        """OAuth 1.0 PLAINTEXT, as Launchpad asks: the signature is `&` + the token secret
        (the consumer secret is empty)."""
        if self._oauth is None:
            return {}
        consumer, token, secret = self._oauth
        fields = {
            "oauth_consumer_key": consumer, "oauth_token": token or "",
            "oauth_signature_method": "PLAINTEXT", "oauth_signature": f"&{secret}",
            "oauth_timestamp": str(int(time.time())), "oauth_nonce": secrets.token_hex(8),
            "oauth_version": "1.0",
        }
        quoted = ", ".join(f'{k}="{_oauth_quote(v)}"' for k, v in fields.items())
        return {"Authorization": f'OAuth realm="https://api.launchpad.net/", {quoted}'}

    async def create_issue(self, session: aiohttp.ClientSession, project: str, title: str,
                           body: str, marker: str) -> FiledTicket:
        if self._oauth is None:
            raise FilingRefused("no access token: set playbooks.trackers.launchpad."
                                "oauth_token and oauth_token_secret")
        _, headers, _ = await send_json(
            session, "POST", f"{self._api}/bugs", self._signed(),
            form={"ws.op": "createBug", "target": f"{self._api}/{project}",
                  "title": short_title(title), "description": with_marker(body, marker)})
        number = (headers.get("Location") or "").rstrip("/").rsplit("/", 1)[-1]
        if not number.isdigit():
            raise TrackerUnavailable("unexpected response")
        return FiledTicket(f"{self._web}/{project}/+bug/{number}", number)

    async def find_by_marker(self, session: aiohttp.ClientSession, project: str,
                             marker: str) -> FiledTicket | None:
        url = URL(f"{self._api}/{project}").with_query(
            {"ws.op": "searchTasks", "search_text": marker})
        data = await get_json(session, url, self._signed())
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise TrackerUnavailable("unexpected response")
        for task in entries:
            link = task.get("bug_link") if isinstance(task, dict) else None
            number = str(link).rstrip("/").rsplit("/", 1)[-1] if link else ""
            if number.isdigit():
                status = str(task.get("status") or "")
                return FiledTicket(f"{self._web}/{project}/+bug/{number}", number,
                                   "closed" if status in CLOSED else "open")
        return None

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


def _oauth_quote(value: str) -> str:
    return quote(value, safe="~-._")


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
    from bot.playbooks.trackers.filing import IssueFiler
    from bot.playbooks.trackers.plugin import TrackerPlugin

    _plugin: TrackerPlugin = Launchpad  # the entry point's object fits the protocol
    _filer: IssueFiler = Launchpad()
