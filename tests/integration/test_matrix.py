"""The Matrix transport against a real Synapse: commands from rooms, notices and topics in
every configured room, restarts of the bot and of the homeserver."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import Running, run_app
from tests.matrix_client import PASSWORD, MatrixUser, Seen
from tests.servers.synapse import SynapseServer

TOPIC_OPS = "Ops room: deploys and outages"
TOPIC_INFRA = "Infra chat"


@dataclass
class Scene:
    """Alice (whitelisted, room admin), Mallory (not whitelisted), a bot account and two
    rooms: one public and configured by alias, one private and configured by id."""

    synapse: SynapseServer
    tag: str
    alice: MatrixUser
    mallory: MatrixUser
    bot: str
    ops_alias: str
    ops: str
    infra: str

    @property
    def rooms(self) -> list[str]:
        return [self.ops, self.infra]

    def config(self, *, rooms: list[str] | None = None, trust: str = "tofu",
               extra: str = "") -> str:
        rooms = rooms if rooms is not None else [self.ops_alias, self.infra]
        listed = ", ".join(f"'{room}'" for room in rooms)
        return (
            f"matrix:\n"
            f"  homeserver: {self.synapse.base_url}\n"
            f"  user_id: '{self.bot}'\n"
            f"  password: '{PASSWORD}'\n"
            f"  rooms: [{listed}]\n"
            f"  trust: {trust}\n"
            f"{extra}"
            f"users:\n"
            f"  - name: alice\n"
            f"    roles: [status, incident, escalation]\n"
            f"    matrix: '{self.alice.user_id}'\n"
        )

    def from_bot(self, room_id: str, body: str | None = None, *, kind: str = "m.notice"
                 ) -> Callable[[Seen], bool]:
        def match(seen: Seen) -> bool:
            return (seen.room_id == room_id and seen.sender == self.bot and seen.kind == kind
                    and (body is None or seen.body == body))

        return match


async def make_scene(synapse: SynapseServer, *, bot_power: int = 50) -> Scene:
    tag = uuid.uuid4().hex[:8]
    alice_id = synapse.register(f"alice{tag}", PASSWORD)
    synapse.register(f"mallory{tag}", PASSWORD)
    bot = synapse.register(f"bot{tag}", PASSWORD)
    alice = await MatrixUser.login(synapse, f"alice{tag}")
    mallory = await MatrixUser.login(synapse, f"mallory{tag}")
    power = {bot: bot_power}
    ops = await alice.create_room(alias=f"ops{tag}", public=True, power=power, topic=TOPIC_OPS)
    infra = await alice.create_room(invite=(bot, mallory.user_id), power=power,
                                    topic=TOPIC_INFRA)
    await mallory.join(ops)
    await mallory.join(infra)
    assert alice.user_id == alice_id
    return Scene(synapse, tag, alice, mallory, bot, f"#ops{tag}:{synapse.server_name}", ops,
                 infra)


@pytest.fixture
async def scene(synapse: SynapseServer) -> AsyncIterator[Scene]:
    made = await make_scene(synapse)
    try:
        yield made
    finally:
        await made.alice.close()
        await made.mallory.close()


async def bot_joined(running: Running, scene: Scene, rooms: list[str]) -> None:
    """Wait until the bot is in every room (Alice sees its membership)."""
    async def joined() -> bool:
        for room in rooms:
            members = await scene.alice.client.joined_members(room)
            if scene.bot not in [m.user_id for m in getattr(members, "members", [])]:
                return False
        return True

    for _ in range(200):
        if await joined():
            return
        await asyncio.sleep(0.1)
    health = running.app.transports.get("matrix", "localhost").health()
    raise AssertionError(f"the bot never joined: {health}")


async def test_alert_and_ok_reach_every_room_with_topics(scene: Scene, sqlite_url: str,
                                                         tmp_path: Path) -> None:
    alice = scene.alice
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        mark = len(alice.seen)
        await alice.say(scene.ops, "#status alert Database <primary> & replicas down")

        reply = await alice.wait_for(scene.from_bot(scene.ops), after=mark)
        assert reply.body == f"{alice.user_id}: Alert set; opened incident #1."
        assert alice.user_id in reply.source["content"]["m.mentions"]["user_ids"]
        for room in scene.rooms:
            notice = await alice.wait_for(
                scene.from_bot(room, "NOTICE: Database <primary> & replicas down"), after=mark)
            assert notice.formatted_body == "NOTICE: Database &lt;primary&gt; &amp; replicas down"
            assert notice.source["content"]["m.mentions"] == {}
            topic = await alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
            assert topic.body == "Database <primary> & replicas down"
            assert await alice.topic(room) == "Database <primary> & replicas down"

        mark = len(alice.seen)
        await alice.say(scene.infra, "#status ok All fixed")
        for room, original in ((scene.ops, TOPIC_OPS), (scene.infra, TOPIC_INFRA)):
            await alice.wait_for(scene.from_bot(room, "NOTICE: All fixed"), after=mark)
            restored = await alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
            assert restored.body == original
            assert await alice.topic(room) == original

        health = running.app.transports.get("matrix", "localhost").health()
        assert health["connected"] is True
        assert health["channels"] == {scene.ops_alias: "joined", scene.infra: "joined"}
        assert "access_token" not in str(health) and PASSWORD not in str(health)


async def test_user_not_whitelisted_is_refused(scene: Scene, sqlite_url: str,
                                               tmp_path: Path) -> None:
    mallory = scene.mallory
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        mark = len(mallory.seen)
        await mallory.say(scene.ops, "#status alert pwned")
        reply = await mallory.wait_for(scene.from_bot(scene.ops), after=mark)
        assert reply.body == f"{mallory.user_id}: you are not authorized to use #status alert"
        await asyncio.sleep(1.0)
        assert await scene.alice.topic(scene.ops) == TOPIC_OPS
        assert [s for s in mallory.seen[mark:] if s.kind == "topic"] == []
