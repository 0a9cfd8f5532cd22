"""Output made in a thread, read on the loop: in order, with back-pressure, errors raised to
the reader, and a producer that stops when its reader goes away."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from bot.incidents.handoff import WORKERS, Handoff


async def test_pieces_arrive_in_order_and_the_producer_waits_for_the_reader() -> None:
    made: list[int] = []

    def produce(out: Handoff[int]) -> None:
        for n in range(100):
            out.send(n)
            made.append(n)

    handoff: Handoff[int] = Handoff(asyncio.get_running_loop(), depth=4)
    got = []
    async for piece in handoff.pieces(produce):
        if piece == 10:
            await asyncio.sleep(0.2)
            assert len(made) <= 10 + 4 + 1  # held back by the small queue meanwhile
        got.append(piece)
    assert got == list(range(100))


async def test_the_producer_can_read_from_the_loop() -> None:
    async def double(n: int) -> int:
        await asyncio.sleep(0)
        return 2 * n

    def produce(out: Handoff[int]) -> None:
        for n in range(5):
            out.send(out.run(double(n)))

    handoff: Handoff[int] = Handoff(asyncio.get_running_loop())
    assert [p async for p in handoff.pieces(produce)] == [0, 2, 4, 6, 8]


async def test_an_error_in_the_thread_is_raised_to_the_reader() -> None:
    def produce(out: Handoff[str]) -> None:
        out.send("first")
        raise ValueError("template broke")

    handoff: Handoff[str] = Handoff(asyncio.get_running_loop())
    got = []
    with pytest.raises(ValueError, match="template broke"):
        async for piece in handoff.pieces(produce):
            got.append(piece)
    assert got == ["first"]


async def test_a_reader_that_goes_away_stops_the_producer() -> None:
    ended = threading.Event()
    sent: list[int] = []

    def produce(out: Handoff[int]) -> None:
        try:
            for n in range(10_000):
                out.send(n)
                sent.append(n)
        finally:
            ended.set()

    handoff: Handoff[int] = Handoff(asyncio.get_running_loop(), depth=2)
    pieces = handoff.pieces(produce)
    assert await anext(pieces) == 0
    await pieces.aclose()  # what a client hanging up does to the response's generator
    assert ended.is_set()  # aclose waited for the thread, which stopped at its next send
    assert len(sent) < 10


async def in_lists(rows: AsyncIterator[int], size: int) -> AsyncIterator[list[int]]:
    """`rows` in lists of up to `size`, as an export's read gives them."""
    batch: list[int] = []
    async for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def test_more_readers_than_workers_all_finish_in_turn() -> None:
    """Producers past WORKERS wait for a thread; each reads rows from the loop meanwhile
    without holding anyone else up, and every one completes."""

    async def rows(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    def produce(source: AsyncIterator[int]) -> Callable[[Handoff[int]], None]:
        def run(out: Handoff[int]) -> None:
            for batch in out.batches_from(in_lists(source, 7)):
                out.send(sum(batch))
        return run

    async def one() -> int:
        handoff: Handoff[int] = Handoff(asyncio.get_running_loop(), depth=1)
        return sum([piece async for piece in handoff.pieces(produce(rows(100)))])

    readers = 3 * WORKERS + 1
    assert await asyncio.wait_for(asyncio.gather(*(one() for _ in range(readers))), 30) == \
        [sum(range(100))] * readers


async def test_batches_are_read_ahead_and_a_producer_stopping_early_leaves_rows_closable(
) -> None:
    read: list[int] = []

    async def rows() -> AsyncIterator[int]:
        for n in range(100):
            await asyncio.sleep(0)
            read.append(n)
            yield n

    source = rows()
    got: list[list[int]] = []

    def produce(out: Handoff[int]) -> None:
        for batch in out.batches_from(in_lists(source, 10)):
            got.append(batch)
            if len(got) == 2:
                break  # the third batch is being read ahead meanwhile
        out.send(len(got))

    handoff: Handoff[int] = Handoff(asyncio.get_running_loop())
    assert [p async for p in handoff.pieces(produce)] == [2]
    assert got == [list(range(10)), list(range(10, 20))]
    assert len(read) == 30  # the read-ahead batch finished before the producer went on
    await source.aclose()  # not "already running": nothing reads it any more
