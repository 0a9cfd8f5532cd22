"""When the bot cannot keep up with a channel (here: its database is locked by another
process, so the command in hand waits), lines pile up in its input queue. The queue is
bounded; when it overflows, chatter is dropped and commands are kept: the command typed
after a flood of 1,500 chatter lines is applied once the database is back, and /healthz
counts what was dropped, by kind. The channel's chat is captured (`incidents.capture`):
elsewhere ordinary chatter is dropped unparsed before it reaches the queue at all."""

from __future__ import annotations

from pathlib import Path

from bot.transports.irc.transport import INCOMING_LIMIT
from tests.conftest import start_ngircd_or_fail
from tests.figures import record
from tests.irc_bot import running_bot, unique
from tests.irc_client import RawClient
from tests.reliability.sqlite_lock import hold_lock, released

HOLD_SECONDS = 4.0
CHATTER = INCOMING_LIMIT + 500


async def test_a_full_input_queue_drops_chatter_never_commands(tmp_path: Path) -> None:
    server = start_ngircd_or_fail(unthrottled=True)
    path = tmp_path / "statusdesk.db"
    channel, nick, alice_nick = unique("#flood-"), unique("desk"), unique("alice")
    users = f"  - {{name: alice, roles: [status], irc: {{nick: {alice_nick}}}}}\n"
    try:
        async with running_bot(f"sqlite+aiosqlite:///{path}", server.port, [channel],
                               nick=nick, users=users,
                               rate="{burst: 50, per_second: 50.0}",
                               extra=f"incidents: {{capture: ['{channel}']}}\n") as bot:
            await bot.joined()
            alice = await RawClient.connect(server.host, server.port, alice_nick)
            talker = await RawClient.connect(server.host, server.port, unique("talk"))
            try:
                await alice.join(channel)
                await talker.join(channel)
                holder = await hold_lock(path, HOLD_SECONDS)
                since = alice.mark()
                await alice.say(channel, "#status log before the flood")
                for n in range(CHATTER):
                    await talker.send(f"PRIVMSG {channel} :just chatting, line {n}")
                await alice.say(channel, "#status log after the flood")
                await released(holder)
                answers = []
                for _ in range(2):
                    line = await alice.wait_for(
                        lambda m: m.command == "PRIVMSG" and m.nick == nick
                        and m.text.startswith(f"{alice_nick}:"), since=since, within=60)
                    since = alice.lines.index(line) + 1
                    answers.append(line.text)
                health = bot.irc.health()
            finally:
                await alice.close()
                await talker.close()
            store = bot.app.store
            assert store is not None
            async with store.reading() as tx:
                posts = await tx.status_posts.recent(10)
    finally:
        server.cleanup()
    assert answers == [f"{alice_nick}: Logged on the status page."] * 2
    assert {p.text for p in posts} >= {"before the flood", "after the flood"}
    assert health["dropped_commands"] == 0
    assert health["dropped_chatter"] >= 1
    assert health["dropped_incoming"] == health["dropped_chatter"]
    record("input queue overflow",
           f"{CHATTER} chatter lines behind a command waiting on a locked database "
           f"(queue of {INCOMING_LIMIT}): {health['dropped_chatter']} chatter lines dropped, "
           "0 commands; the command after the flood applied")
