"""One GET of a tracker's JSON API, with every failure mapped to `BugNotFound` or
`TrackerUnavailable` (rate limits included), so tracker modules only read fields."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from bot.playbooks.trackers.filing import FilingRefused
from bot.playbooks.trackers.tracker import BugNotFound, TrackerUnavailable

log = logging.getLogger("statusdesk.playbooks")

DEFAULT_BACKOFF = 60.0
"""How long to leave a tracker alone after a rate limit that says not for how long (GitHub
asks for at least a minute)."""

MAX_BODY = 2 * 1024 * 1024
"""Largest API response read: one bug is a few kilobytes; anything bigger is not an answer."""

UNREACHABLE = "tracker unreachable"

USER_AGENT = "statusdesk (playbooks)"


async def get_json(
    session: aiohttp.ClientSession,
    url: str | URL,
    headers: Mapping[str, str] | None = None,
    *,
    not_found: tuple[int, ...] = (404, 410),
) -> Any:
    """GET `url` and decode its JSON body; raise `BugNotFound` for `not_found` statuses."""
    sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    target = url if isinstance(url, URL) else URL(url, encoded=True)
    try:
        async with session.get(target, headers=sent, allow_redirects=True) as response:
            status = response.status
            if status in not_found:
                raise BugNotFound(f"HTTP {status}")
            if status >= 400:
                raise _refusal(status, response.headers)
            body = await response.content.read(MAX_BODY + 1)
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        # The URL is only the API's, never a token; the host is enough to tell which.
        log.info("tracker %s unreachable: %s", target.host, type(error).__name__)
        raise TrackerUnavailable(UNREACHABLE) from error
    if len(body) > MAX_BODY:
        raise TrackerUnavailable("unexpected response")
    try:
        return json.loads(body)
    except ValueError:
        raise TrackerUnavailable("unexpected response") from None


def _refusal(status: int, headers: CIMultiDictProxy[str]) -> TrackerUnavailable:
    retry_after = _retry_after(headers)
    exhausted = headers.get("x-ratelimit-remaining") == "0"
    if status == 429 or (status == 403 and (exhausted or retry_after is not None)):
        if retry_after is None and exhausted:
            retry_after = _reset_in(headers.get("x-ratelimit-reset"))
        return TrackerUnavailable("rate limited", retry_after=retry_after or DEFAULT_BACKOFF)
    if status in (401, 403):
        return TrackerUnavailable("access denied: check the tracker token")
    if status == 503 and retry_after is not None:
        return TrackerUnavailable(UNREACHABLE, retry_after=retry_after)
    return TrackerUnavailable(UNREACHABLE if status >= 500 else f"tracker answered HTTP {status}")


def _retry_after(headers: CIMultiDictProxy[str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _reset_in(value: str | None) -> float | None:
    """GitHub's `x-ratelimit-reset`: UTC epoch seconds when the quota comes back."""
    if value is None or not value.strip().isdigit():
        return None
    return max(1.0, float(value) - time.time())


async def send_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    headers: Mapping[str, str] | None = None,
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
) -> tuple[int, CIMultiDictProxy[str], Any]:
    """Send a write (POST) to a tracker's API: its status, headers and decoded JSON body
    (None if it has none). Unreachable, 5xx, rate limits and a refused token raise
    `TrackerUnavailable` (retried); any other 4xx raises `FilingRefused`, naming the status
    and the tracker's own message, never the request (which may carry a token)."""
    sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    target = url if isinstance(url, URL) else URL(url, encoded=True)
    try:
        async with session.request(method, target, headers=sent, json=json_body,
                                   data=form, allow_redirects=False) as response:
            status = response.status
            reply_headers = response.headers
            body = await response.content.read(MAX_BODY + 1)
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        log.info("tracker %s unreachable: %s", target.host, type(error).__name__)
        raise TrackerUnavailable(UNREACHABLE) from error
    decoded: Any = None
    if body and len(body) <= MAX_BODY:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
    if status in (401, 403, 429) or status >= 500:
        raise _refusal(status, reply_headers)
    if status >= 400:
        raise FilingRefused(f"tracker answered HTTP {status}{_said(decoded)}")
    return status, reply_headers, decoded


def _said(decoded: Any) -> str:
    """The tracker's own short explanation of a refusal (GitHub `message`, Jira
    `errorMessages`/`errors`, Redmine `errors`), capped: it goes to chat."""
    if not isinstance(decoded, dict):
        return ""
    parts: list[str] = []
    for key in ("message", "error", "errorMessages", "errors"):
        value = decoded.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(v) for v in value if isinstance(v, str | int))
        elif isinstance(value, dict):
            parts.extend(f"{k}: {v}" for k, v in value.items() if isinstance(v, str))
    text = " ".join(" ".join(parts).split())[:200]
    return f": {text}" if text else ""
