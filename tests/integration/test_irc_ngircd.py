"""The IRC transport against a real ngIRCd: joins, broadcasts, topics, refusals, restarts,
kicks and hostile text, watched by separate raw IRC clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import load_config_text
from bot.core.ports import DeliveryUnavailable, Message
from bot.transports.irc import IrcTransport
from storage.db import open_store, upgrade
from tests.conftest import start_ngircd_or_fail
from tests.irc_bot import NETWORK, running_bot, unique
from tests.irc_client import Line, RawClient
from tests.servers.ngircd import NgircdServer
from tests.servers.tcp_proxy import TcpRelay

ALICE = "  - {name: alice, roles: [status, incident], irc: {nick: alice}}\n"


@pytest.fixture
def channels() -> list[str]:
    return [unique("#ops-"), unique("#infra-"), unique("#dev-")]


def notices(client: RawClient, text: str, *, since: int = 0) -> list[Line]:
    return client.matching(lambda m: m.command == "NOTICE" and m.text == text, since=since)


async def topics_now(client: RawClient, channels: list[str]) -> dict[str, str | None]:
    return {channel: await client.topic(channel) for channel in channels}


async def set_topics(client: RawClient, topics: dict[str, str]) -> None:
    for channel, topic in topics.items():
        since = client.mark()
        await client.send(f"TOPIC {channel} :{topic}")
        await client.wait_for(lambda m, c=channel: m.command == "TOPIC"  # type: ignore[misc]
                              and m.params[0] == c, since=since)


async def test_alert_everywhere_refusal_and_ok_restores_topics(
    ngircd: NgircdServer, channels: list[str], watcher: RawClient, sqlite_url: str
) -> None:
    nick = unique("desk")
    async with running_bot(sqlite_url, ngircd.port, channels, nick=nick, users=ALICE) as bot:
        await bot.joined()
        # The bot created the channels, so it holds op there.
        await watcher.join(*channels)
        names = watcher.matching(lambda m: m.command == "353")
        assert all(f"@{nick}" in m.text.split() for m in names)
        originals = {c: f"original topic of {c}" for c in channels}
        await set_topics(watcher, originals)

        alice = await RawClient.connect(ngircd.host, ngircd.port, "alice")
        mallory = await RawClient.connect(ngircd.host, ngircd.port, unique("mallory"))
        try:
            await alice.join(channels[0])
            await mallory.join(channels[1])

            # Someone not on the whitelist is refused, and nothing changes.
            since = watcher.mark()
            await mallory.say(channels[1], "#status alert fake outage")
            refusal = await watcher.wait_for(
                lambda m: m.command == "PRIVMSG" and m.nick == nick, since=since)
            assert refusal.params[0] == channels[1]
            assert refusal.text == f"{mallory.nick}: you are not authorized to use #status alert"
            await asyncio.sleep(1.0)
            assert not watcher.matching(lambda m: m.command in ("NOTICE", "TOPIC"), since=since)
            assert await topics_now(watcher, channels) == originals

            # A whitelisted nick: NOTICE and topic in every channel, seen from outside.
            since = watcher.mark()
            await alice.say(channels[0], "#status alert gerrit is down, we are on it")
            for channel in channels:
                await watcher.wait_for(lambda m, c=channel: m.command == "TOPIC"  # type: ignore[misc]
                                       and m.params[0] == c and m.nick == nick, since=since)
            sent = notices(watcher, "NOTICE: gerrit is down, we are on it", since=since)
            assert sorted(m.params[0] for m in sent) == sorted(channels)
            assert all(m.nick == nick for m in sent)
            assert await topics_now(watcher, channels) == {
                c: "gerrit is down, we are on it" for c in channels}
            reply = await alice.wait_for(lambda m: m.command == "PRIVMSG" and m.nick == nick)
            assert reply.text.startswith("alice: Alert set; opened incident #")

            # `#status ok`, addressed to the bot by nick: every original topic comes back.
            since = watcher.mark()
            await alice.say(channels[0], f"{nick}: #status ok all clear")
            for channel in channels:
                await watcher.wait_for(lambda m, c=channel: m.command == "TOPIC"  # type: ignore[misc]
                                       and m.params[0] == c and m.nick == nick, since=since)
            assert await topics_now(watcher, channels) == originals
            assert sorted(m.params[0] for m in notices(watcher, "NOTICE: all clear",
                                                       since=since)) == sorted(channels)
        finally:
            await alice.close()
            await mallory.close()


async def test_topics_restored_after_the_bot_restarted_during_the_alert(
    ngircd: NgircdServer, channels: list[str], watcher: RawClient, sqlite_url: str
) -> None:
    nick = unique("desk")
    async with running_bot(sqlite_url, ngircd.port, channels, nick=nick) as bot:
        await bot.joined()
        await watcher.join(*channels)
        originals = {c: f"before the storm in {c}" for c in channels}
        await set_topics(watcher, originals)
        since = watcher.mark()
        await bot.console("#status alert database failover in progress")
        for channel in channels:
            await watcher.wait_for(lambda m, c=channel: m.command == "TOPIC"  # type: ignore[misc]
                                   and m.params[0] == c and m.nick.startswith(nick), since=since)

    # A new process on the same database: the saved topics are still known.
    async with running_bot(sqlite_url, ngircd.port, channels, nick=nick) as bot:
        await bot.joined()
        assert await topics_now(watcher, channels) == {
            c: "database failover in progress" for c in channels}
        since = watcher.mark()
        await bot.console("#status ok")
        for channel in channels:
            await watcher.wait_for(lambda m, c=channel: m.command == "TOPIC"  # type: ignore[misc]
                                   and m.params[0] == c and m.nick.startswith(nick), since=since)
        assert await topics_now(watcher, channels) == originals


async def test_a_topic_a_human_sets_during_the_alert_is_the_one_restored(
    ngircd: NgircdServer, channels: list[str], watcher: RawClient, sqlite_url: str
) -> None:
    nick = unique("desk")
    async with running_bot(sqlite_url, ngircd.port, channels, nick=nick) as bot:
        await bot.joined()
        await watcher.join(*channels)
        originals = {c: f"original {c}" for c in channels}
        await set_topics(watcher, originals)
        since = watcher.mark()
        await bot.console("#status alert network partition")
        for channel in channels:
            await watcher.wait_for(lambda m, c=channel: m.command == "TOPIC"  # type: ignore[misc]
                                   and m.params[0] == c and m.nick == nick, since=since)
        await set_topics(watcher, {channels[1]: "meeting moved to 15:00"})
        # The bot records it as it sees it: wait for that rather than guess how long it takes.
        for _ in range(200):
            async with bot.app.store.reading() as tx:  # type: ignore[union-attr]
                saved = await tx.topics.get("irc", NETWORK, channels[1])
            if saved is not None and saved.topic == "meeting moved to 15:00":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the human's topic was never saved as the one to restore")
        since = watcher.mark()
        await bot.console("#status ok")
        # The channel whose topic a human set already shows the one to restore.
        for channel in (channels[0], channels[2]):
            await watcher.wait_for(lambda m, c=channel: m.command == "TOPIC"  # type: ignore[misc]
                                   and m.params[0] == c and m.nick == nick, since=since)
        await asyncio.sleep(0.5)
        assert not watcher.matching(lambda m: m.command == "TOPIC" and m.params[0] == channels[1],
                                    since=since)
        assert await topics_now(watcher, channels) == {
            channels[0]: originals[channels[0]],
            channels[1]: "meeting moved to 15:00",
            channels[2]: originals[channels[2]],
        }


async def test_an_alert_posted_while_the_server_is_down_arrives_once_when_it_is_back(
    channels: list[str], sqlite_url: str, tmp_path: Path
) -> None:
    server = start_ngircd_or_fail()
    try:
        nick = unique("desk")
        async with running_bot(sqlite_url, server.port, channels, nick=nick) as bot:
            await bot.joined()
            server.stop()
            for _ in range(200):
                if not bot.irc.health()["connected"]:
                    break
                await asyncio.sleep(0.05)
            assert not bot.irc.health()["connected"]
            replies = await bot.console("#status alert the server room is flooding")
            assert replies[0].startswith("Alert set")
            await asyncio.sleep(1.5)  # the outbox tries, finds the network down, backs off

            server.start()
            # ngIRCd forgets everything in a restart: the watcher is first in the channels
            # again, and sees what the bot sends as soon as it is back.
            watcher = await RawClient.connect(server.host, server.port, unique("watch"))
            try:
                await watcher.join(*channels)
                await bot.joined(within=60)
                text = "NOTICE: the server room is flooding"
                for channel in channels:
                    await watcher.wait_for(lambda m, c=channel: m.command == "NOTICE"  # type: ignore[misc]
                                           and m.params[0] == c and m.text == text, within=30)
                await asyncio.sleep(2.0)  # anything sent twice would have arrived by now
                sent = notices(watcher, text)
                assert sorted(m.params[0] for m in sent) == sorted(channels)
                assert bot.irc.health()["connects"] == 2
            finally:
                await watcher.close()
    finally:
        server.cleanup()


async def test_a_kicked_bot_joins_again(ngircd: NgircdServer, sqlite_url: str) -> None:
    channel = unique("#kick-")
    op = await RawClient.connect(ngircd.host, ngircd.port, unique("chanop"))
    try:
        await op.join(channel)  # first in: the op, not the bot
        nick = unique("desk")
        async with running_bot(sqlite_url, ngircd.port, [channel], nick=nick) as bot:
            await bot.joined()
            since = op.mark()
            await op.send(f"KICK {channel} {nick} :out you go")
            await op.wait_for(lambda m: m.command == "KICK", since=since)
            for _ in range(100):
                if bot.irc.health()["channels"][channel] != "joined":
                    break
                await asyncio.sleep(0.02)
            assert bot.irc.health()["channels"][channel].startswith("kicked by")
            await op.wait_for(lambda m: m.command == "JOIN" and m.nick == nick, since=since,
                              within=30)
            await bot.joined()
            # And it works there again.
            since = op.mark()
            await bot.console("#status notice back in")
            await op.wait_for(lambda m: m.command == "NOTICE" and m.text == "NOTICE: back in",
                              since=since)
    finally:
        await op.close()


async def test_long_and_hostile_text_arrives_as_safe_split_lines(
    ngircd: NgircdServer, channels: list[str], watcher: RawClient, sqlite_url: str
) -> None:
    nick = unique("desk")
    async with running_bot(sqlite_url, ngircd.port, channels[:1], nick=nick) as bot:
        await bot.joined()
        channel = channels[0]
        await watcher.join(channel)

        words = [f"wörd{i}€" for i in range(346)]
        long_text = " ".join(words)
        assert len(long_text) >= 3000
        since = watcher.mark()
        await bot.irc.notice(channel, long_text)
        await watcher.wait_for(lambda m: m.command == "NOTICE" and m.text.endswith("wörd345€"),
                               since=since)
        lines = watcher.matching(lambda m: m.command == "NOTICE", since=since)
        assert len(lines) > 1
        assert all(len(m.raw.encode()) + 2 <= 512 for m in lines)
        assert " ".join(m.text for m in lines) == long_text

        # A wall of text is cut, and says so.
        since = watcher.mark()
        await bot.irc.notice(channel, "flood " * 5000)
        last = await watcher.wait_for(lambda m: m.command == "NOTICE" and m.text.endswith("…"),
                                      since=since, within=30)
        lines = watcher.matching(lambda m: m.command == "NOTICE", since=since)
        assert lines[-1] == last and len(lines) == 16

        since = watcher.mark()
        await bot.irc.send(channel, "all fine\r\nQUIT :pwned\r\nPRIVMSG #x :\x00injected")
        line = await watcher.wait_for(lambda m: m.command == "PRIVMSG" and m.nick == nick,
                                      since=since)
        assert line.text == "all fine QUIT :pwned PRIVMSG #x : injected"
        assert "\r" not in line.raw and "\x00" not in line.raw
        # Still there: nothing of it was taken for a command.
        await asyncio.sleep(0.5)
        assert not watcher.matching(lambda m: m.command == "QUIT", since=since)
        assert bot.irc.health()["connected"]

        # Through the desk, the longest status the grammar takes goes out whole.
        status = ("x" * 9 + " ") * 99 + "end"
        since = watcher.mark()
        await bot.console(f"#status notice {status}")
        await watcher.wait_for(lambda m: m.command == "NOTICE" and m.text.endswith("end"),
                               since=since)
        lines = watcher.matching(lambda m: m.command == "NOTICE", since=since)
        assert " ".join(m.text for m in lines) == f"NOTICE: {status}"
        topic_text = "é" * 600
        await bot.irc.set_topic(channel, topic_text)
        topic = await watcher.topic(channel)
        assert topic is not None and topic.endswith("…") and set(topic[:-1]) == {"é"}


async def test_nick_in_use_fallback_and_private_questions(
    ngircd: NgircdServer, channels: list[str], sqlite_url: str
) -> None:
    nick = unique("desk")
    squatter = await RawClient.connect(ngircd.host, ngircd.port, nick)
    try:
        await squatter.join(channels[0])
        async with running_bot(sqlite_url, ngircd.port, channels[:1], nick=nick) as bot:
            await bot.joined()
            assert bot.irc.health()["nick"] == f"{nick}_"
            # Addressed by the nick it has on this network, it answers as the desk.
            since = squatter.mark()
            await squatter.say(channels[0], f"{nick}_: what's happening?")
            answer = await squatter.wait_for(
                lambda m: m.command == "PRIVMSG" and m.nick == f"{nick}_", since=since)
            assert answer.text.startswith(f"{nick}: ")
            # A private question gets a private answer.
            since = squatter.mark()
            await squatter.say(f"{nick}_", "#now")
            answer = await squatter.wait_for(
                lambda m: m.command == "PRIVMSG" and m.params[0] == nick, since=since)
            assert answer.nick == f"{nick}_"
            assert not answer.text.startswith(nick)
            # CTCP VERSION is answered; other CTCPs are not.
            since = squatter.mark()
            await squatter.say(f"{nick}_", "\x01VERSION\x01")
            reply = await squatter.wait_for(lambda m: m.command == "NOTICE", since=since)
            assert reply.text.startswith("\x01VERSION statusdesk")
            # When the nick is free again, the bot takes it back.
            await squatter.send(f"NICK {unique('gone')}")
            for _ in range(200):
                if bot.irc.health()["nick"] == nick:
                    break
                await asyncio.sleep(0.05)
            assert bot.irc.health()["nick"] == nick
    finally:
        await squatter.close()


async def test_a_nick_freed_out_of_sight_is_taken_back(
    ngircd: NgircdServer, channels: list[str], sqlite_url: str
) -> None:
    # The holder shares no channel with the bot (a failed-over predecessor that died before
    # the bot joined anything): its QUIT never reaches the bot; ISON has to find out.
    nick = unique("desk")
    squatter = await RawClient.connect(ngircd.host, ngircd.port, nick)
    async with running_bot(sqlite_url, ngircd.port, channels[:1], nick=nick) as bot:
        await bot.joined()
        assert bot.irc.health()["nick"] == f"{nick}_"
        await squatter.close()
        for _ in range(600):
            if bot.irc.health()["nick"] == nick:
                break
            await asyncio.sleep(0.05)
        assert bot.irc.health()["nick"] == nick


async def test_a_silent_server_is_declared_dead_and_the_bot_reconnects(
    ngircd: NgircdServer, channels: list[str], sqlite_url: str
) -> None:
    proxy = TcpRelay(ngircd.host, ngircd.port)
    await proxy.start()
    store = open_store(sqlite_url)
    await upgrade(store.engine)
    readies: list[float] = []
    config = load_config_text(
        f"irc: [{{name: testnet, host: 127.0.0.1, port: {proxy.port}, tls: false, "
        f"nick: {unique('desk')}, channels: ['{channels[0]}']}}]\n").irc[0]
    # Shorter than in production (45s / 110s), the same logic.
    transport = IrcTransport(config, address_as="statusdesk", ping_after=1.0, dead_after=3.0,
                             reconnect_base=0.2, reconnect_cap=1.0,
                             on_ready=lambda: readies.append(time.monotonic()))
    received: list[Message] = []

    async def sink(message: Message) -> None:
        received.append(message)

    try:
        await transport.start(sink)
        await until(lambda: transport.health()["channels"][channels[0]] == "joined")
        assert len(readies) == 1
        proxy.freeze()
        await until(lambda: not transport.health()["connected"], within=10)
        # Silent since the last line it got, which may have come just before the freeze
        # (measuring from the freeze made this fail by milliseconds now and then).
        assert transport._conn is not None
        assert 3.0 <= time.monotonic() - transport._conn.last_received < 8.0
        assert transport.health()["last_error"] == "no reply from the server for 3s"
        with pytest.raises(DeliveryUnavailable):
            await transport.notice(channels[0], "nobody hears this")
        proxy.thaw()
        await until(lambda: transport.health()["channels"][channels[0]] == "joined", within=20)
        assert transport.health()["connects"] == 2
        assert len(readies) == 2
    finally:
        await transport.stop()
        await proxy.stop()
        await store.close()


async def test_a_channel_that_refuses_the_bot_is_reported_and_retried(
    ngircd: NgircdServer, channels: list[str], sqlite_url: str
) -> None:
    open_channel, closed = channels[0], channels[1]
    op = await RawClient.connect(ngircd.host, ngircd.port, unique("chanop"))
    try:
        await op.join(closed)
        await op.send(f"MODE {closed} +i")
        await op.wait_for(lambda m: m.command == "MODE" and m.params[0] == closed)
        async with running_bot(sqlite_url, ngircd.port, [open_channel, closed],
                               nick=unique("desk")) as bot:
            await until(lambda: bot.irc.health()["channels"] == {
                open_channel: "joined", closed: "refused: invite only (+i)"})
            # Broadcasts still reach the channel that let us in; the other waits.
            await bot.console("#status notice only where we are")
            with pytest.raises(DeliveryUnavailable, match="invite only"):
                await bot.irc.notice(closed, "hello?")
            since = op.mark()
            await op.send(f"MODE {closed} -i")
            await bot.joined(within=30)
            text = "NOTICE: only where we are"
            await op.wait_for(lambda m: m.command == "NOTICE" and m.text == text, since=since,
                              within=30)
    finally:
        await op.close()


async def until(condition: Callable[[], bool], *, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_tls_verification_and_server_password(channels: list[str], sqlite_url: str
                                                    ) -> None:
    server = start_ngircd_or_fail(tls=True, password="letmein")
    store = open_store(sqlite_url)
    await upgrade(store.engine)

    async def attempt(options: str) -> IrcTransport:
        config = load_config_text(
            f"irc: [{{name: testnet, host: 127.0.0.1, port: {server.tls_port}, "
            f"nick: {unique('desk')}, channels: ['{channels[0]}'], {options}}}]\n").irc[0]
        transport = IrcTransport(config, address_as="statusdesk", reconnect_base=5.0)

        async def sink(_message: Message) -> None:
            return None

        await transport.start(sink)
        return transport

    try:
        # A self-signed certificate is refused while verification is on...
        verified = await attempt("password: letmein")
        try:
            await until(lambda: verified.health()["last_error"] is not None)
            assert verified.health()["last_error"] == (
                "TLS certificate not accepted: self-signed certificate")
            assert not verified.health()["connected"]
        finally:
            await verified.stop()
        # ... accepted with tls_verify: false; and the server password is sent.
        trusting = await attempt("tls_verify: false, password: letmein")
        try:
            await until(lambda: trusting.health()["channels"][channels[0]] == "joined")
            assert trusting.health()["tls"] is True
        finally:
            await trusting.stop()
        wrong = await attempt("tls_verify: false, password: wrong")
        try:
            await until(lambda: wrong.health()["last_error"] is not None)
            assert not wrong.health()["connected"]
            assert wrong.health()["last_error"] == "server said: Access denied: Bad password?"
        finally:
            await wrong.stop()
    finally:
        await store.close()
        server.cleanup()


async def test_a_nick_longer_than_the_servers_nicklen_is_shortened_not_retried_forever(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # ngIRCd's default MaxNickLength is RFC 1459's 9: "statusdesk" itself is refused as
    # erroneous before registration, when nobody knows NICKLEN yet.
    server = start_ngircd_or_fail(nick_length=9)
    channel = unique("#short-")
    try:
        async with running_bot(sqlite_url, server.port, [channel], nick="statusdesk") as bot:
            await bot.joined()
            assert bot.irc.health()["nick"] == "statusdes"
            watcher = await RawClient.connect(server.host, server.port, unique("w")[:9])
            try:
                await watcher.join(channel)
                since = watcher.mark()
                await bot.console("#status notice still here")
                notice = await watcher.wait_for(
                    lambda m: m.command == "NOTICE" and m.text == "NOTICE: still here",
                    since=since)
                assert notice.nick == "statusdes"
            finally:
                await watcher.close()
            # Past a reclaim period: the bot does not keep asking for a nick the server's
            # NICKLEN (now known) will never accept.
            await asyncio.sleep(11)
            assert not [r for r in caplog.records if "could not change nick" in r.getMessage()]
            assert bot.irc.health()["nick"] == "statusdes"
    finally:
        server.cleanup()


async def test_chatter_skips_parsing_but_commands_and_captured_chat_are_handled(
    ngircd: NgircdServer, channels: list[str], sqlite_url: str
) -> None:
    """Issue 21: ordinary lines of a channel nobody captures are dropped unparsed; a command
    there (also addressed by nick), and every line of a captured channel, still count."""
    captured, plain = channels[0], channels[1]
    nick = unique("desk")
    talker = await RawClient.connect(ngircd.host, ngircd.port, unique("talk"))
    try:
        async with running_bot(sqlite_url, ngircd.port, [captured, plain], nick=nick,
                               extra=f"incidents: {{capture: ['{captured}']}}\n") as bot:
            await bot.joined()
            await talker.join(captured)
            await talker.join(plain)
            await bot.console("#incident open Mirror slow")
            conn = bot.irc._conn
            assert conn is not None
            ignored = conn.lines_ignored
            await talker.say(plain, "the mirror is slow again")
            await talker.say(captured, "load on mirror01 is 40")
            since = talker.mark()
            await talker.say(plain, f"{nick.upper()}: what's happening?")
            answer = await talker.wait_for(
                lambda m: m.command == "PRIVMSG" and m.nick == nick, since=since)
            assert answer.params[0] == plain
            assert conn.lines_ignored == ignored + 1  # the plain channel's chatter only
            await bot.app.desk.flush_captured()
            assert bot.app.store is not None
            async with bot.app.store.reading() as tx:
                chats = [(e.actor, e.text) for e in await tx.timeline.entries(1)
                         if e.kind == "chat"]
            assert chats == [(talker.nick, "load on mirror01 is 40")]
    finally:
        await talker.close()
