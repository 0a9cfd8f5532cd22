"""Abuse: a person flooding commands is rate limited per identity with one warning; the bot
itself never exceeds its configured IRC rate and is never disconnected for flooding."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from bot.config import Config, load_config_text
from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.ports import Identity, Message
from commands.auth import Principal, Whitelist
from commands.model import Role
from commands.rate_limit import Allowance, CommandRateLimit
from storage.unit_of_work import Store
from tests.clock import Clock
from tests.figures import record
from tests.harness import run_app, started_app
from tests.irc_bot import NETWORK, Bot, unique
from tests.irc_client import Line, RawClient
from tests.matrix_scene import bot_joined, make_scene
from tests.servers.ngircd import OPERATOR, NgircdServer
from tests.servers.ports import free_port
from tests.servers.synapse import SynapseServer
from tests.servers.tcp_proxy import TcpRelay


class Seconds:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def irc_message(nick: str, text: str, *, account: str | None = None) -> Message:
    identity = Identity(transport="irc", nick=nick, network="oftc", account=account,
                        host_mask=f"{nick}!{nick}@192.0.2.7")
    return Message("irc", "oftc", "#infra", nick, identity, text)


def desk_with_limit(store: Store, seconds: Callable[[], float]) -> Desk:
    whitelist = Whitelist([Principal("alice", frozenset({Role.STATUS}), irc_account="alice")])
    limit = CommandRateLimit(Allowance(burst=3, per_second=0.5),
                             Allowance(burst=6, per_second=1.0), clock=seconds)
    return Desk(store, EventBus(), whitelist, lambda: [], bot_nick="statusdesk", clock=Clock(),
                rate_limit=limit)


async def test_a_flood_gets_one_warning_and_one_audit_row_per_pause(store: Store) -> None:
    seconds = Seconds()
    desk = desk_with_limit(store, seconds)
    answers = []
    for _ in range(100):
        answers.append([r.text for r in await desk.handle(irc_message("mallory", "#now"))])
        seconds.now += 0.05
    answered = [a for a in answers if a and not a[0].startswith("slow down")]
    warnings = [a for a in answers if a and a[0].startswith("slow down")]
    assert len(answered) == 3
    assert warnings == [["slow down — you sent too many commands; ignoring you for 6 s"]]
    assert all(not a for a in answers[4:])
    # Chatter never counts, commands from someone else are answered at once.
    assert await desk.handle(irc_message("mallory", "just talking")) == []
    assert (await desk.handle(irc_message("bob", "#now")))[0].text.startswith("All clear")
    # After the pause: served again, and flooding again is a new period with a new warning.
    seconds.now += 6.0
    again = [[r.text for r in await desk.handle(irc_message("mallory", "#now"))]
             for _ in range(5)]
    assert [bool(a) for a in again] == [True, True, True, True, False]
    assert again[3][0].startswith("slow down")
    async with store.reading() as tx:
        rows = await tx.audit.recent(100, outcome="rate_limited")
    assert len(rows) == 2
    assert {(r.actor, r.command) for r in rows} == {("mallory", "#now")}
    assert all("mask=mallory!mallory@192.0.2.7" in (r.identity or "") for r in rows)
    assert desk.outcomes["rate_limited"] == 97 + 2


async def test_whitelisted_operators_have_a_larger_allowance(store: Store) -> None:
    seconds = Seconds()
    desk = desk_with_limit(store, seconds)
    posted = [await desk.handle(irc_message("alice", "#status log disk replaced",
                                            account="alice")) for _ in range(7)]
    assert [p[0].text for p in posted[:6]] == ["Logged on the status page."] * 6
    assert posted[6][0].text.startswith("slow down")
    # Refusals and usage errors count as well: they are answered too.
    refused = [await desk.handle(irc_message("eve", "#status alert pwned")) for _ in range(4)]
    assert [bool(r) for r in refused] == [True] * 4
    assert refused[3][0].text.startswith("slow down")


# --- on a real IRC server ------------------------------------------------------------------

BOT_RATE = (5, 4.0)
"""The bot's outgoing flood control in these tests: `rate: {burst, per_second}`."""


def irc_config(db_url: str, port: int, channels: list[str], nick: str, *,
               command_limit: str, users: str = "") -> Config:
    chans = ", ".join(f"'{c}'" for c in channels)
    burst, per_second = BOT_RATE
    return load_config_text(
        f"database: {{url: '{db_url}'}}\n"
        f"status_page: {{listen: '127.0.0.1:{free_port()}'}}\n"
        "irc:\n"
        f"  - {{name: {NETWORK}, host: '127.0.0.1', port: {port}, tls: false, nick: {nick},\n"
        f"     channels: [{chans}], rate: {{burst: {burst}, per_second: {per_second}}}}}\n"
        f"commands: {{rate_limit: {command_limit}}}\n"
        + (f"users:\n{users}" if users else "")
    )


async def flooding_client(server: NgircdServer, nick: str) -> RawClient:
    """A client the server lets flood (IRC operator with user mode +F): a real flood
    reaches the bot instead of being slowed to ngIRCd's own 3 lines a second."""
    client = await RawClient.connect(server.host, server.port, nick)
    since = client.mark()
    await client.send(f"OPER {OPERATOR[0]} {OPERATOR[1]}")
    await client.wait_for(lambda m: m.command == "381", since=since)
    await client.send(f"MODE {nick} +F")
    await client.wait_for(lambda m: m.command == "MODE" and "F" in m.text, since=since)
    return client


def overshoot(times: list[float], burst: int, per_second: float) -> float:
    """The most lines any window of `times` held beyond what `burst` + `per_second`·t
    allows (0 or less: the rate was never exceeded). The 0.05 s is the jitter of reading
    lines off a socket, far below one token's worth of time."""
    worst = float("-inf")
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            allowed = burst + per_second * (times[j] - start + 0.05)
            worst = max(worst, (j - i + 1) - allowed)
    return worst


def peak_per_second(times: list[float]) -> int:
    return max((sum(1 for t in times[i:] if t - start < 1.0) for i, start in
                enumerate(times)), default=0)


def bot_lines(tap: TcpRelay) -> list[tuple[float, str]]:
    """What the bot sent once its output went through its token bucket: from its first
    JOIN on (registration is before it), without PONG (answered by the library at once)."""
    first = next(i for i, (_, line) in enumerate(tap.sent) if line.startswith("JOIN"))
    return [(t, line) for t, line in tap.sent[first:] if not line.startswith("PONG")]


def addressed_to(nick: str, text: str) -> Callable[[Line], bool]:
    def match(line: Line) -> bool:
        return line.command == "PRIVMSG" and line.text.startswith(f"{nick}: {text}")
    return match


@asynccontextmanager
async def tapped_bot(ngircd: NgircdServer, tmp_path: Path, channels: list[str], *,
                     command_limit: str, users: str = ""
                     ) -> AsyncIterator[tuple[Bot, TcpRelay]]:
    tap = TcpRelay(ngircd.host, ngircd.port)
    await tap.start()
    nick = unique("desk")
    config = irc_config(f"sqlite+aiosqlite:///{tmp_path / 'abuse.db'}", tap.port, channels,
                        nick, command_limit=command_limit, users=users)
    try:
        async with started_app(config) as app:
            bot = Bot(app, nick)
            await bot.joined()
            yield bot, tap
    finally:
        await tap.stop()


async def test_an_irc_flooder_gets_one_warning_while_others_are_served(
        ngircd: NgircdServer, tmp_path: Path) -> None:
    channel = unique("#abuse")
    # 5 commands, then one every 2.5 s: a flood pauses the flooder for 12.5 s.
    async with tapped_bot(ngircd, tmp_path, [channel],
                          command_limit="{burst: 5, per_second: 0.4}") as (bot, tap):
        watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
        bob = await RawClient.connect(ngircd.host, ngircd.port, unique("bob"))
        flooder = await flooding_client(ngircd, unique("flood"))
        for client in (watcher, bob, flooder):
            await client.join(channel)
        since = watcher.mark()
        started = time.monotonic()

        async def flood(count: int, seconds: float) -> None:
            for n in range(count):
                await flooder.say(channel, "#now")
                await asyncio.sleep(started + (n + 1) * seconds / count - time.monotonic())

        flooding = asyncio.create_task(flood(200, 10.0))
        await asyncio.sleep(3.0)
        bob_asked = time.monotonic()
        await bob.say(channel, "#now")
        await watcher.wait_for(addressed_to(bob.nick, "All clear"), since=since, within=20)
        bob_waited = time.monotonic() - bob_asked
        await flooding
        flood_seconds = time.monotonic() - started

        warning = await watcher.wait_for(addressed_to(flooder.nick, "slow down"), since=since)
        told = re.fullmatch(f"{flooder.nick}: slow down — you sent too many commands; "
                            r"ignoring you for (\d+) s", warning.text)
        assert told is not None, warning.text
        # The pause lasts until the bucket is full again: 12.5 s from empty, less by what
        # trickled back while the first answers were going out.
        pause = int(told.group(1))
        assert 8 <= pause <= 13
        warned_at = watcher.received_at[watcher.lines.index(warning)]
        await asyncio.sleep(max(0.0, warned_at + pause + 0.5 - time.monotonic()))
        again = watcher.mark()
        await flooder.say(channel, "#now")
        await watcher.wait_for(addressed_to(flooder.nick, "All clear"), since=again, within=20)

        answers = watcher.matching(addressed_to(flooder.nick, "All clear"), since=since)
        warnings = watcher.matching(addressed_to(flooder.nick, "slow down"), since=since)
        assert len(answers) == 5 + 1
        assert len(warnings) == 1
        assert bob_waited < 5.0, f"bob waited {bob_waited:.1f}s behind the flood"
        assert bot.app.store is not None
        async with bot.app.store.reading() as tx:
            audited = await tx.audit.recent(50, outcome="rate_limited")
        assert [(r.actor, r.command) for r in audited] == [(flooder.nick, "#now")]
        assert bot.irc.health()["connects"] == 1 and tap.connections == 1
        sent = [t for t, _ in bot_lines(tap)]
        assert overshoot(sent, *BOT_RATE) <= 0
        record("abuse", f"IRC flooder sent 200 commands in {flood_seconds:.0f} s: "
                        f"{len(warnings)} warning, {len(answers) - 1} answered during the flood "
                        f"(+1 after the {pause} s pause), 1 audit row; "
                        f"another user answered after {bob_waited:.1f} s")
        for client in (watcher, bob, flooder):
            await client.close()


async def test_the_bot_keeps_its_rate_and_its_connection_when_everyone_talks_at_once(
        ngircd: NgircdServer, tmp_path: Path) -> None:
    channels = [unique("#busy") for _ in range(3)]
    alice_nick = unique("alice")
    users = f"  - {{name: alice, roles: [status], irc: {{nick: {alice_nick}}}}}\n"
    async with tapped_bot(ngircd, tmp_path, channels, users=users,
                          command_limit="{burst: 10, per_second: 0.5}") as (bot, tap):
        watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
        alice = await RawClient.connect(ngircd.host, ngircd.port, alice_nick)
        askers = [await RawClient.connect(ngircd.host, ngircd.port, unique("user"))
                  for _ in range(5)]
        flooder = await flooding_client(ngircd, unique("flood"))
        for client in (watcher, alice, flooder, *askers):
            await client.join(*channels)
        since = watcher.mark()
        # 5 × 4 questions and the flooder's 10 answers and warning: under the 50 answers
        # that may wait per network, so every one of them is answered.
        questions = ["#now", "#status help", "#incident help", "#now"]

        async def ask(client: RawClient, channel: str) -> None:
            for question in questions:
                await client.say(channel, question)

        async def flood() -> None:
            for _ in range(100):
                await flooder.say(channels[0], "#status help")
                await asyncio.sleep(0.05)

        talking = [asyncio.create_task(ask(c, channels[n % 3])) for n, c in enumerate(askers)]
        talking.append(asyncio.create_task(flood()))
        await asyncio.sleep(1.0)
        alert_sent = time.monotonic()
        await alice.say(channels[1], "#status alert Database cluster down")
        notices = [await watcher.wait_for(
            lambda m, c=c: m.command == "NOTICE" and m.params[0].lower() == c.lower()  # type: ignore[misc]
            and m.text == "NOTICE: Database cluster down", since=since, within=120)
            for c in channels]
        alert_seen = max(watcher.received_at[watcher.lines.index(n)] for n in notices)
        alert_latency = alert_seen - alert_sent
        await asyncio.gather(*talking)
        for client in askers:
            await watcher.wait_for(
                lambda m, n=client.nick: len(watcher.matching(  # type: ignore[misc]
                    lambda x: x.command == "PRIVMSG" and x.text.startswith(f"{n}: "),
                    since=since)) >= len(questions), since=since, within=120)
        await watcher.wait_for(addressed_to(flooder.nick, "slow down"), since=since, within=120)
        await alice.say(channels[1], "#status ok all good again")
        for channel in channels:
            await watcher.wait_for(
                lambda m, c=channel: m.command == "NOTICE"  # type: ignore[misc]
                and m.params[0].lower() == c.lower() and m.text == "NOTICE: all good again",
                since=since, within=120)
        await wait_until_quiet(tap)

        sent = bot_lines(tap)
        times = [t for t, _ in sent]
        busy = [t for t in times if t >= alert_sent - 1.0]
        assert overshoot(times, *BOT_RATE) <= 0
        assert bot.irc.health()["connects"] == 1 and tap.connections == 1
        assert not watcher.matching(lambda m: m.command == "QUIT" and m.nick == bot.nick)
        log = (ngircd.directory / "ngircd.log").read_text(errors="replace")
        assert "Receive buffer space exhausted" not in log
        seen = [at for line, at in zip(watcher.lines, watcher.received_at, strict=True)
                if line.nick == bot.nick and line.command in ("PRIVMSG", "NOTICE", "TOPIC")]
        sustained = (len(busy) - 1) / (busy[-1] - busy[0])
        flood_answers = len(watcher.matching(addressed_to(flooder.nick, "#status alert"),
                                             since=since))
        assert flood_answers == 10
        assert alert_latency < 5.0, f"the alert took {alert_latency:.1f}s to go out"
        record("abuse", f"IRC output under load ({len(askers)} users + 1 flooder + alert/ok "
                        f"on {len(channels)} channels, rate burst {BOT_RATE[0]} "
                        f"per_second {BOT_RATE[1]}): {len(sent)} lines sent, peak "
                        f"{peak_per_second(times)} lines in a second, {sustained:.2f}/s "
                        f"sustained; watcher peak {peak_per_second(seen)}/s; alert out "
                        f"after {alert_latency:.1f} s; 0 disconnects")
        for client in (watcher, alice, flooder, *askers):
            await client.close()


async def wait_until_quiet(tap: TcpRelay, quiet: float = 2.0, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if tap.sent and time.monotonic() - tap.sent[-1][0] >= quiet:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the bot never stopped sending")


# --- on Matrix -----------------------------------------------------------------------------


async def test_a_matrix_flooder_gets_one_warning(synapse: SynapseServer, tmp_path: Path
                                                 ) -> None:
    scene = await make_scene(synapse)
    mallory, alice = scene.mallory, scene.alice
    config = scene.config() + "commands: {rate_limit: {burst: 5, per_second: 0.1}}\n"
    try:
        async with run_app(f"sqlite+aiosqlite:///{tmp_path / 'abuse.db'}", tmp_path,
                           config) as running:
            await bot_joined(running, scene, scene.rooms)
            mark = len(alice.seen)
            for _ in range(15):
                await mallory.say(scene.ops, "#now")
            await alice.say(scene.ops, "#now")
            # Answers leave in the order the commands came: Alice's is after all of Mallory's.
            await alice.wait_for(lambda s: s.sender == scene.bot
                                 and s.body.startswith(f"{alice.user_id}: "), after=mark,
                                 within=60)
            to_mallory = [s.body for s in alice.seen[mark:]
                          if s.sender == scene.bot and s.body.startswith(f"{mallory.user_id}: ")]
            answers = [b for b in to_mallory if "All clear" in b]
            warnings = [b for b in to_mallory if "slow down" in b]
            assert len(answers) == 5
            assert len(warnings) == 1
            told = re.fullmatch(re.escape(mallory.user_id) + ": slow down — you sent too many "
                                r"commands; ignoring you for (\d+) s", warnings[0])
            assert told is not None and 45 <= int(told.group(1)) <= 50, warnings[0]
            assert len(to_mallory) == 5 * 2 + 1  # "All clear" and the page link, each
            assert running.app.store is not None
            async with running.app.store.reading() as tx:
                audited = await tx.audit.recent(50, outcome="rate_limited")
            assert len(audited) == 1 and f"mxid={mallory.user_id}" in (audited[0].identity or "")
            record("abuse", "Matrix flooder sent 15 commands: 5 answered, 1 warning, "
                            "1 audit row; a whitelisted user answered right after")
    finally:
        await alice.close()
        await mallory.close()
