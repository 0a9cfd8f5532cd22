"""Output made in a worker thread, handed to the event loop a piece at a time.

The postmortem template and the bundle's gzip run in threads (CPU-heavy, off the loop); what
they produce goes to the loop through a small queue, so a slow reader slows the producer
instead of piling output up in memory, and a reader that goes away (a client that hangs up)
stops the producer at its next hand-over.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")
_Item = TypeVar("_Item")
_Batch = TypeVar("_Batch")

POLL_SECONDS = 0.5
"""How often a waiting producer looks whether its reader went away."""

WORKERS = 2
"""Exports rendering at once; more wait their turn. Their own threads, not the loop's default
executor: ten people pulling a 50,000-event log must not hold up the status page's rebuilds
and the export_dir writes that run there."""

_workers = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="statusdesk-export")


class Stopped(Exception):
    """The reader went away: the producer ends."""


class Handoff(Generic[_Item]):
    def __init__(self, loop: asyncio.AbstractEventLoop, *, depth: int = 4) -> None:
        self.loop = loop
        self._queue: asyncio.Queue[_Item | BaseException | None] = asyncio.Queue(depth)
        self._stopped = threading.Event()

    def run(self, work: Coroutine[Any, Any, _T]) -> _T:
        """From the producer's thread: run `work` on the loop and wait for its result."""
        return self._wait(self._submit(work))

    def _submit(self, work: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        if self._stopped.is_set():
            work.close()
            raise Stopped
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    def _wait(self, future: concurrent.futures.Future[_T]) -> _T:
        while True:
            try:
                return future.result(timeout=POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if self._stopped.is_set():
                    future.cancel()
                    raise Stopped from None

    def batches_from(self, source: Iterator[_Batch] | AsyncIterator[_Batch]
                     ) -> Iterator[_Batch]:
        """From the producer's thread: the batches of `source`. A plain iterator is read
        right here, in the producer's thread (a SQLite export's own connection); an async
        one on the loop, the next batch read while the producer works on this one."""
        if not isinstance(source, AsyncIterator):
            yield from source
            return

        async def take() -> _Batch | None:
            return await anext(source, None)

        ahead: concurrent.futures.Future[_Batch | None] | None = self._submit(take())
        try:
            while ahead is not None:
                batch = self._wait(ahead)
                ahead = None
                if batch is None:
                    return
                ahead = self._submit(take())
                yield batch
        finally:
            if ahead is not None:
                # The reader stopped early: let the read under way finish before `source`
                # is closed (an async generator cannot be closed while it runs).
                with contextlib.suppress(Stopped, Exception):
                    self._wait(ahead)

    def send(self, item: _Item) -> None:
        """From the producer's thread: one more piece (waits while the reader is behind)."""
        self.run(self._queue.put(item))

    async def pieces(self, produce: Callable[[Handoff[_Item]], None]) -> AsyncIterator[_Item]:
        """Run `produce(self)` in a worker thread and yield what it sends, in order; its
        exception is raised here."""

        def work() -> None:
            try:
                produce(self)
                self.run(self._queue.put(None))
            except Stopped:
                return
            except BaseException as error:  # handed to the reader, raised there
                try:
                    self.run(self._queue.put(error))
                except Stopped:
                    return

        worker = self.loop.run_in_executor(_workers, work)
        try:
            while (item := await self._queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stopped.set()
            while not self._queue.empty():
                self._queue.get_nowait()
            await asyncio.shield(worker)


async def over_batches(source: Iterator[_Batch] | AsyncIterator[_Batch],
                       work: Callable[[Iterator[_Batch]], _T]) -> _T:
    """`work(batches)` in an export thread, off the loop. A plain iterator (a SQLite
    export's own connection) is read in that thread too, and closed there when `work` is
    done with it; an async one is read here first, on the loop."""
    loop = asyncio.get_running_loop()
    if isinstance(source, AsyncIterator):
        try:
            batches = [batch async for batch in source]
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:  # cancelled half-way: its statement ends here
                await aclose()
        return await loop.run_in_executor(_workers, work, iter(batches))

    def read() -> _T:
        try:
            return work(source)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    return await loop.run_in_executor(_workers, read)
