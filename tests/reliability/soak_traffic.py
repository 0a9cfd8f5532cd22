"""The soak's traffic: IRC users who chat and give commands as fast as the bot answers.

Each `Speaker` is a real IRC client (its own socket to the IRC server, independent of the
bot's `irc` library) in its own channel. It interleaves chatter with commands and keeps at
most `window` commands unanswered, so what waits in the bot's input stays bounded: the bot
reads everything the server sends it, and a flood beyond its input queue would be dropped
(as it should: a bot must not run out of memory because a channel is busy), which is not what
this measures.

Every command is matched to its answer. The bot handles messages one at a time, in order,
and writes all the lines of one answer before the next, so a speaker's answers arrive in the
order of its commands. Most answers are one line; a command whose answer has several lines
(`#now`, `#incident N log`) is followed by a separator command with a recognisable one-line
answer, which closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

SEPARATOR = "#incident frobnicate"
SEPARATOR_ANSWER = "usage: #incident open"
"""How the answer to SEPARATOR begins (the #incident usage)."""
OPENED = re.compile(r"(?:Opened|opened) incident #(\d+)")


class Kind(enum.Enum):
    ONE = "one line"
    BURST = "one or more lines, then the separator's"
    SEPARATOR = "the separator's answer"


@dataclass
class _Expected:
    command: str
    kind: Kind
    answer: asyncio.Future[list[str]]
    lines: list[str] = field(default_factory=list)


CHATTER = (
    "anyone seen the deploy of build {n}? the canary looks fine to me",
    "lunch? the place on 5th has the curry again ({n})",
    "#general is busy today, moving the discussion here ({n})",
    "see https://ci.example.org/job/{n}/console for the log, line 4711",
    "\x02heads up\x02: \x0304db{m}\x03 is getting its kernel patched tonight",
    "déploiement {n} terminé ✓ — merci à tous",
    "ok",
    "I think the retry in the client hides the real error, we should log the first failure "
    "instead of the last one because by the time the third attempt fails the connection pool "
    "has already been recycled and the stack trace points at the pool, not at the query that "
    "timed out; compare run {n} with the one from yesterday and you see the same pattern "
    "every time the backup job overlaps with the nightly reindex",
)


@dataclass
class Speaker:
    nick: str
    channel: str
    bot_nick: str
    window: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    commands_sent: int = 0
    chatter_sent: int = 0
    answered: int = 0
    answer_lines: int = 0
    problems: list[str] = field(default_factory=list)
    bot_left: list[str] = field(default_factory=list)
    _expected: deque[_Expected] = field(default_factory=deque)
    _slots: asyncio.Semaphore = field(init=False)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _chatter_budget: float = 0.0
    _unflushed: int = 0

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.window)
        self._idle.set()

    @classmethod
    async def join(cls, host: str, port: int, nick: str, channel: str, bot_nick: str,
                   window: int = 8) -> Speaker:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 16)
        writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :soak speaker\r\n".encode())
        await _until_line(reader, writer, lambda words: words[1:2] == ["001"])
        writer.write(f"JOIN {channel}\r\n".encode())
        await _until_line(reader, writer, lambda words: words[1:2] == ["366"])
        speaker = cls(nick, channel, bot_nick, window, reader, writer)
        speaker._task = asyncio.create_task(speaker._read(), name=f"soak-{nick}")
        return speaker

    async def command(self, text: str, kind: Kind = Kind.ONE) -> asyncio.Future[list[str]]:
        """Send a command once fewer than `window` are unanswered; its answer's lines."""
        await self._slots.acquire()
        answer: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._expected.append(_Expected(text, kind, answer))
        self._idle.clear()
        self._write(f"PRIVMSG {self.channel} :{text}")
        self.commands_sent += 1
        if kind is Kind.BURST:
            await self.command(SEPARATOR, Kind.SEPARATOR)
        await self._flush()
        return answer

    async def chatter(self, per_command: float) -> None:
        """The chatter due before the next command (`per_command` lines on average)."""
        self._chatter_budget += per_command
        while self._chatter_budget >= 1 - 1e-9:
            self._chatter_budget -= 1
            n = self.chatter_sent
            line = CHATTER[n % len(CHATTER)].format(n=n, m=n % 13)
            self._write(f"PRIVMSG {self.channel} :{line}")
            self.chatter_sent += 1
        await self._flush()

    @property
    def chatter_due(self) -> float:
        return self._chatter_budget

    async def settled(self, within: float) -> None:
        """Wait until every command sent was answered."""
        async with asyncio.timeout(within):
            await self._idle.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(OSError):
            self.writer.write(b"QUIT :soak over\r\n")
            self.writer.close()
            await self.writer.wait_closed()

    def _write(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")
        self._unflushed += 1

    async def _flush(self) -> None:
        if self._unflushed >= 64:
            self._unflushed = 0
            await self.writer.drain()

    async def _read(self) -> None:
        prefix = f":{self.bot_nick}!"
        in_channel = f"{self.nick}: "
        while True:
            raw = await self.reader.readline()
            if not raw:
                self.problems.append(f"{self.nick}: the server closed the connection")
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("PING"):
                self.writer.write(b"PONG" + raw[4:])
                continue
            if not line.startswith(prefix):
                continue
            head, _, text = line.partition(" :")
            words = head.split()
            if words[1] in ("QUIT", "PART", "KICK"):
                self.bot_left.append(line)
                continue
            if words[1] != "PRIVMSG" or len(words) < 3:
                continue  # broadcasts are NOTICEs, topic changes are TOPIC
            target = words[2]
            if target == self.nick:
                self._answer_line(text)
            elif target == self.channel and text.startswith(in_channel):
                self._answer_line(text[len(in_channel):])

    def _answer_line(self, text: str) -> None:
        self.answer_lines += 1
        is_separator = text.startswith(SEPARATOR_ANSWER)
        while True:
            if not self._expected:
                self.problems.append(f"an answer nobody asked for: {text!r}")
                return
            expected = self._expected[0]
            if expected.kind is Kind.BURST:
                if not is_separator:
                    expected.lines.append(text)
                    return
                if not expected.lines:
                    self.problems.append(f"no answer to {expected.command!r}")
                self._done()
                continue
            if is_separator != (expected.kind is Kind.SEPARATOR):
                self.problems.append(f"{expected.command!r} answered with {text!r}")
            expected.lines.append(text)
            self._done()
            return

    def _done(self) -> None:
        expected = self._expected.popleft()
        if not self._expected:
            self._idle.set()
        self.answered += 1
        if not expected.answer.done():
            expected.answer.set_result(expected.lines)
        self._slots.release()


async def _until_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      wanted: Callable[[list[str]], bool], within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while True:
            raw = await reader.readline()
            if not raw:
                raise ConnectionError("the IRC server closed the connection")
            if raw.startswith(b"PING"):
                writer.write(b"PONG" + raw[4:])
                continue
            if wanted(raw.decode("utf-8", "replace").split()):
                return


# --- who says what --------------------------------------------------------------------------

Send = Callable[[str, Kind], Awaitable[asyncio.Future[list[str]]]]


async def operator_cycle(say: Send, n: int) -> None:
    """alice (status, incident, escalation): an incident from opening to resolution."""
    opened = await (await say(f"#incident open sev3 Soak {n}: disk latency on db{n % 7}",
                              Kind.ONE))
    found = OPENED.search(opened[0]) if opened else None
    k = found.group(1) if found else "0"
    for text, kind in (
        (f"#incident {k} identified slow disk on db{n % 7}", Kind.ONE),
        (f"#log {k} soak note {n}: replaced the disk", Kind.ONE),
        (f"#status notice Maintenance of db{n % 7} in progress", Kind.ONE),
        (f"#status log Deploy {n} done", Kind.ONE),
        ("#now", Kind.BURST),
        (f"#status alert Database {n % 7} is degraded", Kind.ONE),
        (f"#incident {k} monitoring fix deployed", Kind.ONE),
        ("#status ok", Kind.ONE),
        (f"#incident {k} log", Kind.BURST),
        (f"#incident {k} resolved", Kind.ONE),
        (f"#success soak run {n} went fine", Kind.ONE),
        (f"#thanks bob for soak {n}", Kind.ONE),
        ("#status alrt typo", Kind.ONE),  # malformed
        (f"#incident {k} mitigated", Kind.ONE),  # malformed
        ("#oncall", Kind.ONE),
        ("#playbook disk", Kind.ONE),
    ):
        await say(text, kind)


async def reporter_cycle(say: Send, n: int) -> None:
    """bob (status only): status lines, questions, and incident commands he may not give."""
    for text, kind in (
        (f"#status log bob deployed {n}", Kind.ONE),
        (f"#incident open sev2 bob wants an incident {n}", Kind.ONE),  # refused
        ("#now", Kind.BURST),
        (f"#thanks alice for the fix {n}", Kind.ONE),
        ("#incident list", Kind.BURST),
        (f"#status notice bob says hello {n}", Kind.ONE),
        ("#oncall", Kind.ONE),
    ):
        await say(text, kind)


async def stranger_cycle(say: Send, n: int) -> None:
    """mallory (not on the whitelist): refused, except what anyone may do."""
    for text, kind in (
        (f"#status alert pwned {n}", Kind.ONE),  # refused
        ("#incident 1 resolved", Kind.ONE),  # refused
        (f"#success mallory was here {n}", Kind.ONE),
        ("#now", Kind.BURST),
        ("#status", Kind.ONE),
        ("#log 1 mallory", Kind.ONE),  # refused
    ):
        await say(text, kind)


Cycle = Callable[[Send, int], Awaitable[None]]


class _Quota(Exception):
    """The speaker has given its share of commands."""


async def speak(speaker: Speaker, cycle: Cycle, commands: int, chatter: int) -> None:
    """`commands` commands (cycles cut short at the end) with `chatter` lines among them."""
    per_command = chatter / commands if commands else 0.0
    limit = speaker.commands_sent + commands
    chatter_limit = speaker.chatter_sent + chatter

    async def say(text: str, kind: Kind) -> asyncio.Future[list[str]]:
        # A BURST costs two commands (it brings its separator), and the chatter of two.
        cost = 2 if kind is Kind.BURST else 1
        if speaker.commands_sent + cost > limit:
            raise _Quota
        await speaker.chatter(per_command * cost)
        return await speaker.command(text, kind)

    with contextlib.suppress(_Quota):
        for n in itertools.count():
            await cycle(say, n)
    while speaker.commands_sent < limit:  # a BURST did not fit: one-line commands fill up
        await speaker.chatter(per_command)
        await speaker.command("#thanks everyone", Kind.ONE)
    # What rounding left over: a line or two.
    await speaker.chatter(chatter_limit - speaker.chatter_sent - speaker.chatter_due)
    await speaker.writer.drain()
