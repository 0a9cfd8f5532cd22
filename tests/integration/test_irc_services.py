"""The IRC transport against InspIRCd with Anope services: SASL login, and the whitelist
matching services accounts (account-tag), not nicks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests import secrets
from tests.conftest import server_missing
from tests.irc_bot import running_bot, unique
from tests.irc_client import RawClient
from tests.servers.inspircd import InspircdServer, ServerUnavailable, start_inspircd


@pytest.fixture(scope="module")
def inspircd() -> Iterator[InspircdServer]:
    try:
        server = start_inspircd()
    except ServerUnavailable as error:
        server_missing(str(error))
        raise
    try:
        yield server
    finally:
        server.cleanup()


async def test_sasl_login_and_account_based_whitelist(
    inspircd: InspircdServer, sqlite_url: str
) -> None:
    bot_account, alice = unique("deskacct"), unique("alice")
    await inspircd.register(bot_account, secrets.IRC_SASL_PASSWORD)
    await inspircd.register(alice, "alice-password-1")
    channel = unique("#ops-")
    users = f"  - {{name: alice, roles: [status], irc: {{account: {alice}}}}}\n"
    sasl = f", sasl: {{username: {bot_account}, password: {secrets.IRC_SASL_PASSWORD}}}"
    nick = unique("desk")
    async with running_bot(sqlite_url, inspircd.port, [channel], nick=nick, users=users,
                           network_extra=sasl) as bot:
        await bot.joined()
        health = bot.irc.health()
        assert health["account"] == bot_account and health["sasl"] == "ok"
        assert {"sasl", "account-tag", "account-notify", "extended-join", "message-tags",
                "multi-prefix", "server-time"} <= set(health["caps"])

        watcher = await RawClient.connect(inspircd.host, inspircd.port, unique("watch"))
        # Logged in to the whitelisted account, under whatever nick: accepted.
        owner = await RawClient.connect(inspircd.host, inspircd.port, unique("someone"),
                                        sasl=(alice, "alice-password-1"))
        # The account's own name as a nick, not logged in: refused.
        impostor = await RawClient.connect(inspircd.host, inspircd.port, alice)
        try:
            await watcher.join(channel)
            await owner.join(channel)
            await impostor.join(channel)

            since = watcher.mark()
            await impostor.say(channel, "#status alert not really")
            refusal = await watcher.wait_for(
                lambda m: m.command == "PRIVMSG" and m.nick == nick, since=since)
            assert refusal.text == f"{alice}: you are not authorized to use #status alert"
            await asyncio.sleep(0.5)
            assert not watcher.matching(lambda m: m.command in ("NOTICE", "TOPIC"),
                                        since=since)

            since = watcher.mark()
            await owner.say(channel, "#status alert the mail relay is down")
            await watcher.wait_for(lambda m: m.command == "NOTICE"
                                   and m.text == "NOTICE: the mail relay is down", since=since)
            await watcher.wait_for(lambda m: m.command == "TOPIC"
                                   and m.text == "the mail relay is down", since=since)

            # Logging in later counts too (account-notify), and a private message works.
            since = impostor.mark()
            await impostor.say("NickServ", "IDENTIFY alice-password-1")
            await impostor.wait_for(lambda m: m.command == "900", since=since)
            since = watcher.mark()
            await impostor.say(nick, "#status notice relay restarted")
            await watcher.wait_for(lambda m: m.command == "NOTICE"
                                   and m.text == "NOTICE: relay restarted", since=since)
        finally:
            for client in (watcher, owner, impostor):
                await client.close()


async def test_a_wrong_sasl_password_is_reported(
    inspircd: InspircdServer, sqlite_url: str
) -> None:
    account = unique("deskacct")
    await inspircd.register(account, "right-password")
    channel = unique("#ops-")
    # A wrong password, and one the secret scan knows: its failure must not print it.
    sasl = f", sasl: {{username: {account}, password: '{secrets.IRC_SASL_PASSWORD}'}}"
    async with running_bot(sqlite_url, inspircd.port, [channel], nick=unique("desk"),
                           network_extra=sasl) as bot:
        await bot.joined()
        health = bot.irc.health()
        assert health["account"] is None
        assert health["sasl"].startswith("failed: SASL authentication failed")
        assert secrets.IRC_SASL_PASSWORD not in str(health)


async def test_without_account_tag_the_bot_looks_accounts_up(sqlite_url: str) -> None:
    try:
        server = start_inspircd(account_tag=False)
    except ServerUnavailable as error:
        server_missing(str(error))
        raise
    try:
        alice = unique("alice")
        await server.register(alice, "alice-password-1")
        channel = unique("#ops-")
        users = f"  - {{name: alice, roles: [status], irc: {{account: {alice}}}}}\n"
        nick = unique("desk")
        # Both are in the channel before the bot: NAMES tells it nothing of accounts, so only
        # a lookup (WHOX) can tell who they are. (Someone sharing no channel with the bot
        # cannot be vouched for by a lookup at all: tests/security/test_identity_race.py.)
        owner = await RawClient.connect(server.host, server.port, unique("someone"),
                                        sasl=(alice, "alice-password-1"))
        impostor = await RawClient.connect(server.host, server.port, alice)
        watcher = await RawClient.connect(server.host, server.port, unique("watch"))
        try:
            for client in (owner, impostor, watcher):
                await client.join(channel)
            async with running_bot(sqlite_url, server.port, [channel], nick=nick,
                                   users=users) as bot:
                await bot.joined()
                assert "account-tag" not in bot.irc.health()["caps"]
                since = impostor.mark()
                await impostor.say(nick, "#status notice not me")
                refusal = await impostor.wait_for(
                    lambda m: m.command == "PRIVMSG" and m.nick == nick, since=since)
                assert refusal.text == "you are not authorized to use #status notice"
                since = watcher.mark()
                await owner.say(nick, "#status notice it is me")
                await watcher.wait_for(lambda m: m.command == "NOTICE"
                                       and m.text == "NOTICE: it is me", since=since)
                assert not watcher.matching(lambda m: m.text == "NOTICE: not me")
        finally:
            for client in (owner, impostor, watcher):
                await client.close()
    finally:
        server.cleanup()
