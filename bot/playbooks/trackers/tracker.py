"""What every bug tracker module provides, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import aiohttp

BugStateName = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class BugRef:
    """A bug URL a tracker recognised: which project and which bug, in its own terms."""

    url: str
    tracker: str
    """The tracker's name: github, gitlab, launchpad, bugzilla, jira."""
    number: str
    """The bug's id in the tracker: `1234`, or a Jira key like `OPS-12`."""
    project: str | None = None
    """`owner/repo` (GitHub), `group/sub/project` (GitLab), the Launchpad target, or None."""

    @property
    def key(self) -> str:
        """How chat names the bug: `#1234`, or the Jira key."""
        return f"#{self.number}" if self.number.isdigit() else self.number


@dataclass(frozen=True, slots=True)
class BugInfo:
    """A tracker's answer, mapped from its own states to open / closed."""

    state: BugStateName
    title: str
    status: str
    """The tracker's own word for it (`Fix Released`, `RESOLVED FIXED`, `In Progress`)."""
    assignee: str | None = None
    updated: datetime | None = None


class BugNotFound(Exception):
    """The tracker says there is no such bug (or that we may not see it)."""


class TrackerUnavailable(Exception):
    """No usable answer: unreachable, slow, refusing, rate limited or answering nonsense.

    `reason` is shown in chat as `state unknown (REASON)`; `retry_after` (seconds), when
    set, is how long to leave the tracker alone.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Tracker(Protocol):
    """One bug tracker: which URLs are its bugs, and how to ask for one.

    `fetch` raises `BugNotFound` or `TrackerUnavailable`, never anything else on purpose;
    timeouts and concurrency are the caller's business (`bug_states`).
    """

    name: str

    def parse(self, url: str) -> BugRef | None:
        """The bug this URL names, if it is one of this tracker's; else None."""
        ...

    async def fetch(self, ref: BugRef, session: aiohttp.ClientSession) -> BugInfo: ...
