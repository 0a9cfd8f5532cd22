"""Live bug states: cached, deduplicated, bounded in concurrency and in time.

Chat answers with what is cached (`known_now`) and otherwise waits for trackers a bounded
time outside the desk (`get_many(..., wait=)`); what does not answer by then is shown as
unknown and keeps fetching in the background, so the next question finds it in the cache.
Errors are cached too, more briefly, and a tracker that rate-limits us is left alone for as
long as it asks: a dead or throttled tracker is never hammered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from bot.playbooks.trackers.http import UNREACHABLE
from bot.playbooks.trackers.registry import TrackerSet
from bot.playbooks.trackers.tracker import (
    BugInfo,
    BugNotFound,
    BugRef,
    Tracker,
    TrackerUnavailable,
)
from commands.text import clean_text

if TYPE_CHECKING:
    from bot.config.models import PlaybooksConfig

log = logging.getLogger("statusdesk.playbooks")

REQUEST_TIMEOUT = 10.0
"""Seconds one tracker request may take, in the background (connect included)."""

CONCURRENCY = 4
"""Tracker requests in flight at once, across all trackers."""

ERROR_TTL = timedelta(seconds=60)
"""How long a failed answer is kept (at most `cache_ttl`): long enough not to hammer a
tracker that is down, short enough to notice it is back."""

MAX_TITLE = 200
"""Longest bug title kept (titles come from outside and end up in chat)."""

State = Literal["open", "closed", "unknown"]


@dataclass(frozen=True, slots=True)
class BugState:
    """What is known of one linked bug right now."""

    url: str
    tracker: str | None
    """Which tracker it belongs to; None when no configured tracker knows the URL."""
    key: str
    """`#1234`, `OPS-12`, or the URL when no tracker knows it."""
    state: State
    title: str | None = None
    status: str | None = None
    assignee: str | None = None
    updated: datetime | None = None
    reason: str | None = None
    """Why the state is unknown: `tracker unreachable`, `no such bug`, `rate limited`..."""
    missing: bool = False
    """The tracker says the bug does not exist (HTTP 404)."""

    @property
    def line(self) -> str:
        """The chat form: `[open] #1234 Title (github)`."""
        where = f" ({self.tracker})" if self.tracker else ""
        if self.state == "unknown":
            return f"[unknown] {self.key}{where}: state unknown ({self.reason or UNREACHABLE})"
        title = f" {self.title}" if self.title else ""
        return f"[{self.state}] {self.key}{title}{where}"

    @classmethod
    def known(cls, ref: BugRef, info: BugInfo) -> BugState:
        return cls(ref.url, ref.tracker, ref.key, info.state, _clean(info.title),
                   _clean(info.status), _clean(info.assignee), info.updated)

    @classmethod
    def unknown(cls, ref: BugRef, reason: str, *, missing: bool = False) -> BugState:
        return cls(ref.url, ref.tracker, ref.key, "unknown", reason=reason, missing=missing)


def _clean(text: str | None) -> str | None:
    if not text:
        return None
    cleaned = clean_text(text)
    return cleaned if len(cleaned) <= MAX_TITLE else cleaned[: MAX_TITLE - 1] + "…"


class BugStates:
    def __init__(
        self,
        trackers: TrackerSet,
        *,
        ttl: timedelta,
        request_timeout: float = REQUEST_TIMEOUT,
        concurrency: int = CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._trackers = trackers
        self._ttl = ttl.total_seconds()
        self._error_ttl = min(self._ttl, ERROR_TTL.total_seconds())
        self._timeout = request_timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._cache: dict[str, tuple[BugState, float]] = {}
        self._inflight: dict[str, asyncio.Task[BugState]] = {}
        self._blocked: dict[str, float] = {}
        """Tracker name → monotonic time before which it is not asked (rate limits)."""
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        """Tracker fetches started (for tests and metrics)."""

    def ref(self, url: str) -> BugRef | None:
        found = self._trackers.resolve(url)
        return found[1] if found else None

    def cached(self, url: str) -> BugState | None:
        """The cached state, fresh or not, without any I/O (for pages and exports)."""
        entry = self._cache.get(url)
        return entry[0] if entry else None

    async def get(self, url: str) -> BugState:
        """The bug's state: from the cache while fresh, else asked (bounded by the timeout)."""
        found = self._trackers.resolve(url)
        if found is None:
            return _untracked(url)
        fresh = self._fresh(url)
        if fresh is not None:
            return fresh
        # Shielded: a caller that stops waiting leaves the answer to fill the cache.
        return await asyncio.shield(self._task(url, found[0], found[1]))

    def known_now(self, urls: Iterable[str]) -> list[BugState] | None:
        """Every state, in order, if each is cached and fresh (or has no tracker to ask);
        None when answering would mean asking a tracker."""
        states = []
        for url in urls:
            if self._trackers.resolve(url) is None:
                states.append(_untracked(url))
                continue
            fresh = self._fresh(url)
            if fresh is None:
                return None
            states.append(fresh)
        return states

    def warm(self, urls: Iterable[str]) -> None:
        """Start asking for the states not cached, without waiting for them (so a page or
        a question soon after finds them)."""
        for url in urls:
            found = self._trackers.resolve(url)
            if found is not None and self._fresh(url) is None:
                self._task(url, found[0], found[1])

    def _task(self, url: str, tracker: Tracker, ref: BugRef) -> asyncio.Task[BugState]:
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.create_task(self._fetch(tracker, ref), name=f"bug {url}")
            self._inflight[url] = task
            task.add_done_callback(lambda _: self._inflight.pop(url, None))
        return task

    async def get_many(self, urls: Iterable[str], *, wait: float | None = None) -> list[BugState]:
        """States in the order given; after `wait` seconds, the ones still being asked are
        unknown (tracker unreachable) and are left to finish into the cache."""
        urls = list(urls)
        tasks = [asyncio.ensure_future(self.get(url)) for url in urls]
        if not tasks:
            return []
        done, _ = await asyncio.wait(tasks, timeout=wait)
        states = []
        for url, task in zip(urls, tasks, strict=True):
            if task in done:
                states.append(task.result())
            else:
                task.cancel()  # the shielded fetch goes on; only this wait ends
                ref = self.ref(url)
                states.append(BugState.unknown(ref, UNREACHABLE) if ref else
                              BugState(url, None, url, "unknown", reason=UNREACHABLE))
        return states

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _fresh(self, url: str) -> BugState | None:
        entry = self._cache.get(url)
        if entry is not None and entry[1] > self._clock():
            return entry[0]
        return None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._timeout, connect=self._timeout / 2)
            self._session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
        return self._session

    async def _fetch(self, tracker: Tracker, ref: BugRef) -> BugState:
        blocked_until = self._blocked.get(ref.tracker, 0.0)
        if blocked_until > self._clock():
            # Not cached: it costs nothing to ask the map again, and the answer changes
            # as soon as the tracker is free.
            return BugState.unknown(ref, "rate limited")
        async with self._limit:
            self.requests += 1
            try:
                async with asyncio.timeout(self._timeout):
                    info = await tracker.fetch(ref, self._http())
                state, ttl = BugState.known(ref, info), self._ttl
            except BugNotFound:
                state, ttl = BugState.unknown(ref, "no such bug", missing=True), self._ttl
            except TrackerUnavailable as error:
                if error.retry_after is not None:
                    self._blocked[ref.tracker] = self._clock() + error.retry_after
                    log.warning("%s: rate limited, not asked again for %.0f s", ref.tracker,
                                error.retry_after)
                state, ttl = BugState.unknown(ref, error.reason), self._error_ttl
            except TimeoutError:
                state, ttl = BugState.unknown(ref, UNREACHABLE), self._error_ttl
            except Exception:
                log.exception("%s: unexpected failure asking for %s", ref.tracker, ref.url)
                state, ttl = BugState.unknown(ref, "tracker error"), self._error_ttl
        if ttl > 0:
            self._cache[ref.url] = (state, self._clock() + ttl)
        return state


def _untracked(url: str) -> BugState:
    return BugState(url, None, url, "unknown", reason="no tracker configured for this host")


BUNDLE_WAIT = 10.0
"""Seconds `statusdesk incidents bundle` waits for trackers before writing `unknown`."""


def bug_document(state: BugState) -> dict[str, Any]:
    """A bug's state as the bundle's bugs.json records it."""
    return {"state": state.state, "tracker": state.tracker, "key": state.key,
            "title": state.title, "status": state.status, "assignee": state.assignee,
            "updated": state.updated.isoformat() if state.updated else None,
            "reason": state.reason, "line": state.line}


def cached_lookup(states: BugStates) -> Callable[[Sequence[str]], Awaitable[dict[str, Any]]]:
    """What the running bot knows of bugs (its cache: a bundle never waits on a tracker)."""

    async def lookup(urls: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for url in urls:
            known = states.cached(url)
            if known is None:
                ref = states.ref(url)
                known = BugState.unknown(ref, "not looked up yet") if ref else _untracked(url)
            found[url] = bug_document(known)
        states.warm(urls)  # the next bundle (or page) finds them
        return found

    return lookup


@contextlib.asynccontextmanager
async def bug_lookup(
    config: PlaybooksConfig, *, wait: float = BUNDLE_WAIT
) -> AsyncIterator[Callable[[Sequence[str]], Awaitable[dict[str, Any]]]]:
    """For the command line: asks each linked bug's tracker, at most `wait` seconds."""
    states = BugStates(TrackerSet.from_config(config.trackers), ttl=config.cache_ttl)

    async def lookup(urls: Sequence[str]) -> dict[str, Any]:
        found = await states.get_many(urls, wait=wait)
        return {url: bug_document(state) for url, state in zip(urls, found, strict=True)}

    try:
        yield lookup
    finally:
        await states.close()
