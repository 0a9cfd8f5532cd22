"""Filing an issue in a tracker: what a tracker that can create issues provides.

Filing is made exactly-once by an idempotency marker (`statusdesk-action-A7-<instance>`)
written into the issue's body: before creating, the filer asks the tracker for an issue
carrying the marker, so a retry after a crash (or after an answer lost on the way back)
finds the issue the first attempt made instead of making a second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import aiohttp

from bot.playbooks.trackers.tracker import BugStateName
from commands.filing_targets import FilingTarget

__all__ = ["FiledTicket", "FilingRefused", "FilingTarget", "IssueFiler", "file_once",
           "short_title", "with_marker"]

MAX_TITLE = 200
"""Trackers cap titles (GitHub 256, Jira 255, Redmine 255): a shorter one fits them all."""

MAX_BODY = 20_000

_MARKER_RE = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True, slots=True)
class FiledTicket:
    """An issue a tracker holds: its web URL, its id in the tracker's terms, its state."""

    url: str
    id: str
    state: BugStateName = "open"


class FilingRefused(Exception):
    """The tracker refused the issue for good (no such project, a field it will not take):
    trying again would be refused again. Network trouble, rate limits and a rejected
    token are `TrackerUnavailable` instead: retried until someone fixes them."""


def check_marker(marker: str) -> str:
    """Markers are searched for as one word: letters, digits and hyphens only."""
    if not _MARKER_RE.fullmatch(marker):
        raise ValueError(f"bad idempotency marker {marker!r}")
    return marker


_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_.+-])@(?=[A-Za-z0-9_])")
"""An `@` that starts a word (not one inside an e-mail address)."""


def quiet_mentions(text: str) -> str:
    """Chat text must not ping the tracker's users: `@alice` in a GitHub, GitLab or Redmine
    issue notifies alice. A word joiner after the `@` keeps it readable and silent."""
    return _MENTION_RE.sub("@\u2060", text)


def with_marker(body: str, marker: str) -> str:
    """The body as filed: the text (mentions quieted), then the marker on its own line."""
    return f"{quiet_mentions(body[:MAX_BODY]).rstrip()}\n\n{check_marker(marker)}\n"


def short_title(title: str) -> str:
    one_line = quiet_mentions(" ".join(title.split()))
    return one_line if len(one_line) <= MAX_TITLE else one_line[: MAX_TITLE - 1] + "…"


@runtime_checkable
class IssueFiler(Protocol):
    """A tracker that can create issues (GitHub, GitLab, Jira, Launchpad, Redmine).

    Both methods raise `TrackerUnavailable` (try again later) or `FilingRefused` (give up);
    `create_issue` puts `marker` in the issue's body, and `find_by_marker` finds an issue
    carrying it in `project`, or answers None.
    """

    name: str

    async def create_issue(self, session: aiohttp.ClientSession, project: str, title: str,
                           body: str, marker: str) -> FiledTicket: ...

    async def find_by_marker(self, session: aiohttp.ClientSession, project: str,
                             marker: str) -> FiledTicket | None: ...


async def file_once(filer: IssueFiler, session: aiohttp.ClientSession, project: str,
                    title: str, body: str, marker: str) -> FiledTicket:
    """The issue carrying `marker` in `project`: the one an earlier attempt made, if the
    tracker has it, else a new one. Safe to call again after any failure or crash: only
    the window between the tracker storing an issue and its search finding it could let a
    second copy through (GitHub's search index lags by seconds; the others search their
    database)."""
    found = await filer.find_by_marker(session, project, marker)
    if found is not None:
        return found
    return await filer.create_issue(session, project, title, body, marker)
