"""The IRC output queue without a network: staged announcements one at a time, each confirmed
before the next is written, and nothing written once this instance no longer leads."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.ports import DeliveryUnavailable
from bot.transports.irc.flood import TokenBucket
from bot.transports.irc.output import CONFIRM_PREFIX, OutputQueue


class Wire:
    """What the queue wrote, and the PINGs it asked."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.pings: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)

    def ping(self, token: str) -> None:
        self.pings.append(token)


async def test_a_line_waiting_when_the_lease_is_lost_is_not_written() -> None:
    wire = Wire()
    leading = True
    queue = OutputQueue(TokenBucket(1, 0.5), lambda: True, "irc/test", ping=wire.ping,
                        may_write=lambda: leading)
    runner = asyncio.create_task(queue.run())
    try:
        first = asyncio.create_task(queue.send([lambda: wire.write("first")]))
        second = asyncio.create_task(queue.send([lambda: wire.write("second")]))
        await asyncio.sleep(0.05)
        assert wire.lines == ["first"]  # the second waits for a flood-control token
        leading = False
        with pytest.raises(DeliveryUnavailable):
            await asyncio.wait_for(second, 5)
        assert wire.lines == ["first"]
        first.cancel()
    finally:
        runner.cancel()


async def test_staged_notices_are_marked_written_and_confirmed_one_at_a_time() -> None:
    wire = Wire()
    events: list[str] = []
    queue = OutputQueue(TokenBucket(10, 10.0), lambda: True, "irc/test", ping=wire.ping)
    runner = asyncio.create_task(queue.run())

    def staged(name: str) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def before_write() -> None:
            events.append(f"mark {name}")

        queue.put([lambda: (events.append(f"write {name}"), wire.write(name))[1]], done,
                  before_write=before_write)
        return done

    try:
        a, b = staged("a"), staged("b")
        await asyncio.sleep(0.05)
        # b is neither marked nor written while a is unconfirmed.
        assert events == ["mark a", "write a"] and wire.pings == [f"{CONFIRM_PREFIX}1"]
        assert queue.confirmed(wire.pings[0])
        await asyncio.wait_for(a, 1)
        await asyncio.sleep(0.05)
        assert events == ["mark a", "write a", "mark b", "write b"]
        assert queue.confirmed(wire.pings[1])
        await asyncio.wait_for(b, 1)
    finally:
        runner.cancel()


async def test_a_staged_notice_whose_mark_fails_is_not_written() -> None:
    wire = Wire()
    queue = OutputQueue(TokenBucket(10, 10.0), lambda: True, "irc/test", ping=wire.ping)
    runner = asyncio.create_task(queue.run())

    async def database_away() -> None:
        raise ConnectionRefusedError("database away")

    try:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.put([lambda: wire.write("never")], done, before_write=database_away)
        with pytest.raises(DeliveryUnavailable, match="database away"):
            await asyncio.wait_for(done, 1)
        assert wire.lines == [] and wire.pings == []
    finally:
        runner.cancel()


async def test_a_line_the_server_echoes_needs_no_ping_until_asked() -> None:
    """A TOPIC is confirmed by its echo: written without a PING of its own (a PING is a line
    under the server's flood limit); `confirm()` asks for one when the echo is late."""
    wire = Wire()
    queue = OutputQueue(TokenBucket(10, 10.0), lambda: True, "irc/test", ping=wire.ping)
    runner = asyncio.create_task(queue.run())
    try:
        await asyncio.wait_for(queue.send([lambda: wire.write("TOPIC")], confirm=False), 1)
        await asyncio.sleep(0.05)
        assert wire.lines == ["TOPIC"] and wire.pings == []
        asked = asyncio.create_task(queue.confirm())
        await asyncio.sleep(0.05)
        assert wire.pings == [f"{CONFIRM_PREFIX}1"] and not asked.done()
        assert queue.confirmed(wire.pings[0])
        await asyncio.wait_for(asked, 1)
    finally:
        runner.cancel()


async def test_a_line_sent_unconfirmed_still_fails_when_not_connected() -> None:
    wire = Wire()
    queue = OutputQueue(TokenBucket(10, 10.0), lambda: False, "irc/test", ping=wire.ping)
    runner = asyncio.create_task(queue.run())
    try:
        with pytest.raises(DeliveryUnavailable):
            await asyncio.wait_for(queue.send([lambda: wire.write("TOPIC")], confirm=False), 1)
        assert wire.lines == []
    finally:
        runner.cancel()
