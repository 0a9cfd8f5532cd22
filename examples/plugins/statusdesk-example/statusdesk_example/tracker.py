"""`tickets`: a bug tracker plug-in for a small ticket server.

    playbooks:
      trackers:
        tickets: {url: https://tickets.example.org}

Bug URLs are `{url}/tickets/N`; their state is `GET {url}/api/tickets/N` answering
`{"state": "open" | "closed", "title": "..."}`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aiohttp

from bot.config.fields import ConfigModel, HttpUrl
from bot.playbooks.trackers.plugin import TrackerPlugin
from bot.playbooks.trackers.tracker import BugInfo, BugNotFound, BugRef, TrackerUnavailable

_PATH = re.compile(r"/tickets/(\d+)/?")


class TicketsConfig(ConfigModel):
    """`playbooks.trackers.tickets`."""

    url: HttpUrl


class Tickets:
    name = "tickets"
    CONFIG_SCHEMA = TicketsConfig

    def __init__(self, url: str) -> None:
        self._base = url.rstrip("/")

    @classmethod
    def from_config(cls, config: TicketsConfig | None) -> Sequence[Tickets]:
        """No public site: nothing to ask unless configured."""
        return [cls(config.url)] if config is not None else []

    def parse(self, url: str) -> BugRef | None:
        if not url.startswith(self._base + "/"):
            return None
        match = _PATH.fullmatch(url[len(self._base):])
        return BugRef(url, self.name, match.group(1)) if match else None

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo:
        try:
            async with session.get(f"{self._base}/api/tickets/{ref.number}") as response:
                if response.status == 404:
                    raise BugNotFound(ref.url)
                if response.status != 200:
                    raise TrackerUnavailable(f"answered {response.status}")
                data = await response.json()
        except aiohttp.ClientError as error:
            raise TrackerUnavailable(type(error).__name__) from None
        if not isinstance(data, dict) or data.get("state") not in ("open", "closed"):
            raise TrackerUnavailable("unexpected response")
        return BugInfo(state=data["state"], title=str(data.get("title") or ""),
                       status=data["state"])


_plugin: TrackerPlugin = Tickets  # mypy checks the class against the protocol
