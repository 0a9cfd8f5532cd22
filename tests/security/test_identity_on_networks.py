"""The identities the authorization table assumes are the ones the transports really verify,
on real servers: what a sender can type or choose (a nick, a display name) never stands in
for what the network vouches for (a services account, the host, the Matrix user id).

- ngIRCd (no services: a "trusted network" for nick entries): a nick entry is accepted; a
  mask entry matches the host the server reports; an account entry's name used as a nick is
  refused, since nobody is logged in to anything there; a mask whose host part does not
  match is refused.
- InspIRCd + Anope: a whitelisted account's name as a nick without the login is refused and
  the logged-in account accepted, under any nick (tests/integration/test_irc_services.py).
- Synapse: a user who takes a whitelisted user's display name (or their user id as display
  name) is still themselves, and refused. Another homeserver with the same localpart is the
  same property (the whole user id is compared); it is covered at the desk level with the
  identity the Matrix transport builds (tests/security/test_authorization.py), as a second
  federating homeserver is out of reach of the test servers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from storage.models import AuditRecord
from tests.conftest import start_ngircd_or_fail
from tests.harness import run_app
from tests.irc_bot import running_bot, unique
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
            store = bot.app.store
            assert store is not None
            async with store.reading() as tx:
                audit = (await tx.session.execute(
                    select(AuditRecord).order_by(AuditRecord.id))).scalars().all()
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
