"""Identity is a fact about the line, taken when it arrives: the attacks of issue 16 on real
servers (InspIRCd + Anope, ngIRCd), run the way an attacker would.

**The nick swap during the account lookup.** A server without `account-tag` makes the bot ask
(WHOX) who is behind a nick. Mallory, not logged in, holds alice's usual nick and posts
`#status alert PWNED`; while the bot's lookup waits (here: held back by a relay between the
bot and the server, as the bot's paced output would hold it behind other answers), Mallory
leaves the nick and alice's client (logged in under `alice_`) takes it back at once, as ZNC's
keepnick does. The answer to the lookup is then about alice. Before the fix the alert was
accepted as alice; now the bot sees that the nick changed hands after the line arrived and
refuses, saying why and to say it again. Alice's own alert right after is accepted, so the
refusal is not a bot that refuses everything.

Run twice: with the IRCv3 login notifications (extended-join, account-notify: the issue's
server, where the bot's first question about the channel is held back too) and without them
(every command is looked up).

**Private messages from someone who shares no channel with the bot.** The server tells the
bot of a nick's changes only when they share a channel: such a sender's nick could change
hands unseen between the line and the lookup, so the lookup cannot vouch for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.conftest import server_missing
from tests.irc_bot import audit_rows, running_bot, unique
from tests.irc_client import Line, RawClient
from tests.servers.inspircd import InspircdServer, ServerUnavailable, start_inspircd
from tests.servers.tcp_proxy import TcpRelay

SWAP_REFUSAL = ("could not verify your account, so #status alert was not applied: your nick "
                "changed while I was checking your account; say it again")
UNSEEN_REFUSAL = ("could not verify your account, so #status notice was not applied: you "
                  "share no channel with me, so I cannot tell whether your nick changed "
                  "hands; say it in one of my channels")


def _start(*, ircv3: bool) -> InspircdServer:
    try:
        return start_inspircd(account_tag=False, ircv3=ircv3)
    except ServerUnavailable as error:
        server_missing(str(error))
        raise


def _from(nick: str, command: str) -> Callable[[Line], bool]:
    return lambda m: m.command == command and m.nick == nick


async def _held(relay: TcpRelay, prefix: str, within: float = 10.0) -> None:
    for _ in range(int(within / 0.02)):
        if any(line.startswith(prefix) for line in relay.held_upstream):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the bot never sent {prefix!r}: held {relay.held_upstream}")


@pytest.mark.parametrize("ircv3", [True, False], ids=["login-notifications", "no-ircv3"])
async def test_a_nick_taken_back_during_the_account_lookup_is_not_trusted(
        ircv3: bool, sqlite_url: str) -> None:
    server = _start(ircv3=ircv3)
    relay = TcpRelay(server.host, server.port)
    await relay.start()
    alice = unique("alice")
    await server.register(alice, "alice-password-1")
    channel = unique("#ops-")
    nick = unique("desk")
    users = f"  - {{name: alice, roles: [status], irc: {{account: {alice}}}}}\n"
    # Everyone is there before the bot: it learns of them from NAMES, which says nothing
    # of accounts, so it has to ask.
    mallory = await RawClient.connect(server.host, server.port, alice)
    owner = await RawClient.connect(server.host, server.port, f"{alice}_",
                                    sasl=(alice, "alice-password-1"))
    watcher = await RawClient.connect(server.host, server.port, unique("watch"))
    try:
        for client in (mallory, owner, watcher):
            await client.join(channel)
        # The bot's questions to the server wait in the relay until the swap is done.
        relay.hold_upstream_from(lambda line: line.startswith("WHO"))
        async with running_bot(sqlite_url, relay.port, [channel], nick=nick,
                               users=users) as bot:
            await bot.joined()
            since = watcher.mark()
            await mallory.say(channel, "#status alert PWNED")
            await _held(relay, f"WHO {alice} ")
            await mallory.send(f"NICK {unique('mal')}")
            await watcher.wait_for(lambda m: m.command == "NICK" and m.nick == alice,
                                   since=since)
            await owner.send(f"NICK {alice}")
            await watcher.wait_for(lambda m: m.command == "NICK" and m.text == alice,
                                   since=since)
            relay.release_upstream()
            reply = await watcher.wait_for(_from(nick, "PRIVMSG"), since=since)
            assert reply.text == f"{alice}: {SWAP_REFUSAL}"
            await asyncio.sleep(1.0)
            assert not watcher.matching(
                lambda m: m.nick == nick and m.command in ("NOTICE", "TOPIC"), since=since)

            # The same nick, now alice's own: accepted. The refusal above was the swap.
            since = watcher.mark()
            await owner.say(channel, "#status alert the mail relay is down")
            await watcher.wait_for(lambda m: m.command == "NOTICE" and m.nick == nick
                                   and m.text == "NOTICE: the mail relay is down", since=since)
            audit = await audit_rows(bot)
    finally:
        for client in (mallory, owner, watcher):
            await client.close()
        await relay.stop()
        server.cleanup()
    assert [(r.command, r.outcome) for r in audit] == [("#status alert", "refused"),
                                                       ("#status alert", "accepted")]
    refused, accepted = audit
    assert "PWNED" in (refused.text or "")
    assert "account not verified" in (refused.reason or "")
    assert "account=unverified" in (refused.identity or "")
    assert f"account={alice}" in (accepted.identity or "")


async def test_a_private_message_from_outside_every_channel_cannot_borrow_an_account(
        sqlite_url: str) -> None:
    server = _start(ircv3=True)
    alice = unique("alice")
    await server.register(alice, "alice-password-1")
    channel = unique("#ops-")
    nick = unique("desk")
    users = f"  - {{name: alice, roles: [status], irc: {{account: {alice}}}}}\n"
    try:
        async with running_bot(sqlite_url, server.port, [channel], nick=nick,
                               users=users) as bot:
            await bot.joined()
            owner = await RawClient.connect(server.host, server.port, unique("someone"),
                                            sasl=(alice, "alice-password-1"))
            impostor = await RawClient.connect(server.host, server.port, alice)
            watcher = await RawClient.connect(server.host, server.port, unique("watch"))
            try:
                await watcher.join(channel)
                for client in (impostor, owner):
                    since = client.mark()
                    await client.say(nick, "#status notice not from a channel")
                    reply = await client.wait_for(_from(nick, "PRIVMSG"), since=since)
                    assert reply.text == UNSEEN_REFUSAL
                # In a channel the bot is in, her nick's changes are seen: accepted, also
                # by private message.
                await owner.join(channel)
                since = watcher.mark()
                await owner.say(nick, "#status notice it is me")
                await watcher.wait_for(lambda m: m.command == "NOTICE" and m.nick == nick
                                       and m.text == "NOTICE: it is me", since=since)
                since = impostor.mark()
                await impostor.join(channel)
                await impostor.say(nick, "#status notice still not me")
                reply = await impostor.wait_for(_from(nick, "PRIVMSG"), since=since)
                assert reply.text == "you are not authorized to use #status notice"
            finally:
                for client in (owner, impostor, watcher):
                    await client.close()
            audit = await audit_rows(bot)
    finally:
        server.cleanup()
    assert [r.outcome for r in audit] == ["refused", "refused", "accepted", "refused"]
    assert not any("not from a channel" in (r.text or "") and r.outcome == "accepted"
                   for r in audit)
