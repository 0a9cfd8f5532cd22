"""Where a tracker lives: the web origin and path prefix its bug URLs start with."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import SplitResult, urlsplit


@dataclass(frozen=True, slots=True)
class Site:
    """`https://bugzilla.example.org/bz` matches `https://bugzilla.example.org/bz/...`."""

    host: str
    port: int | None = None
    prefix: str = ""
    """Path before the tracker's own paths, without a trailing slash (Jira under /jira)."""

    @classmethod
    def of(cls, url: str) -> Site:
        parts = urlsplit(url)
        return cls((parts.hostname or "").lower(), parts.port, parts.path.rstrip("/"))

    def rest(self, url: str) -> tuple[SplitResult, str] | None:
        """The URL's parts and its path after the prefix, if the URL is on this site."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() != self.host:
            return None
        if port != self.port:
            return None
        if self.prefix and not (parts.path == self.prefix
                                or parts.path.startswith(self.prefix + "/")):
            return None
        return parts, parts.path[len(self.prefix):]


def match_path(sites: Iterable[Site], url: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """`pattern` matched against the URL's path on the first of `sites` it belongs to."""
    for site in sites:
        found = site.rest(url)
        if found is not None and (match := pattern.fullmatch(found[1])):
            return match
    return None


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 time as trackers write it (`Z`, `+0000`, `.000`), in UTC; None if not."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # Jira's +0000
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
