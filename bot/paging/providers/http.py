"""What an HTTP answer means for a delivery: done, retry (when), or give up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.core.ports import DeliveryRejected, DeliveryUnavailable
from bot.observability.redaction import redact

TIMEOUT = aiohttp.ClientTimeout(total=20, connect=10)
MAX_DETAIL = 300


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def detail(body: bytes, secrets: Sequence[str] = ()) -> str:
    """A short, single-line account of an error body (JSON `message`/`errors` if there),
    without `secrets` (a service may quote the request it refused, key and all)."""
    text = body.decode("utf-8", "replace")
    try:
        document: Any = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        parts = [str(document.get(k)) for k in ("message", "status") if document.get(k)]
        errors = document.get("errors")
        if isinstance(errors, list | dict):
            parts.append(json.dumps(errors, ensure_ascii=False))
        if parts:
            text = "; ".join(parts)
    return redact(" ".join(text.split()), secrets)[:MAX_DETAIL]


def check(status: int, headers: Any, body: bytes, service: str,
          secrets: Sequence[str] = ()) -> None:
    """Raise for anything but success: 408, 429 and 5xx are worth retrying (honouring
    `Retry-After`); any other 4xx is our mistake or a bad key and will not get better."""
    if 200 <= status < 300:
        return
    reason = f"{service} answered {status}"
    extra = detail(body, secrets)
    if extra:
        reason += f": {extra}"
    if status in (408, 429) or status >= 500:
        raise DeliveryUnavailable(reason, retry_after=retry_after(headers.get("Retry-After")))
    raise DeliveryRejected(reason)


async def fetch(
    session: aiohttp.ClientSession, method: str, url: str, service: str, *,
    body: bytes | None = None, headers: dict[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> tuple[int, Any, bytes]:
    """One request, whatever its status; network trouble becomes DeliveryUnavailable."""
    try:
        async with session.request(method, url, data=body, headers=headers,
                                   timeout=TIMEOUT) as response:
            return response.status, response.headers, await response.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        raise DeliveryUnavailable(f"{service} unreachable: {type(error).__name__}: "
                                  + redact(str(error), secrets)) from error


async def request(
    session: aiohttp.ClientSession, method: str, url: str, service: str, *,
    body: bytes | None = None, headers: dict[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> bytes:
    """One request that must succeed (see `check`); its body. `secrets` (the key or token
    the request carries) are kept out of every error message."""
    status, response_headers, content = await fetch(session, method, url, service,
                                                    body=body, headers=headers,
                                                    secrets=secrets)
    check(status, response_headers, content, service, secrets)
    return content
