"""A Matrix scene on the test Synapse, shared by the Matrix, cross-network and homeserver
restart tests: Alice (whitelisted, room admin), Mallory (not whitelisted), the bot's account
and two rooms; and waits for the bot to join and connect.

`scene` is a fixture for every test (registered as a plugin in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        return matrix_config(self.synapse, self.bot, rooms, self.alice.user_id, trust=trust,
                             extra=extra)

    def from_bot(self, room_id: str, body: str | None = None, *, kind: str = "m.notice"
                 ) -> Callable[[Seen], bool]:
        def match(seen: Seen) -> bool:
            return (seen.room_id == room_id and seen.sender == self.bot and seen.kind == kind
                    and (body is None or seen.body == body))

        return match


def matrix_config(synapse: SynapseServer, bot: str, rooms: list[str], alice: str, *,
                  roles: tuple[str, ...] = ("status", "incident", "escalation"),
                  trust: str = "tofu", extra: str = "") -> str:
    """The `matrix` section (with `extra` more keys of it) for the bot's account in `rooms`,
    and `users` with Alice in it: the last line is Alice's, so a caller may add keys of hers.
    """
    listed = ", ".join(f"'{room}'" for room in rooms)
    return (
        f"matrix:\n"
        f"  homeserver: {synapse.base_url}\n"
        f"  user_id: '{bot}'\n"
        f"  password: '{PASSWORD}'\n"
        f"  rooms: [{listed}]\n"
        f"  trust: {trust}\n"
        f"{extra}"
        f"users:\n"
        f"  - name: alice\n"
        f"    roles: [{', '.join(roles)}]\n"
        f"    matrix: '{alice}'\n"
    )


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


async def ran_once(scene: Scene, db_url: str, tmp_path: Path) -> None:
    """Run the bot until it is in its rooms and synced, then stop it: what is said from now
    on is said while it is away."""
    async with run_app(db_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        await connected(running)


def matrix_health(running: Running) -> dict[str, Any]:
    return running.app.transports.get("matrix", "localhost").health()


async def connected(running: Running) -> dict[str, Any]:
    """Wait for the bot's first sync (run_app returns as soon as the web side is up)."""
    for _ in range(300):
        if len(running.app.transports) and matrix_health(running)["connected"]:
            return matrix_health(running)
        await asyncio.sleep(0.1)
    raise AssertionError(f"the bot never connected: {matrix_health(running)}")
