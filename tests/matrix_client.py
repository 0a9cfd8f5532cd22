"""A person on Matrix, for tests: a matrix-nio client that syncs in the background and keeps
what it sees, so a test can say things and wait for the bot's answers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    InviteMemberEvent,
    JoinResponse,
    LocalProtocolError,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMessageNotice,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    RoomTopicEvent,
    RoomVisibility,
    SyncResponse,
)

from tests import secrets
from tests.servers.synapse import SynapseServer

PASSWORD = secrets.MATRIX_PASSWORD


@dataclass(frozen=True)
class Seen:
    """One event the client saw in a room's timeline."""

    room_id: str
    sender: str
    kind: str
    """`m.notice`, `m.text`, `topic` or `undecryptable`."""
    body: str
    formatted_body: str | None
    event_id: str
    source: dict[str, Any]
    decrypted: bool = False
    """It came encrypted and this client could decrypt it."""


class MatrixUser:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.seen: list[Seen] = []
        self._changed = asyncio.Condition()
        self._sync: asyncio.Task[None] | None = None
        self.accept_invites = True

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    @classmethod
    async def login(cls, server: SynapseServer, localpart: str, password: str = PASSWORD, *,
                    store_dir: Path | None = None) -> MatrixUser:
        """Log in and start syncing; `store_dir` turns end-to-end encryption on."""
        config = AsyncClientConfig(encryption_enabled=store_dir is not None,
                                   store_sync_tokens=False)
        if store_dir is not None:
            await asyncio.to_thread(store_dir.mkdir, parents=True, exist_ok=True)
        client = AsyncClient(server.base_url, server.user_id(localpart),
                             store_path=str(store_dir) if store_dir else "", config=config)
        response = await client.login(password, device_name=f"test-{localpart}")
        assert isinstance(response, LoginResponse), response
        user = cls(client)
        client.add_event_callback(user._on_event, (RoomMessageText, RoomMessageNotice,
                                                   RoomTopicEvent, MegolmEvent))
        client.add_event_callback(user._on_invite, InviteMemberEvent)
        client.add_response_callback(user._on_sync, SyncResponse)
        first = await client.sync(timeout=0, full_state=True)
        assert not isinstance(first, ErrorResponse), first
        user._sync = asyncio.create_task(user._sync_forever())
        return user

    async def _sync_forever(self) -> None:
        """nio's sync loop, kept alive: a key query started elsewhere (nio's own room_send
        does one when a room's members are not synced yet) can answer the loop's pending
        query first, and the loop's then finds nothing to ask and raises "No key query
        required" out of `sync_forever`. A real client would sync on; so does this one, or it
        would silently stop seeing anything and a test would wait in vain."""
        while True:
            try:
                await self.client.sync_forever(timeout=500)
                return
            except LocalProtocolError as error:
                if "key query" not in str(error):
                    raise

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sync
        await self.client.close()

    async def create_room(self, *, alias: str | None = None, invite: tuple[str, ...] = (),
                          public: bool = False, encrypted: bool = False,
                          power: dict[str, int] | None = None,
                          topic: str | None = None) -> str:
        initial_state = []
        if encrypted:
            initial_state.append({"type": "m.room.encryption", "state_key": "",
                                  "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
        override = None
        if power is not None:
            override = {"users": dict(power)}
        response = await self.client.room_create(
            visibility=RoomVisibility.public if public else RoomVisibility.private,
            alias=alias, topic=topic, invite=list(invite), initial_state=initial_state,
            preset=RoomPreset.public_chat if public else RoomPreset.private_chat,
            power_level_override=override,
        )
        assert isinstance(response, RoomCreateResponse), response
        await self.wait_until(lambda: response.room_id in self.client.rooms)
        return str(response.room_id)

    async def join(self, room: str) -> str:
        response = await self.client.join(room)
        assert isinstance(response, JoinResponse), response
        await self.wait_until(lambda: response.room_id in self.client.rooms)
        return str(response.room_id)

    async def learn_device(self, user_id: str, device_id: str, within: float = 30.0) -> None:
        """Wait until this client knows `user_id`'s device: a message encrypted before then
        is sealed without a key for it (nio learns new devices only from its next sync).
        The query is left to the sync loop, which makes one whenever users are queued: a
        second query running beside it races the loop's own (see `_sync_forever`)."""
        for _ in range(int(within / 0.2)):
            if any(d.id == device_id for d in self.client.device_store.active_user_devices(
                    user_id)):
                return
            self.client.olm.users_for_key_query.add(user_id)
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.user_id} never learnt {user_id}'s device {device_id}")

    async def say(self, room_id: str, text: str) -> str:
        """Send an `m.text` (encrypted if the room is); returns its event id."""
        response = await self.client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": text},
            tx_id=uuid.uuid4().hex, ignore_unverified_devices=True,
        )
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def topic(self, room_id: str) -> str | None:
        response = await self.client.room_get_state_event(room_id, "m.room.topic")
        if isinstance(response, RoomGetStateEventResponse):
            topic = response.content.get("topic")
            return topic if isinstance(topic, str) else None
        return None

    def messages(self, room_id: str, kind: str = "m.notice", sender: str | None = None
                 ) -> list[Seen]:
        return [s for s in self.seen if s.room_id == room_id and s.kind == kind
                and (sender is None or s.sender == sender)]

    async def wait_for(self, predicate: Callable[[Seen], bool], within: float = 30.0,
                       after: int = 0) -> Seen:
        """The first event seen (from index `after` on) that satisfies `predicate`."""
        found: list[Seen] = []

        def check() -> bool:
            found[:] = [s for s in self.seen[after:] if predicate(s)][:1]
            return bool(found)

        await self.wait_until(check, within)
        return found[0]

    async def wait_until(self, condition: Callable[[], bool], within: float = 30.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    async def _on_event(self, room: MatrixRoom, event: Any) -> None:
        content = event.source.get("content", {})
        if isinstance(event, RoomTopicEvent):
            kind, body = "topic", event.topic
        elif isinstance(event, MegolmEvent):
            kind, body = "undecryptable", ""
        else:
            kind, body = content.get("msgtype", ""), event.body
        self.seen.append(Seen(room.room_id, event.sender, kind, body,
                              content.get("formatted_body"), event.event_id, event.source,
                              bool(getattr(event, "decrypted", False))))
        async with self._changed:
            self._changed.notify_all()

    async def _on_sync(self, response: SyncResponse) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        if (self.accept_invites and event.state_key == self.user_id
                and event.membership == "invite"):
            await self.client.join(room.room_id)
        async with self._changed:
            self._changed.notify_all()
