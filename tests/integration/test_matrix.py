"""The Matrix transport against a real Synapse: commands from rooms, notices and topics in
every configured room, restarts of the bot and of the homeserver."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from nio import ErrorResponse, MessageDirection, RoomMessagesResponse
from sqlalchemy import text as text_sql

from bot.transports.matrix.backfill import SYNC_TIMELINE_LIMIT
from bot.transports.matrix.transport import NO_TOPIC_POWER
from storage.models import utcnow
from tests.harness import Running, eventually, opened_store, run_app
from tests.matrix_client import PASSWORD, MatrixUser, Seen
from tests.matrix_scene import (
    TOPIC_INFRA,
    TOPIC_OPS,
    Scene,
    bot_joined,
    connected,
    make_scene,
    matrix_config,
    matrix_health,
)
from tests.servers.synapse import SynapseServer


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
        # A topic change would go out before a later notice in the same room (one lane):
        # once Mallory sees Alice's notice, she would have seen a topic change too.
        await scene.alice.say(scene.ops, "#status notice Checking in")
        await mallory.wait_for(scene.from_bot(scene.ops, "NOTICE: Checking in"), after=mark)
        assert await scene.alice.topic(scene.ops) == TOPIC_OPS
        assert [s for s in mallory.seen[mark:] if s.kind == "topic"] == []


async def outbox_pending(running: Running, count: int) -> bool:
    """Whether the outbox holds `count` undelivered effects."""
    async with running.app.store.reading() as tx:  # type: ignore[union-attr]
        return await tx.outbox.pending_count() == count


async def outbox_tried(running: Running) -> bool:
    """Whether the outbox has something pending and has tried each lane's first effect."""
    async with running.app.store.reading() as tx:  # type: ignore[union-attr]
        pending = await tx.outbox.pending()
    heads: dict[str, int] = {}
    for effect in pending:
        heads.setdefault(effect.lane, effect.attempts)
    return bool(heads) and all(attempts > 0 for attempts in heads.values())


async def nothing_after_saved_token(user: MatrixUser, db_url: str, bot: str, room: str
                                    ) -> bool:
    """Whether `room` has no event after the sync token the bot saved last."""
    token = await saved_state(db_url, bot, "next_batch")
    if token is None:
        return False
    response = await user.client.room_messages(room, start=token,
                                               direction=MessageDirection.front)
    assert isinstance(response, RoomMessagesResponse), response
    return not response.chunk


async def saved_state(db_url: str, bot: str, key: str) -> str | None:
    async with opened_store(db_url) as store, store.reading() as tx:
        return await tx.transport_state.get(f"matrix:{bot}", key)


async def put_state(db_url: str, bot: str, key: str, value: str) -> None:
    async with opened_store(db_url) as store, store.transaction() as tx:
        await tx.transport_state.put(f"matrix:{bot}", key, value, utcnow())


async def test_restart_mid_incident_replays_nothing_and_restores_topics(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    alert = "Storage cluster degraded"
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        device = (await connected(running))["device_id"]
        token_before_alert = await saved_state(sqlite_url, scene.bot, "next_batch")
        mark = len(alice.seen)
        await alice.say(scene.ops, f"#status alert {alert}")
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
        await alice.wait_for(scene.from_bot(scene.ops), after=mark)

    # While the bot is away a command is posted; and the saved sync token is rewound to
    # before the alert, as if the bot had died before saving it: the alert must not rerun.
    assert token_before_alert is not None
    await put_state(sqlite_url, scene.bot, "next_batch", token_before_alert)
    await alice.say(scene.infra, "#status notice Failover started")

    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        assert (await connected(running))["device_id"] == device
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: Failover started"))
        mark = len(alice.seen)
        await alice.say(scene.ops, "#status ok")
        for room, original in ((scene.ops, TOPIC_OPS), (scene.infra, TOPIC_INFRA)):
            restored = await alice.wait_for(scene.from_bot(room, kind="topic"), after=mark)
            assert restored.body == original
        # The answer to "ok" comes last: a replayed alert would have answered before it.
        await alice.wait_for(scene.from_bot(
            scene.ops, f"{alice.user_id}: Alert cleared; topics restored; incident #1 "
            "resolved."), after=mark)

    for room in scene.rooms:
        assert [s.body for s in alice.messages(room, "m.notice", scene.bot)
                if s.body == f"NOTICE: {alert}"] == [f"NOTICE: {alert}"]
        assert [s.body for s in alice.messages(room, "m.notice", scene.bot)
                if s.body == "NOTICE: Failover started"] == ["NOTICE: Failover started"]
    replies = [s.body for s in alice.messages(scene.ops, "m.notice", scene.bot)
               if s.body.startswith(f"{alice.user_id}: ")]
    assert replies == [f"{alice.user_id}: Alert set; opened incident #1.",
                       f"{alice.user_id}: Alert cleared; topics restored; incident #1 resolved."]


async def test_homeserver_restart_reconnects_and_delivers_once(
        scene: Scene, synapse: SynapseServer, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    text = "Homeserver maintenance overran"
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        device = (await connected(running))["device_id"]
        await asyncio.to_thread(synapse.stop)
        try:
            await eventually(lambda: not matrix_health(running)["connected"],
                             what="the bot noticing the homeserver is gone")
            assert matrix_health(running)["connected"] is False
            assert "error" in matrix_health(running)
            answers = await running.say(f"#status alert {text}")
            assert answers and "Alert set" in answers[0]
            await eventually(lambda: outbox_tried(running),
                             what="the outbox trying each room while the homeserver is down")
        finally:
            await asyncio.to_thread(synapse.start)
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, f"NOTICE: {text}"), within=90)
            await alice.wait_for(lambda s, room=room: s.room_id == room and s.kind == "topic"
                                 and s.body == text, within=30)
        # A second copy of the notice would go out before a later one in the same room.
        mark = len(alice.seen)
        await running.say("#status notice Maintenance over")
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: Maintenance over"), after=mark)
        await eventually(lambda: matrix_health(running)["connected"],
                         what="the bot connected again")
        health = matrix_health(running)
        assert health["connected"] is True and health["device_id"] == device
    for room in scene.rooms:
        assert [s.body for s in alice.messages(room, "m.notice", scene.bot)
                if s.body == f"NOTICE: {text}"] == [f"NOTICE: {text}"]


async def test_commands_from_before_the_first_start_are_ignored(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    await alice.say(scene.ops, "#status alert Old news from yesterday")
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await connected(running)
        mark = len(alice.seen)
        await alice.say(scene.ops, "#status notice Fresh news")
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: Fresh news"), after=mark)
    bot_said = [s.body for s in alice.seen if s.sender == scene.bot]
    assert not [body for body in bot_said if "Old news" in body or "Alert set" in body]
    assert await alice.topic(scene.ops) == TOPIC_OPS


async def test_without_power_over_topics_says_so_once_and_still_announces(
        synapse: SynapseServer, sqlite_url: str, tmp_path: Path) -> None:
    scene = await make_scene(synapse, bot_power=0)
    alice = scene.alice
    try:
        async with run_app(sqlite_url, tmp_path, scene.config()) as running:
            await connected(running)
            await alice.say(scene.ops, "#status alert First problem")
            for room in scene.rooms:
                await alice.wait_for(scene.from_bot(room, "NOTICE: First problem"))
                await alice.wait_for(scene.from_bot(room, NO_TOPIC_POWER))
            health = matrix_health(running)
            for name in (scene.ops_alias, scene.infra):
                assert health["channels"][name] == (
                    "joined; cannot set the topic (power level too low)")
            await alice.say(scene.ops, "#status alert Second problem")
            await alice.say(scene.ops, "#status ok")
            for room in scene.rooms:
                await alice.wait_for(scene.from_bot(room, "NOTICE: Second problem"))
            # Anything the bot would say about the topics of "Second problem" and "ok" goes
            # out before a later notice in the same room.
            await alice.say(scene.ops, "#status notice Topics checked")
            for room in scene.rooms:
                await alice.wait_for(scene.from_bot(room, "NOTICE: Topics checked"))
            await eventually(lambda: outbox_pending(running, 0),
                             what="the outbox settling every effect")
            async with running.app.store.reading() as tx:  # type: ignore[union-attr]
                pending = await tx.outbox.pending_count()
        assert pending == 0
        for room, original in ((scene.ops, TOPIC_OPS), (scene.infra, TOPIC_INFRA)):
            said = [s.body for s in alice.messages(room, "m.notice", scene.bot)]
            assert said.count(NO_TOPIC_POWER) == 1
            assert await alice.topic(room) == original
    finally:
        await scene.alice.close()
        await scene.mallory.close()


async def test_private_answers_go_to_one_reused_direct_room(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await connected(running)
        await alice.say(scene.ops, "#status alert Queue backlog")
        await alice.wait_for(scene.from_bot(scene.ops, kind="topic"))
        await alice.say(scene.ops, "#incident 1 log")
        first = await alice.wait_for(lambda s: s.sender == scene.bot
                                     and s.room_id not in scene.rooms and s.kind == "m.notice")
        direct = first.room_id
        assert "Queue backlog" in " ".join(s.body for s in alice.messages(direct))
        assert alice.client.rooms[direct].is_group  # no name: a direct chat
        saved = await saved_state(sqlite_url, scene.bot, "direct_rooms")
        assert saved is not None and alice.user_id in saved and direct in saved

        # In the direct room, Alice needs no "#" prefix tricks: it is a private, addressed
        # conversation, and the answers stay in it.
        mark = len(alice.seen)
        await alice.say(direct, "#incident 1 log")
        answer = await alice.wait_for(scene.from_bot(direct), after=mark)
        await alice.say(scene.infra, "#incident 1 log")
        # Its answer, too, comes to the direct room: the same first line a second time.
        await alice.wait_until(lambda: len([s for s in alice.seen[mark:] if scene.from_bot(
            direct, answer.body)(s)]) >= 2)
        await alice.wait_for(scene.from_bot(direct), after=mark)

    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await connected(running)
        mark = len(alice.seen)
        await alice.say(scene.ops, "#incident 1 log")
        again = await alice.wait_for(lambda s: s.sender == scene.bot and s.room_id not in
                                     scene.rooms, after=mark)
        assert again.room_id == direct
    bot_rooms = {s.room_id for s in alice.seen if s.sender == scene.bot}
    assert bot_rooms == {scene.ops, scene.infra, direct}


async def test_rate_limited_sends_are_retried_when_the_homeserver_says(
        scene: Scene, synapse: SynapseServer, sqlite_url: str, tmp_path: Path) -> None:
    synapse.register(f"admin{scene.tag}", PASSWORD, admin=True)
    admin = await MatrixUser.login(synapse, f"admin{scene.tag}")
    try:
        await asyncio.to_thread(
            synapse.admin_request, admin.client.access_token, "POST",
            f"/_synapse/admin/v1/users/{scene.bot}/override_ratelimit",
            {"messages_per_second": 1, "burst_count": 1})
    finally:
        await admin.close()
    alice = scene.alice
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await connected(running)
        texts = [f"Update {n}" for n in range(4)]
        for text in texts:
            await running.say(f"#status notice {text}")
        for room in scene.rooms:
            for text in texts:
                await alice.wait_for(scene.from_bot(room, f"NOTICE: {text}"), within=60)
        # Alice may see the last notice before the bot has recorded it as delivered.
        await eventually(lambda: outbox_pending(running, 0),
                         what="the outbox recording every delivery")
        async with running.app.store.reading() as tx:  # type: ignore[union-attr]
            effects = await tx.outbox.pending()
            assert effects == []
            rows = (await tx.session.execute(text_sql(
                "SELECT attempts, last_error FROM outbox"))).all()
    assert any(attempts > 1 for attempts, _ in rows), rows
    for room in scene.rooms:
        said = [s.body for s in alice.messages(room, "m.notice", scene.bot)]
        assert said == [f"NOTICE: {text}" for text in texts]


@dataclass
class EncryptedScene:
    alice: MatrixUser
    carol: MatrixUser
    bot: str
    room: str
    tag: str

    def config(self, synapse: SynapseServer, *, trust: str = "tofu", extra: str = "") -> str:
        return matrix_config(synapse, self.bot, [self.room], self.alice.user_id,
                             roles=("status",), trust=trust, extra=extra)


@pytest.fixture
async def encrypted(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[EncryptedScene]:
    """Alice and Carol on clients with end-to-end encryption, in an encrypted room with the
    bot invited. Carol is not whitelisted; she is there to read."""
    tag = uuid.uuid4().hex[:8]
    synapse.register(f"alice{tag}", PASSWORD)
    synapse.register(f"carol{tag}", PASSWORD)
    bot = synapse.register(f"bot{tag}", PASSWORD)
    alice = await MatrixUser.login(synapse, f"alice{tag}", store_dir=tmp_path / "alice-keys")
    carol = await MatrixUser.login(synapse, f"carol{tag}", store_dir=tmp_path / "carol-keys")
    room = await alice.create_room(invite=(bot, carol.user_id), encrypted=True,
                                   power={bot: 50}, topic="Secret ops")
    await alice.wait_until(lambda: room in carol.client.rooms)
    try:
        yield EncryptedScene(alice, carol, bot, room, tag)
    finally:
        await alice.close()
        await carol.close()


def decrypted_from(bot: str, room: str, body: str) -> Callable[[Seen], bool]:
    return lambda s: (s.room_id == room and s.sender == bot and s.kind == "m.notice"
                      and s.body == body and s.decrypted)


async def test_encrypted_room_end_to_end(encrypted: EncryptedScene, synapse: SynapseServer,
                                         sqlite_url: str, tmp_path: Path) -> None:
    alice, carol, bot, room = encrypted.alice, encrypted.carol, encrypted.bot, encrypted.room
    config = encrypted.config(synapse)
    async with run_app(sqlite_url, tmp_path, config) as running:
        health = await connected(running)
        assert health["encryption"] is True
        await alice.learn_device(bot, health["device_id"])
        await alice.say(room, "#status alert Keys rotated")
        reply = await alice.wait_for(decrypted_from(
            bot, room, f"{alice.user_id}: Alert set; opened incident #1."))
        assert reply.source["content"]["m.mentions"] == {"user_ids": [alice.user_id]}
        await alice.wait_for(decrypted_from(bot, room, "NOTICE: Keys rotated"))
        await carol.wait_for(decrypted_from(bot, room, "NOTICE: Keys rotated"))
        await alice.wait_for(lambda s: s.room_id == room and s.kind == "topic"
                             and s.body == "Keys rotated")

    assert (tmp_path / "statusdesk.db-matrix").is_dir()
    # Same device and keys after a restart: it still reads and writes the room.
    async with run_app(sqlite_url, tmp_path, config) as running:
        assert (await connected(running))["device_id"] == health["device_id"]
        await alice.say(room, "#status ok Keys fine")
        await alice.wait_for(decrypted_from(bot, room, "NOTICE: Keys fine"))
        await carol.wait_for(decrypted_from(bot, room, "NOTICE: Keys fine"))
    assert not [s for s in alice.seen + carol.seen if s.kind == "undecryptable"
                and s.sender == bot]


async def test_verified_trust_sends_keys_only_to_listed_devices(
        encrypted: EncryptedScene, synapse: SynapseServer, sqlite_url: str,
        tmp_path: Path) -> None:
    alice, carol, bot, room = encrypted.alice, encrypted.carol, encrypted.bot, encrypted.room
    device = alice.client.device_id
    key = alice.client.olm.account.identity_keys["ed25519"]
    spaced = " ".join(key[i:i + 4] for i in range(0, len(key), 4))
    extra = f"  verified_devices: {{'{alice.user_id}': {{'{device}': '{spaced}'}}}}\n"
    config = encrypted.config(synapse, trust="verified", extra=extra)
    async with run_app(sqlite_url, tmp_path, config) as running:
        await alice.learn_device(bot, (await connected(running))["device_id"])
        await alice.say(room, "#status alert Only for verified eyes")
        await alice.wait_for(decrypted_from(bot, room, "NOTICE: Only for verified eyes"))
        undecryptable = await carol.wait_for(
            lambda s: s.room_id == room and s.sender == bot and s.kind == "undecryptable")
        assert undecryptable.body == ""
    assert not [s for s in carol.seen if s.sender == bot and s.decrypted]


async def test_invitations_accepted_only_to_configured_rooms(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    closed_alias = f"closed{scene.tag}"
    closed = await alice.create_room(alias=closed_alias, power={scene.bot: 50})
    closed_name = f"#{closed_alias}:{scene.synapse.server_name}"
    config = scene.config(rooms=[scene.ops_alias, scene.infra, closed_name])
    async with run_app(sqlite_url, tmp_path, config) as running:
        health = await connected(running)
        assert health["channels"][closed_name].startswith("not joined")
        stray = await alice.create_room(invite=(scene.bot,))
        invited = await alice.client.room_invite(closed, scene.bot)
        assert not isinstance(invited, ErrorResponse), invited
        await bot_joined(running, scene, [closed])
        await eventually(lambda: matrix_health(running)["channels"][closed_name] == "joined",
                         what=f"{closed_name} joined")
        assert matrix_health(running)["channels"][closed_name] == "joined"
        members = await alice.client.joined_members(stray)
        assert scene.bot not in [m.user_id for m in members.members]
        mark = len(alice.seen)
        await alice.say(scene.ops, "#status notice Now in three rooms")
        for room in [*scene.rooms, closed]:
            await alice.wait_for(scene.from_bot(room, "NOTICE: Now in three rooms"), after=mark)
    stray_state = await alice.client.room_get_state_event(stray, "m.room.member", scene.bot)
    assert stray_state.content["membership"] == "leave"


async def test_encrypted_messages_in_a_back_filled_gap_are_decrypted_and_applied(
        encrypted: EncryptedScene, synapse: SynapseServer, sqlite_url: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "statusdesk.matrix")
    alice, bot, room = encrypted.alice, encrypted.bot, encrypted.room
    config = encrypted.config(synapse)
    async with run_app(sqlite_url, tmp_path, config) as running:
        health = await connected(running)
        await alice.learn_device(bot, health["device_id"])
        await alice.say(room, "#status notice Sealed before")
        await alice.wait_for(decrypted_from(bot, room, "NOTICE: Sealed before"))
        await alice.wait_for(decrypted_from(bot, room, f"{alice.user_id}: Notice sent."))
        # The gap is what comes after the bot's saved sync token: stop the bot only once
        # that is past its own answers, or they are in the gap too.
        await eventually(lambda: nothing_after_saved_token(alice, sqlite_url, bot, room),
                         what="the bot's sync token past its own answers")

    # While the bot is away: a command deep in the gap (beyond a sync's window), encrypted
    # like everything after it (nio rotates the room key after 100 messages on the way).
    await alice.say(room, "#status notice Sealed in the gap")
    for n in range(SYNC_TIMELINE_LIMIT + 10):
        await alice.say(room, f"sealed chatter {n}")
    async with run_app(sqlite_url, tmp_path, config) as running:
        await connected(running)
        await alice.wait_for(decrypted_from(bot, room, "NOTICE: Sealed in the gap"),
                             within=60)
    assert [r.getMessage() for r in caplog.records if "through /messages" in r.getMessage()
            ] == [f"matrix: {room}: the sync skipped some events; read 11 of them through "
                  "/messages"]
    assert not [r for r in caplog.records if "cannot decrypt" in r.getMessage()]
