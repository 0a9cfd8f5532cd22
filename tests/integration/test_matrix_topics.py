"""Topic policy on Matrix, against a real Synapse: a topic someone sets in a room while the
alert's topic is up is the one restored when the alert clears (as on IRC), whether the bot
saw it live or read it from the gap after a restart. The rule lives in one place for every
transport (`TopicKeeper`); the Matrix transport only reports `m.room.topic` changes."""

from __future__ import annotations

from pathlib import Path

from nio import RoomPutStateResponse

from tests.harness import eventually, opened_store, run_app
from tests.matrix_scene import TOPIC_INFRA, TOPIC_OPS, Scene, bot_joined


async def set_topic(scene: Scene, room: str, topic: str) -> None:
    response = await scene.alice.client.room_put_state(room, "m.room.topic", {"topic": topic})
    assert isinstance(response, RoomPutStateResponse), response


async def saved_topic(db_url: str, room_name: str) -> str | None:
    async with opened_store(db_url) as store, store.reading() as tx:
        saved = await tx.topics.get("matrix", "localhost", room_name)
    return None if saved is None else saved.topic


async def until_saved(db_url: str, room_name: str, topic: str) -> None:
    """The bot records the new topic as it syncs: wait for that rather than guess how long
    it takes."""
    async def saved() -> bool:
        return await saved_topic(db_url, room_name) == topic

    await eventually(saved, within=30.0, what=f"the topic to restore in {room_name} to be "
                     f"{topic!r}")


async def alert_everywhere(scene: Scene) -> None:
    """An alert from Alice, and the bot's topic in every room (and its answer)."""
    mark = len(scene.alice.seen)
    await scene.alice.say(scene.ops, "#status alert Object storage unavailable")
    for room in scene.rooms:
        await scene.alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
    await scene.alice.wait_for(scene.from_bot(scene.ops), after=mark)


async def test_a_topic_someone_sets_during_the_alert_is_the_one_restored(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        await alert_everywhere(scene)

        await set_topic(scene, scene.infra, "Planning meeting moved to 15:00")
        await until_saved(sqlite_url, scene.infra, "Planning meeting moved to 15:00")

        mark = len(alice.seen)
        await alice.say(scene.ops, "#status ok")
        restored = await alice.wait_for(scene.from_bot(scene.ops, kind="topic"), after=mark)
        assert restored.body == TOPIC_OPS
        await alice.wait_for(scene.from_bot(scene.ops), after=mark)  # the reply comes last
        assert await alice.topic(scene.ops) == TOPIC_OPS
        assert await alice.topic(scene.infra) == "Planning meeting moved to 15:00"
        # The alert's topic never came back over the human's.
        assert [s.body for s in alice.seen[mark:]
                if s.room_id == scene.infra and s.kind == "topic"] in (
            [], ["Planning meeting moved to 15:00"])


async def test_a_topic_set_while_the_bot_was_away_is_the_one_restored(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        await alert_everywhere(scene)

    await set_topic(scene, scene.ops, "Ops room: see the runbook")

    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await until_saved(sqlite_url, scene.ops_alias, "Ops room: see the runbook")
        mark = len(alice.seen)
        await alice.say(scene.infra, "#status ok")
        restored = await alice.wait_for(scene.from_bot(scene.infra, kind="topic"), after=mark)
        assert restored.body == TOPIC_INFRA
        await alice.wait_for(scene.from_bot(scene.infra), after=mark)
        assert await alice.topic(scene.ops) == "Ops room: see the runbook"
        assert await alice.topic(scene.infra) == TOPIC_INFRA
