"""The identities the authorization table assumes are the ones the transports really verify,
on real servers: what a sender can type or choose (a nick, a display name) never stands in
for what the network vouches for (a services account, the host, the Matrix user id).

- ngIRCd (no services: a "trusted network" for nick entries): a nick entry is accepted; a
  mask entry matches the host the server reports; an account entry's name used as a nick is
  refused, since nobody is logged in to anything there; a mask whose host part does not
  match is refused.
- ngIRCd's case mapping (`ascii`): `{x}` is not a whitelisted `[x]`, and a mask `[m]!*@*` is
  not the nick `m`.
- Only a plain PRIVMSG is a command: NOTICE, CTCP ACTION, `@#chan`, CTCP to the bot are not,
  from anyone; each addressing form is judged on the sender's own identity.
- InspIRCd + Anope: a whitelisted account's name as a nick without the login is refused and
  the logged-in account accepted, under any nick (tests/integration/test_irc_services.py).
- Synapse: notices, emotes, a forged `sender` inside the content, an HTML body and a display
  name that is the whitelisted user id change nothing: only the stamped sender of an `m.text`.
- Synapse: a user who takes a whitelisted user's display name (or their user id as display
  name) is still themselves, and refused. Another homeserver with the same localpart is the
  same property (the whole user id is compared); it is covered at the desk level with the
  identity the Matrix transport builds (tests/security/test_authorization.py), as a second
  federating homeserver is out of reach of the test servers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import start_ngircd_or_fail
from tests.harness import run_app
from tests.irc_bot import audit_rows, running_bot, unique
from tests.irc_client import RawClient
from tests.matrix_scene import TOPIC_OPS, Scene, bot_joined


async def test_nick_mask_and_account_entries_on_ngircd(sqlite_url: str) -> None:
    server = start_ngircd_or_fail()
    channel = unique("#ops-")
    nick = unique("desk")
    trusted, masked, other_host, account = (unique("tn"), unique("mk"), unique("oh"),
                                            unique("ac"))
    users = (
        f"  - {{name: trusted, roles: [status], irc: {{nick: {trusted}}}}}\n"
        f"  - {{name: masked, roles: [status], irc: {{mask: '{masked}!*@*'}}}}\n"
        f"  - {{name: elsewhere, roles: [status],"
        f" irc: {{mask: '{other_host}!*@*.ops.example.org'}}}}\n"
        f"  - {{name: accounted, roles: [status], irc: {{account: {account}}}}}\n"
    )
    try:
        async with running_bot(sqlite_url, server.port, [channel], nick=nick,
                               users=users) as bot:
            await bot.joined()
            watcher = await RawClient.connect(server.host, server.port, unique("watch"))
            clients = {name: await RawClient.connect(server.host, server.port, name)
                       for name in (trusted, masked, other_host, account)}
            try:
                await watcher.join(channel)
                for client in clients.values():
                    await client.join(channel)

                async def reply_to(sender: str, text: str) -> str:
                    since = watcher.mark()
                    await clients[sender].say(channel, text)
                    line = await watcher.wait_for(
                        lambda m: m.command == "PRIVMSG" and m.nick == nick, since=since)
                    return line.text

                refusal = "you are not authorized to use #status log"
                assert await reply_to(trusted, "#status log by nick") == \
                    f"{trusted}: Logged on the status page."
                assert await reply_to(masked, "#status log by mask") == \
                    f"{masked}: Logged on the status page."
                assert await reply_to(other_host, "#status log by the wrong host") == \
                    f"{other_host}: {refusal}"
                assert await reply_to(account, "#status log without a login") == \
                    f"{account}: {refusal}"
            finally:
                for client in (watcher, *clients.values()):
                    await client.close()
            audit = await audit_rows(bot)
    finally:
        server.cleanup()
    by_actor = {record.actor: record for record in audit}
    assert {a: (r.outcome, r.command) for a, r in by_actor.items()} == {
        trusted: ("accepted", "#status log"), masked: ("accepted", "#status log"),
        other_host: ("refused", "#status log"), account: ("refused", "#status log")}
    # What was verified: the mask as the server reported it (loopback), no account.
    masked_identity = by_actor[masked].identity or ""
    assert masked_identity.startswith("masked via irc/") and f"mask={masked}!" in \
        masked_identity
    assert "account=" not in (by_actor[account].identity or "")


async def test_a_display_name_proves_nothing_on_matrix(scene: Scene, sqlite_url: str,
                                                       tmp_path: Path) -> None:
    mallory, alice = scene.mallory, scene.alice
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        for disguise in ("alice", alice.user_id):
            await mallory.client.set_displayname(disguise)
            mark = len(mallory.seen)
            await mallory.say(scene.ops, "#status alert pwned")
            reply = await mallory.wait_for(scene.from_bot(scene.ops), after=mark)
            assert reply.body == \
                f"{mallory.user_id}: you are not authorized to use #status alert"
        mark = len(alice.seen)
        await alice.say(scene.ops, "#status log alice herself")
        # Alice's client may still be catching up on the answers to Mallory.
        from_bot = scene.from_bot(scene.ops)
        reply = await alice.wait_for(
            lambda seen: from_bot(seen) and seen.body.startswith(f"{alice.user_id}:"),
            after=mark)
        assert reply.body == f"{alice.user_id}: Logged on the status page."
        await asyncio.sleep(0.5)
        assert await alice.topic(scene.ops) == TOPIC_OPS
        store = running.app.store
        assert store is not None
        async with store.reading() as tx:
            refused = await tx.audit.recent(10, outcome="refused")
        assert [(r.actor, r.command) for r in refused] == [
            (mallory.user_id, "#status alert")] * 2
        assert all(f"mxid={mallory.user_id}" in (r.identity or "") for r in refused)


async def test_the_servers_case_mapping_decides_which_nicks_are_one(sqlite_url: str) -> None:
    """ngIRCd advertises CASEMAPPING=ascii: `[x]` and `{x}` are two nicks there, two people.
    Whitelisting `[x]` must not let `{x}` in (issue 16, attack 2: it did, by RFC 1459
    folding), nor may a mask entry `[m]!*@*` match the nick `m` (a character class to
    fnmatch, a plain bracket to IRC)."""
    server = start_ngircd_or_fail()
    channel = unique("#ops-")
    nick = unique("desk")
    stem, mask_stem = unique("x"), unique("m")
    square, curly = f"[{stem}]", f"{{{stem}}}"
    users = (f"  - {{name: square, roles: [status], irc: {{nick: '{square}'}}}}\n"
             f"  - {{name: masked, roles: [status], irc: {{mask: '[{mask_stem}]!*@*'}}}}\n")
    try:
        async with running_bot(sqlite_url, server.port, [channel], nick=nick,
                               users=users) as bot:
            await bot.joined()
            watcher = await RawClient.connect(server.host, server.port, unique("watch"))
            impostors = [await RawClient.connect(server.host, server.port, name)
                         for name in (curly, mask_stem, f"{{{mask_stem}}}")]
            owner = await RawClient.connect(server.host, server.port, square)
            try:
                assert any("CASEMAPPING=ascii" in line.raw for line in watcher.lines)
                for client in (watcher, *impostors, owner):
                    await client.join(channel)
                for impostor in impostors:
                    since = watcher.mark()
                    await impostor.say(channel, "#status alert pwned")
                    reply = await watcher.wait_for(
                        lambda m: m.command == "PRIVMSG" and m.nick == nick, since=since)
                    assert reply.text == \
                        f"{impostor.nick}: you are not authorized to use #status alert"
                since = watcher.mark()
                await owner.say(channel, "#status log the real one")
                reply = await watcher.wait_for(
                    lambda m: m.command == "PRIVMSG" and m.nick == nick, since=since)
                assert reply.text == f"{square}: Logged on the status page."
                assert not watcher.matching(lambda m: m.nick == nick
                                            and m.command in ("NOTICE", "TOPIC"))
            finally:
                for client in (watcher, *impostors, owner):
                    await client.close()
    finally:
        server.cleanup()


async def test_only_a_plain_message_is_a_command_whatever_its_form(sqlite_url: str) -> None:
    """Every other way a line can reach the bot: a NOTICE, a CTCP ACTION (`/me`), a message
    to the channel's operators (`@#chan`, STATUSMSG), a CTCP to the bot. None of them is a
    command, from anyone; and every addressing form of a real command is judged on the
    sender's own identity (the whitelisted nick's, the stranger's)."""
    server = start_ngircd_or_fail()
    channel = unique("#ops-")
    nick = unique("desk")
    trusted, stranger = unique("tn"), unique("st")
    users = f"  - {{name: trusted, roles: [status], irc: {{nick: {trusted}}}}}\n"
    odd_forms = [f"NOTICE {channel} :#status alert by notice",
                 f"PRIVMSG {channel} :\x01ACTION #status alert by action\x01",
                 f"PRIVMSG @{channel} :#status alert to the operators",
                 f"NOTICE {nick} :#status alert by private notice",
                 f"PRIVMSG {nick} :\x01ACTION #status alert privately\x01",
                 f"PRIVMSG {nick} :\x01STATUS alert by ctcp\x01"]
    addressed = [f"{nick}: #status log one", f"{nick}, #status log two",
                 f"@{nick} #status log three"]
    try:
        async with running_bot(sqlite_url, server.port, [channel], nick=nick,
                               users=users) as bot:
            await bot.joined()
            await bot.irc.set_topic(channel, "calm")
            watcher = await RawClient.connect(server.host, server.port, unique("watch"))
            clients = {name: await RawClient.connect(server.host, server.port, name)
                       for name in (trusted, stranger)}
            try:
                await watcher.join(channel)
                for client in clients.values():
                    await client.join(channel)
                # Bot is channel operator (it created the channel): @#chan reaches it.
                since = watcher.mark()
                for client in clients.values():
                    for line in odd_forms:
                        await client.send(line)
                for client in clients.values():
                    for text in addressed:
                        await client.say(channel, text)
                    await client.say(nick, "#status log private")
                # Replies to channel commands go to the channel; the private ones privately.
                for _ in range(300):
                    if len(watcher.matching(lambda m: m.nick == nick, since=since)) >= 6:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
                from_bot = watcher.matching(lambda m: m.nick == nick, since=since)
            finally:
                for client in (watcher, *clients.values()):
                    await client.close()
            audit = await audit_rows(bot)
    finally:
        server.cleanup()
    refusal = "you are not authorized to use #status log"
    assert sorted(f"{m.command} {m.text}" for m in from_bot) == sorted(
        [f"PRIVMSG {trusted}: Logged on the status page."] * 3
        + [f"PRIVMSG {stranger}: {refusal}"] * 3)
    # Nothing of the odd forms reached the desk: no alert, no audit row for them.
    assert {(r.actor, r.command, r.outcome) for r in audit} == {
        (trusted, "#status log", "accepted"), (stranger, "#status log", "refused")}
    assert len(audit) == 8
    assert not any("alert" in (r.text or "") for r in audit)


async def test_on_matrix_only_the_stamped_sender_of_a_text_message_counts(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    """What a Matrix client can put in an event besides its text: a notice or an emote (not
    commands, from anyone), a `sender` or `user_id` of its choosing inside the content, a
    display name that is the whitelisted user id, an HTML body saying something else, a
    mention of the whitelisted user. The homeserver stamps the real sender on the event;
    that is all the bot reads."""
    mallory, alice = scene.mallory, scene.alice
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        await mallory.client.set_displayname(alice.user_id)
        for content in (
                {"msgtype": "m.notice", "body": "#status alert by notice"},
                {"msgtype": "m.emote", "body": "#status alert by emote"},
                {"msgtype": "m.text", "body": "#status alert forged sender",
                 "sender": alice.user_id, "user_id": alice.user_id},
                {"msgtype": "m.text", "body": "#status alert html",
                 "format": "org.matrix.custom.html",
                 "formatted_body": f'<a href="https://matrix.to/#/{alice.user_id}">alice</a>'
                                   " #status alert html"}):
            mark = len(mallory.seen)
            response = await mallory.client.room_send(scene.ops, "m.room.message", content,
                                                      ignore_unverified_devices=True)
            assert hasattr(response, "event_id"), response
            if content["msgtype"] == "m.text":
                reply = await mallory.wait_for(scene.from_bot(scene.ops), after=mark)
                assert reply.body == \
                    f"{mallory.user_id}: you are not authorized to use #status alert"
        await asyncio.sleep(1.0)
        assert await alice.topic(scene.ops) == TOPIC_OPS
        store = running.app.store
        assert store is not None
        async with store.reading() as tx:
            refused = await tx.audit.recent(10, outcome="refused")
            accepted = await tx.audit.recent(10, outcome="accepted")
        assert not accepted
        assert sorted((r.actor, r.text) for r in refused) == sorted(
            [(mallory.user_id, "#status alert forged sender"),
             (mallory.user_id, "#status alert html")])
