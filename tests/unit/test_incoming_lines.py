"""The IRC input queue: bounded, and chatter gives way to commands when it is full."""

from __future__ import annotations

import asyncio

from bot.transports.irc.incoming import IncomingLines


def test_chatter_is_dropped_first_and_a_command_pushes_out_the_oldest_chatter() -> None:
    lines: IncomingLines[str] = IncomingLines(3)
    assert lines.put("c1", command=False) and lines.put("A", command=True)
    assert lines.put("c2", command=False)
    assert not lines.put("c3", command=False)  # full: the newest chatter goes
    assert not lines.put("B", command=True)    # full: c1 makes room for it
    assert (lines.dropped_chatter, lines.dropped_commands) == (2, 0)

    async def drain() -> list[str]:
        return [await lines.get() for _ in range(len(lines))]
    assert asyncio.run(drain()) == ["A", "c2", "B"]


def test_only_commands_waiting_take_a_reserve_then_are_dropped_and_counted() -> None:
    lines: IncomingLines[int] = IncomingLines(2)
    assert all(lines.put(n, command=True) for n in range(4))  # the reserve: as many again
    assert not lines.put(4, command=True)
    assert (lines.dropped_chatter, lines.dropped_commands, len(lines)) == (0, 1, 4)
    assert lines.dropped == 1


def test_get_waits_for_a_line() -> None:
    async def scenario() -> int:
        lines: IncomingLines[int] = IncomingLines(5)
        waiter = asyncio.create_task(lines.get())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        lines.put(7, command=False)
        return await asyncio.wait_for(waiter, 1)
    assert asyncio.run(scenario()) == 7
