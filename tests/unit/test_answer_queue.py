"""Answers waiting to be written: in order per network, bounded, the oldest dropped first."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.delivery.answer_queue import AnswerQueue, Send


class Network:
    """A network whose output can be held, as a paced IRC connection holds it."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.open = asyncio.Event()
        self.open.set()

    def answer(self, text: str) -> Send:
        async def send() -> None:
            await self.open.wait()
            self.written.append(text)
        return send


async def settle(queue: AnswerQueue) -> None:
    for _ in range(100):
        await asyncio.sleep(0)


async def test_answers_go_out_in_order_without_the_caller_waiting() -> None:
    queue = AnswerQueue()
    net = Network()
    net.open.clear()
    for n in range(5):
        queue.put("irc/a", net.answer(f"a{n}"))
    assert net.written == []  # put() returned at once though nothing could be written
    net.open.set()
    await settle(queue)
    assert net.written == [f"a{n}" for n in range(5)]


async def test_one_slow_network_does_not_hold_another() -> None:
    queue = AnswerQueue()
    slow, fast = Network(), Network()
    slow.open.clear()
    queue.put("irc/slow", slow.answer("s"))
    queue.put("matrix/fast", fast.answer("f"))
    await settle(queue)
    assert fast.written == ["f"] and slow.written == []
    await queue.clear()


async def test_beyond_the_limit_the_oldest_are_dropped_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    queue = AnswerQueue(limit=3)
    net = Network()
    net.open.clear()
    with caplog.at_level(logging.WARNING, logger="statusdesk.answers"):
        for n in range(100):
            queue.put("irc/a", net.answer(f"a{n}"))
            await asyncio.sleep(0)
        assert queue.waiting("irc/a") == 3
        net.open.set()
        await settle(queue)
    # The first was already being written when the flood began; then the newest three.
    assert net.written == ["a0", "a97", "a98", "a99"]
    assert queue.dropped_total == 96
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "dropping the oldest" in messages[0]
    assert "96 answers were dropped" in messages[1]


async def test_a_failing_answer_does_not_stop_the_next() -> None:
    queue = AnswerQueue()
    net = Network()

    async def broken() -> None:
        raise RuntimeError("boom")

    queue.put("irc/a", broken)
    queue.put("irc/a", net.answer("after"))
    await settle(queue)
    assert net.written == ["after"]


async def test_drain_gives_a_deadline_then_drops_the_rest() -> None:
    queue = AnswerQueue()
    net = Network()
    queue.put("irc/a", net.answer("quick"))
    await queue.drain(1.0)
    assert net.written == ["quick"]
    net.open.clear()
    queue.put("irc/a", net.answer("stuck"))
    await queue.drain(0.05)
    assert queue.waiting("irc/a") == 0
    net.open.set()
    await settle(queue)
    assert net.written == ["quick"]
