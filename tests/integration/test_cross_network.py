"""IRC and Matrix as one desk: one App on a real ngIRCd and a real Synapse at once. An alert
from either network is announced on both, topics change and come back on both, and the
incident timeline says which network each command came from."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.transports.irc import IrcTransport
from tests.harness import API_TOKEN, Running, run_app
from tests.irc_bot import unique
from tests.irc_client import Line, RawClient
from tests.matrix_scene import (
    TOPIC_INFRA,
    TOPIC_OPS,
    Scene,
    bot_joined,
    connected,
    make_scene,
)
from tests.servers.ngircd import NgircdServer
from tests.servers.synapse import SynapseServer

NETWORK = "testnet"
TOPIC_IRC = "IRC ops: deploys at 10:00"


@dataclass
class Desk:
    """The Matrix scene (Alice whitelisted, Mallory not, two rooms), one IRC channel with a
    raw watcher in it, and an IRC nick that belongs to Alice too."""

    scene: Scene
    ngircd: NgircdServer
    channel: str
    bot_nick: str
    alice_nick: str
    store_dir: Path
    """The bot's Matrix crypto store: named, as the default with PostgreSQL would be
    `./statusdesk-matrix/` in the directory the tests run from."""

    def config(self) -> str:
        return (
            "irc:\n"
            f"  - {{name: {NETWORK}, host: '{self.ngircd.host}', port: {self.ngircd.port},"
            f" tls: false, nick: {self.bot_nick}, channels: ['{self.channel}'],"
            " rate: {burst: 10, per_second: 5.0}}\n"
            + self.scene.config(extra=f"  store_path: '{self.store_dir}'\n")
            + f"    irc: {{nick: {self.alice_nick}}}\n"
        )

    def irc(self, running: Running) -> IrcTransport:
        transport = running.app.transports.get("irc", NETWORK)
        assert isinstance(transport, IrcTransport)
        return transport

    async def ready(self, running: Running, watcher: RawClient) -> None:
        """Both networks up. The bot joins the IRC channel first, so it creates it and holds
        op; then the watcher joins and sets the topic the bot must later restore."""
        await bot_joined(running, self.scene, self.scene.rooms)
        await connected(running)
        for _ in range(600):
            health = self.irc(running).health()
            if health["connected"] and health["channels"].get(self.channel) == "joined":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the bot never joined {self.channel}: {health}")
        await watcher.join(self.channel)
        names = watcher.matching(lambda m: m.command == "353")
        assert any(f"@{self.bot_nick}" in m.text.split() for m in names)
        since = watcher.mark()
        await watcher.send(f"TOPIC {self.channel} :{TOPIC_IRC}")
        await watcher.wait_for(lambda m: m.command == "TOPIC", since=since)
        await asyncio.sleep(0.3)  # the bot records the topic as it sees it

    def from_bot_on_irc(self, command: str, text: str | None = None
                        ) -> Callable[[Line], bool]:
        def match(line: Line) -> bool:
            return (line.command == command and line.nick == self.bot_nick
                    and line.params[0] == self.channel and (text is None or line.text == text))

        return match


@pytest.fixture
async def desk(synapse: SynapseServer, ngircd: NgircdServer, tmp_path: Path
               ) -> AsyncIterator[Desk]:
    scene = await make_scene(synapse)
    try:
        yield Desk(scene, ngircd, unique("#desk-"), unique("desk"), unique("alice"),
                   tmp_path / "matrix-store")
    finally:
        await scene.alice.close()
        await scene.mallory.close()


async def matrix_topics(desk: Desk) -> dict[str, str | None]:
    return {room: await desk.scene.alice.topic(room) for room in desk.scene.rooms}


async def timeline(running: Running, incident_id: int) -> list[tuple[str, str | None,
                                                                      str | None, str | None]]:
    assert running.app.store is not None
    async with running.app.store.reading() as tx:
        entries = await tx.timeline.entries(incident_id)
    return [(e.kind, e.transport, e.network, e.channel) for e in entries]


async def test_a_matrix_alert_reaches_both_networks_and_ok_restores_both(
        desk: Desk, watcher: RawClient, db_url: str, tmp_path: Path) -> None:
    scene, alice, mallory = desk.scene, desk.scene.alice, desk.scene.mallory
    originals = {scene.ops: TOPIC_OPS, scene.infra: TOPIC_INFRA}
    async with run_app(db_url, tmp_path, desk.config()) as running:
        await desk.ready(running, watcher)

        # Someone not on the whitelist is refused, and neither network changes.
        since, mark = watcher.mark(), len(mallory.seen)
        await mallory.say(scene.ops, "#status alert pwned")
        reply = await mallory.wait_for(scene.from_bot(scene.ops), after=mark)
        assert reply.body == f"{mallory.user_id}: you are not authorized to use #status alert"
        await asyncio.sleep(1.0)
        assert not watcher.matching(lambda m: m.command in ("NOTICE", "TOPIC"), since=since)
        assert await watcher.topic(desk.channel) == TOPIC_IRC
        assert [s for s in mallory.seen[mark:] if s.sender == scene.bot
                and (s.kind == "topic" or s.body.startswith("NOTICE:"))] == []
        assert await matrix_topics(desk) == originals

        # Alice on Matrix: notice and topic in both rooms and on the IRC channel.
        text = "Object storage <eu-west> is read-only & slow"
        since, mark = watcher.mark(), len(alice.seen)
        await alice.say(scene.ops, f"#status alert {text}")
        reply = await alice.wait_for(scene.from_bot(scene.ops), after=mark)
        assert reply.body == f"{alice.user_id}: Alert set; opened incident #1."
        for room in scene.rooms:
            notice = await alice.wait_for(scene.from_bot(room, f"NOTICE: {text}"), after=mark)
            assert notice.formatted_body == (
                "NOTICE: Object storage &lt;eu-west&gt; is read-only &amp; slow")
            topic = await alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
            assert topic.body == text
        await watcher.wait_for(desk.from_bot_on_irc("NOTICE", f"NOTICE: {text}"), since=since)
        await watcher.wait_for(desk.from_bot_on_irc("TOPIC", text), since=since)
        assert await watcher.topic(desk.channel) == text
        assert await matrix_topics(desk) == {room: text for room in scene.rooms}

        # `#status ok` from the other room: every original topic comes back, on both sides.
        since, mark = watcher.mark(), len(alice.seen)
        await alice.say(scene.infra, "#status ok Storage healthy again")
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: Storage healthy again"),
                                 after=mark)
            restored = await alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
            assert restored.body == originals[room]
        await watcher.wait_for(desk.from_bot_on_irc("NOTICE", "NOTICE: Storage healthy again"),
                               since=since)
        await watcher.wait_for(desk.from_bot_on_irc("TOPIC", TOPIC_IRC), since=since)
        assert await watcher.topic(desk.channel) == TOPIC_IRC
        assert await matrix_topics(desk) == originals
        assert len(watcher.matching(desk.from_bot_on_irc("NOTICE"))) == 2

        entries = await timeline(running, 1)
        # Rooms are named as configured: the alias for the room configured by alias.
        assert ("status.alert", "matrix", "localhost", scene.ops_alias) in entries
        assert ("status.ok", "matrix", "localhost", scene.infra) in entries
        assert {e[1] for e in entries if e[0] != "topic"} == {"matrix"}
        # The topic keeper logs what it did to each channel, whichever network it is on.
        assert sorted(e[1:] for e in entries if e[0] == "topic") == sorted(
            [("irc", NETWORK, desk.channel), ("matrix", "localhost", scene.ops_alias),
             ("matrix", "localhost", scene.infra)] * 2)


async def test_an_irc_alert_is_announced_in_every_matrix_room(
        desk: Desk, watcher: RawClient, sqlite_url: str, tmp_path: Path) -> None:
    scene, alice = desk.scene, desk.scene.alice
    text = "CI queue stalled, jobs are not starting"
    async with run_app(sqlite_url, tmp_path, desk.config()) as running:
        await desk.ready(running, watcher)
        irc_alice = await RawClient.connect(desk.ngircd.host, desk.ngircd.port,
                                            desk.alice_nick)
        try:
            await irc_alice.join(desk.channel)
            since, mark = watcher.mark(), len(alice.seen)
            await irc_alice.say(desk.channel, f"#status alert {text}")
            reply = await irc_alice.wait_for(
                lambda m: m.command == "PRIVMSG" and m.nick == desk.bot_nick)
            assert reply.text == f"{desk.alice_nick}: Alert set; opened incident #1."
            for room in scene.rooms:
                await alice.wait_for(scene.from_bot(room, f"NOTICE: {text}"), after=mark)
                topic = await alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
                assert topic.body == text
            await watcher.wait_for(desk.from_bot_on_irc("NOTICE", f"NOTICE: {text}"),
                                   since=since)
            await watcher.wait_for(desk.from_bot_on_irc("TOPIC", text), since=since)

            # Cleared from Matrix this time: the IRC channel's topic is restored too.
            since, mark = watcher.mark(), len(alice.seen)
            await alice.say(scene.ops, "#status ok")
            for room, original in ((scene.ops, TOPIC_OPS), (scene.infra, TOPIC_INFRA)):
                restored = await alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
                assert restored.body == original
            await watcher.wait_for(desk.from_bot_on_irc("TOPIC", TOPIC_IRC), since=since)
        finally:
            await irc_alice.close()

        status, _, body = await running.get("/api/incidents/1/log.json",
                                            Authorization=f"Bearer {API_TOKEN}")
        assert status == 200
        document = json.loads(body)
    wheres = [(e["kind"], e["where"]) for e in document["timeline"]]
    assert ("status.alert", {"transport": "irc", "network": NETWORK,
                             "channel": desk.channel}) in wheres
    assert ("status.ok", {"transport": "matrix", "network": "localhost",
                          "channel": scene.ops_alias}) in wheres
    # Matrix answers the one who asked, on Matrix; the IRC side only saw its own reply.
    assert [s.body for s in alice.messages(scene.ops, "m.notice", scene.bot)
            if s.body.startswith(f"{alice.user_id}: ")] == [
        f"{alice.user_id}: Alert cleared; topics restored; incident #1 resolved."]
