"""A COMMIT whose answer is lost does not apply a command twice (issue 17).

PostgreSQL commits a command's transaction, and the connection breaks before the bot hears
so (a relay passes the COMMIT and drops the answer). The bot cannot tell whether it
committed, and retries the command on a new connection. Every IRC line that may be a command
carries a key of its own from the moment it arrives (the server's `msgid`, or one the bot
makes), claimed in the command's own transaction: the retry finds the key claimed and does
not apply the command again, and the operator is told it was applied. Before, the retry
applied it a second time (two status log entries, two announcements).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text as sql

from tests.conftest import start_ngircd_or_fail
from tests.irc_bot import running_bot, unique
from tests.irc_client import RawClient
from tests.servers.commit_cutter import CommitCutter

pytestmark = pytest.mark.postgres


async def test_a_lost_commit_answer_does_not_apply_a_command_twice(pg_url: str) -> None:
    server = start_ngircd_or_fail()
    host_port = pg_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    cutter = CommitCutter(host, int(port))
    await cutter.start()
    url = pg_url.replace(f"@{host_port}/", f"@127.0.0.1:{cutter.port}/")
    channel, nick, alice_nick = unique("#commit-"), unique("desk"), unique("alice")
    users = f"  - {{name: alice, roles: [status], irc: {{nick: {alice_nick}}}}}\n"
    tag = unique("cut-")
    try:
        async with running_bot(url, server.port, [channel], nick=nick, users=users) as bot:
            await bot.joined()
            alice = await RawClient.connect(server.host, server.port, alice_nick)
            try:
                await alice.join(channel)
                cutter.arm(tag.encode())
                since = alice.mark()
                await alice.say(channel, f"#status notice {tag}")
                reply = await alice.wait_for(lambda m: m.command == "PRIVMSG"
                                             and m.nick == nick, since=since, within=40)
                # The bot's own copy of the notice, once, in the channel.
                await alice.wait_for(lambda m: m.command == "NOTICE" and m.nick == nick
                                     and m.text == f"NOTICE: {tag}", since=since)
                since = alice.mark()
                await alice.say(channel, f"#status log after {tag}")
                after = await alice.wait_for(lambda m: m.command == "PRIVMSG"
                                             and m.nick == nick, since=since)
            finally:
                await alice.close()
            store = bot.app.store
            assert store is not None
            async with store.reading() as tx:
                posts = (await tx.session.execute(sql(
                    "SELECT count(*) FROM status_posts WHERE text = :t"), {"t": tag})).scalar()
                notices = (await tx.session.execute(sql(
                    "SELECT count(*) FROM outbox WHERE kind = 'notice' AND payload::text LIKE :t"),
                    {"t": f"%{tag}%"})).scalar()
                accepted = (await tx.session.execute(sql(
                    "SELECT count(*) FROM audit_log WHERE outcome = 'accepted' "
                    "AND text = :t"), {"t": f"#status notice {tag}"})).scalar()
    finally:
        await cutter.stop()
        server.cleanup()
    assert cutter.cuts == 1
    assert reply.text == (f"{alice_nick}: #status notice was applied (the database confirmed "
                          "it late; it was not applied twice).")
    assert after.text == f"{alice_nick}: Logged on the status page."
    assert (posts, notices, accepted) == (1, 1, 1)
