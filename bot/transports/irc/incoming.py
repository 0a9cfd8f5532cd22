"""Lines that arrived from the server and wait for the bot to take them in.

Bounded, so a flood cannot eat the memory; and when it is full, chatter gives way to
commands: a line that may be a command (or is addressed to the bot) pushes out the oldest
chatter line waiting, so an operator's `#status alert` is never what a busy channel costs.
Only when nothing but possible commands wait does one more get dropped, past a reserve of
as many again (the per-person rate limit answers floods of those long before).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class IncomingLines(Generic[T]):
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lines: deque[tuple[T, bool]] = deque()
        self._commands = 0
        self._waiting = asyncio.Event()
        self.dropped_chatter = 0
        self.dropped_commands = 0

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def dropped(self) -> int:
        return self.dropped_chatter + self.dropped_commands

    def put(self, line: T, *, command: bool) -> bool:
        """Queue `line`; False when it (or, for a command, older chatter) had to be dropped:
        the caller counts and logs."""
        kept = True
        if len(self._lines) >= self._limit:
            if not command:
                self.dropped_chatter += 1
                return False
            if not self._evict_chatter():
                if len(self._lines) >= 2 * self._limit:
                    self.dropped_commands += 1
                    return False
            else:
                kept = False  # a chatter line went instead
        self._lines.append((line, command))
        self._commands += command
        self._waiting.set()
        return kept

    async def get(self) -> T:
        while not self._lines:
            self._waiting.clear()
            await self._waiting.wait()
        line, command = self._lines.popleft()
        self._commands -= command
        return line

    def _evict_chatter(self) -> bool:
        if self._commands == len(self._lines):
            return False
        for index, (_, command) in enumerate(self._lines):
            if not command:
                del self._lines[index]
                self.dropped_chatter += 1
                return True
        return False
