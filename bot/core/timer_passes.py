"""The loop of a leader-run timer: fire what is due, sleep until the next timer or a
wake-up, forever (until cancelled). Escalations and maintenance windows share it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from storage.write_refusals import write_refusal

RETRY_SECONDS = 5.0
"""After a failed pass: soon enough to catch a timer, slow enough not to spin."""


async def run_timer_passes(check: Callable[[], Awaitable[object]],
                           seconds_until_next: Callable[[], Awaitable[float]],
                           wake: asyncio.Event, log: logging.Logger, what: str) -> None:
    while True:
        wake.clear()
        try:
            await check()
            delay = await seconds_until_next()
        except Exception as error:
            # A refused write (disk full, read-only) is the store's to log, once.
            if write_refusal(error) is None:
                log.exception("%s failed; trying again shortly", what)
            delay = RETRY_SECONDS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)
