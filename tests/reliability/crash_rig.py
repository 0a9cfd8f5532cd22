"""The pieces of the crash-consistency test: operators who type commands on IRC and Matrix
and keep a ledger of what they sent and what the bot acknowledged, watchers who record every
broadcast, and the database queries that say whether a command took effect.

A command is *accepted* when its sender saw the bot's answer: the desk answers only after
the command's transaction committed, so an accepted command must be in the database. A
command whose answer never came (the bot was killed first) may or may not be there, but
never twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sqlalchemy import text as sql

from storage.unit_of_work import Store
from tests.irc_client import Line, RawClient
from tests.matrix_client import MatrixUser

REPLY_WAIT = 60.0
"""How long an operator waits for an answer from a live bot before calling the test failed."""

EVIDENCE = {
    # What one application of each kind of command leaves in the database, by its tag.
    "notice": "SELECT count(*) FROM status_posts WHERE kind = 'notice' AND text = :tag",
    "log": "SELECT count(*) FROM status_posts WHERE kind = 'log' AND text = :tag",
    "alert": "SELECT count(*) FROM status_posts WHERE kind = 'alert' AND text = :tag",
    "ok": "SELECT count(*) FROM status_posts WHERE kind = 'ok' AND text = :tag",
    "open": "SELECT count(*) FROM incidents WHERE title = :tag",
    "note": "SELECT count(*) FROM incident_events WHERE kind = 'note' AND text = :tag",
    "page": "SELECT count(*) FROM pages WHERE text = :tag",
    "resolve": "SELECT count(*) FROM incident_events WHERE kind = 'state' "
               "AND new_value = 'resolved' AND text = :tag",
}

ANSWERS = {
    # How the bot's answer to each kind starts (after `NICK: `).
    "notice": ("Notice sent",),
    "log": ("Logged on the status page.",),
    "alert": ("Alert set", "Alert updated"),
    "ok": ("Alert cleared",),
    "open": ("Opened incident #",),
    "note": ("Noted on incident #",),
    "page": ("Paging bob for incident #",),
    "resolve": ("Incident #",),
}


@dataclass
class Command:
    tag: str
    network: str
    kind: str
    line: str
    round: int
    sent: bool = False
    answer: str | None = None
    while_down: bool = False
    """Sent while the bot was dead (Matrix only: the room keeps it for the restart)."""
    recovered: bool = False
    """Not answered, but found applied after the restart (Matrix)."""

    @property
    def accepted(self) -> bool:
        return self.answer is not None


async def scalar(store: Store, query: str, **params: Any) -> Any:
    async with store.reading() as tx:
        return (await tx.session.execute(sql(query), params)).scalar()


async def rows(store: Store, query: str, **params: Any) -> list[Any]:
    async with store.reading() as tx:
        return list((await tx.session.execute(sql(query), params)).all())


async def applied(store: Store, command: Command) -> int:
    return int(await scalar(store, EVIDENCE[command.kind], tag=command.tag))


@dataclass
class Ledger:
    rng: random.Random
    commands: list[Command] = field(default_factory=list)
    _serial: int = 0

    def new(self, network: str, kind: str, line: str, round_: int, tag: str) -> Command:
        command = Command(tag, network, kind, line, round_)
        self.commands.append(command)
        return command

    def tag(self, network: str) -> str:
        self._serial += 1
        return f"c{self._serial:04d}{network[0]}{self.rng.randrange(16 ** 4):04x}"


class Operator:
    """Types one command at a time and waits for its answer, until told to stop; stopping
    never interrupts a send half-way, so "sent" is always known."""

    network = ""

    def __init__(self, ledger: Ledger, rng: random.Random) -> None:
        self.ledger = ledger
        self.rng = rng
        self.pending: Command | None = None
        """The command sent whose answer has not been seen (yet)."""
        self._since = 0

    async def run(self, round_: int, stop: asyncio.Event) -> None:
        while not stop.is_set():
            kind, line, tag = self.choose()
            command = self.ledger.new(self.network, kind, line, round_, tag)
            since = self.mark()
            await self.send(line)
            command.sent = True
            self.pending = command
            waiting = asyncio.create_task(self.answer(command, since))
            stopped = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([waiting, stopped], timeout=REPLY_WAIT,
                                         return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if waiting in done:
                command.answer = waiting.result()
                self.pending = None
                self.learn(command)
                continue
            waiting.cancel()
            if not done:
                raise AssertionError(f"{self.network}: no answer to {line!r} from a live bot "
                                     f"in {REPLY_WAIT}s")
            self._since = since
            return

    async def settle(self, within: float) -> None:
        """After a kill: an answer already on its way still counts."""
        command = self.pending
        if command is None:
            return
        try:
            command.answer = await asyncio.wait_for(self.answer(command, self._since), within)
        except TimeoutError:
            return
        self.pending = None
        self.learn(command)

    # -- per network -------------------------------------------------------------------

    def choose(self) -> tuple[str, str, str]:
        raise NotImplementedError

    def learn(self, command: Command) -> None:
        """Update what the operator believes of the state from an answer."""

    def mark(self) -> int:
        raise NotImplementedError

    async def send(self, line: str) -> None:
        raise NotImplementedError

    async def answer(self, command: Command, since: int) -> str:
        raise NotImplementedError


class IrcOperator(Operator):
    """Owns the alert: notices, status log entries, alerts and `#status ok`."""

    network = "irc"

    def __init__(self, ledger: Ledger, rng: random.Random, client: RawClient, channel: str,
                 bot_nick: str) -> None:
        super().__init__(ledger, rng)
        self.client = client
        self.channel = channel
        self.bot_nick = bot_nick
        self.alert_on = False

    async def refresh(self, store: Store) -> None:
        self.alert_on = bool(await scalar(store, "SELECT count(*) FROM current_alert"))

    def choose(self) -> tuple[str, str, str]:
        tag = self.ledger.tag(self.network)
        # Topic changes are few, as in real life: the IRC server paces each one.
        kinds = ["notice"] * 4 + ["log", "alert"] + (["ok"] if self.alert_on else [])
        kind = self.rng.choice(kinds)
        line = {"notice": "#status notice {}", "log": "#status log {}",
                "alert": "#status alert {}", "ok": "#status ok {}"}[kind].format(tag)
        return kind, line, tag

    def learn(self, command: Command) -> None:
        if command.kind == "alert":
            self.alert_on = True
        elif command.kind == "ok":
            self.alert_on = False

    def mark(self) -> int:
        return self.client.mark()

    async def send(self, line: str) -> None:
        await self.client.say(self.channel, line)

    async def answer(self, command: Command, since: int) -> str:
        prefixes = tuple(f"{self.client.nick}: {p}" for p in ANSWERS[command.kind])

        def is_answer(line: Line) -> bool:
            return (line.command == "PRIVMSG" and line.nick.startswith(self.bot_nick)
                    and line.params[0].lower() == self.channel.lower()
                    and line.text.startswith(prefixes))

        found = await self.client.wait_for(is_answer, since=since, within=3600)
        return found.text


class MatrixOperator(Operator):
    """Owns an incident at a time: opens it, notes, pages, resolves; also notices and log
    entries. A Matrix room keeps what was said, so a command the bot had not applied when
    it died is applied after the restart: every command sent must take effect once."""

    network = "matrix"

    def __init__(self, ledger: Ledger, rng: random.Random, user: MatrixUser, room: str,
                 bot: str) -> None:
        super().__init__(ledger, rng)
        self.user = user
        self.room = room
        self.bot = bot
        self.incident: int | None = None
        self.paged = False

    async def refresh(self, store: Store) -> None:
        found = await rows(store, "SELECT id FROM incidents WHERE opened_by = :me AND "
                                  "state != 'resolved' ORDER BY id DESC", me=self.user.user_id)
        self.incident = found[0][0] if found else None
        self.paged = bool(self.incident and await scalar(
            store, "SELECT count(*) FROM pages WHERE incident_id = :id", id=self.incident))

    def choose(self) -> tuple[str, str, str]:
        tag = self.ledger.tag(self.network)
        if self.incident is None:
            return "open", f"#incident open sev3 {tag}", tag
        kinds = ["notice"] * 2 + ["log", "note", "note"]
        kinds += ["resolve"] if self.paged else ["page"]
        kind = self.rng.choice(kinds)
        line = {"notice": f"#status notice {tag}", "log": f"#status log {tag}",
                "note": f"#log {self.incident} {tag}", "page": f"#page {self.incident} {tag}",
                "resolve": f"#incident {self.incident} resolved {tag}"}[kind]
        return kind, line, tag

    def learn(self, command: Command) -> None:
        assert command.answer is not None
        if command.kind == "open":
            self.incident = int(re.findall(r"#(\d+)", command.answer)[0])
            self.paged = False
        elif command.kind == "page":
            self.paged = True
        elif command.kind == "resolve":
            self.incident, self.paged = None, False

    def mark(self) -> int:
        return len(self.user.seen)

    async def send(self, line: str) -> None:
        await self.user.say(self.room, line)

    async def answer(self, command: Command, since: int) -> str:
        prefixes = tuple(f"{self.user.user_id}: {p}" for p in ANSWERS[command.kind])
        found = await self.user.wait_for(
            lambda s: s.room_id == self.room and s.sender == self.bot and s.kind == "m.notice"
            and s.body.startswith(prefixes), within=3600, after=since)
        return found.body

    async def say_while_down(self, round_: int) -> None:
        """A notice typed while the bot is dead: the room keeps it for the next start."""
        tag = self.ledger.tag(self.network)
        command = self.ledger.new(self.network, "notice", f"#status notice {tag}", round_, tag)
        command.while_down = True
        await self.send(command.line)
        command.sent = True

    async def recover(self, store: Store, within: float = 60.0) -> None:
        """After a restart: whatever was sent and not answered must now take effect."""
        waiting = [c for c in self.ledger.commands if c.network == self.network and c.sent
                   and not c.accepted and not c.recovered]
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        for command in waiting:
            while await applied(store, command) == 0:
                if loop.time() > end:
                    raise AssertionError(f"matrix: {command.line!r} (round {command.round}) "
                                         f"was sent but never applied after the restart")
                await asyncio.sleep(0.1)
            command.recovered = True
        self.pending = None


class Watchers:
    """Who saw which broadcast where: an IRC client in every channel and a Matrix user in
    every room, counting the bot's `NOTICE: ...` lines."""

    def __init__(self, irc: RawClient, bot_nick: str, matrix: MatrixUser | None,
                 bot_mxid: str | None) -> None:
        self.irc = irc
        self.bot_nick = bot_nick
        self.matrix = matrix
        self.bot_mxid = bot_mxid

    def seen(self) -> Counter[tuple[str, str, str]]:
        """(transport, channel or room id, text) → times seen."""
        counts: Counter[tuple[str, str, str]] = Counter()
        for line in self.irc.lines:
            if (line.command == "NOTICE" and line.nick.startswith(self.bot_nick)
                    and line.params and line.params[0].startswith("#")):
                counts["irc", line.params[0].lower(), line.text] += 1
        if self.matrix is not None:
            events = {s.event_id: s for s in self.matrix.seen
                      if s.sender == self.bot_mxid and s.kind == "m.notice"
                      and s.body.startswith("NOTICE: ")}
            for event in events.values():
                counts["matrix", event.room_id, event.body] += 1
        return counts


@dataclass
class Notice:
    """One queued channel notice and how the outbox settled it."""

    transport: str
    target: str
    text: str
    delivered: bool
    interrupted: bool
    error: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        target = self.target.lower() if self.transport == "irc" else self.target
        return self.transport, target, self.text


async def notices(store: Store) -> list[Notice]:
    found = []
    for payload, delivered_at, failed_at, error in await rows(
            store, "SELECT payload, delivered_at, failed_at, last_error FROM outbox "
                   "WHERE kind = 'notice' ORDER BY id"):
        body = json.loads(payload) if isinstance(payload, str) else payload
        interrupted = failed_at is not None and (error or "").startswith("interrupted")
        found.append(Notice(body["transport"], body["target"], body["text"],
                            delivered_at is not None, interrupted,
                            None if failed_at is None else error))
    return found


async def health(http: aiohttp.ClientSession, port: int) -> dict[str, Any] | None:
    try:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            data: dict[str, Any] = await response.json(content_type=None)
            return data
    except (aiohttp.ClientError, OSError, ValueError):
        return None


def all_joined(status: dict[str, Any] | None, transports: Iterable[str]) -> bool:
    if status is None:
        return False
    for name in transports:
        detail = status.get("transports", {}).get(name)
        if not detail or not detail.get("connected"):
            return False
        if any(state != "joined" for state in detail.get("channels", {}).values()):
            return False
    return True
