"""The Matrix transport: matrix-nio's AsyncClient behind statusdesk's Transport protocol.

One background task logs in (reusing the device kept in the database), joins the configured
rooms and runs `sync_forever`; when the homeserver goes away it reconnects with backoff and,
once synced again, wakes the outbox so queued announcements go out. Each sync's timelines are
read in its response callback, once nio has decrypted them: a room whose timeline came back
`limited` has its gap back-filled first (backfill.py), and the sync token is queued behind
all of it. nio reports failures as
error responses rather than exceptions, so every response is checked here; an exception
escaping a nio callback would end `sync_forever`, so every callback is guarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DirectRoomsResponse,
    ErrorResponse,
    Event,
    InviteMemberEvent,
    JoinedRoomsResponse,
    JoinResponse,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMessageText,
    RoomPreset,
    RoomResolveAliasResponse,
    RoomTopicEvent,
    SyncError,
    SyncResponse,
    WhoamiResponse,
)
from nio.exceptions import (
    EncryptionError,
    LocalProtocolError,
    OlmTrustError,
    OlmUnverifiedDeviceError,
)

from bot.config import MatrixConfig
from bot.core.backoff import jittered_backoff
from bot.core.ports import (
    Channel,
    DeliveryRejected,
    DeliveryUnavailable,
    Identity,
    Message,
    MessageSink,
    StateNotSaved,
    TopicChanged,
    TopicSink,
    TransportState,
)
from bot.transports.matrix.backfill import (
    MAX_GAP_EVENTS,
    MAX_LATE_AGE,
    SYNC_FILTER,
    Gap,
    fetch_gap,
    posted_at,
    too_old,
)
from bot.transports.matrix.formatting import clean_outgoing, message_content
from bot.transports.matrix.inbound import RecentEvents, TimelineGate, command_text
from bot.transports.matrix.rooms import RoomDirectory
from bot.transports.matrix.state import MatrixState
from bot.transports.matrix.trust import apply_trust

log = logging.getLogger("statusdesk.matrix")

SYNC_TIMEOUT_MS = 30_000
REQUEST_TIMEOUT = 30.0
MAX_RECONNECT_DELAY = 30.0
START_WAIT = 60.0
"""How long `start()` waits for the first sync before going on (and retrying behind)."""
REPLY_ATTEMPTS = 3
MAX_REPLY_WAIT = 10.0
"""A rate-limited reply waits the homeserver's `retry_after_ms`, up to this, and tries again."""
ROOM_WAIT = 15.0
STOP_DRAIN = 5.0
JOIN_ATTEMPTS = 5
"""How long the ids of applied events are kept: a replayed sync is minutes old, not days."""
REJOIN_INTERVAL = 300.0
"""How often rooms that could not be joined are tried again while connected."""
SHARE_ATTEMPTS = 3
"""Room-key shares refused for a device that appeared mid-share, before giving up (the
outbox then retries the message later)."""

NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
LOST_TOKEN = frozenset({"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"})
LOGIN_REFUSED = frozenset({"M_FORBIDDEN", "M_USER_DEACTIVATED", "M_INVALID_USERNAME",
                           "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"})

NO_TOPIC_POWER = ("I cannot change this room's topic: my power level is too low. Alerts are "
                  "announced here as notices only; give me the power to set the topic to have "
                  "it changed too.")


@dataclass(frozen=True, slots=True)
class _SyncedTo:
    """In the inbox after a sync's messages: the token to resume from once they ran."""

    token: str


@dataclass(frozen=True, slots=True)
class _SayInRoom:
    """In the inbox after a room's late messages: a line for the room about them."""

    room_id: str
    text: str


class _Fatal(Exception):
    """Retrying cannot help (the homeserver refused our credentials): say so and stop."""


class _SyncFailed(Exception):
    """A sync came back as an error: leave `sync_forever` and reconnect after a pause."""

    def __init__(self, response: ErrorResponse) -> None:
        super().__init__(str(response))
        self.response = response


def server_name(user_id: str) -> str:
    """`@bot:example.org` → `example.org`: the network a Matrix account belongs to."""
    return user_id.split(":", 1)[1]


def transaction_id(key: str) -> str:
    """A transaction id for `key`: short, URL-safe, and the same every time."""
    return "statusdesk." + hashlib.sha256(key.encode()).hexdigest()[:40]




class MatrixTransport:
    name = "matrix"

    def __init__(
        self,
        config: MatrixConfig,
        state: TransportState,
        *,
        store_path: Path,
        on_connected: Callable[[MatrixTransport], None] | None = None,
        on_topic: TopicSink | None = None,
    ) -> None:
        self.network = server_name(config.user_id)
        self._config = config
        self._homeserver = str(config.homeserver).rstrip("/")
        self._state = MatrixState(state)
        self._on_topic = on_topic
        self._rooms = RoomDirectory(config.rooms)
        self._crypto_dir = store_path
        self._on_connected = on_connected or (lambda transport: None)
        self._verified = {user: dict(devices)
                          for user, devices in config.verified_devices.items()}
        self._client: AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[Message | TopicChanged | _SyncedTo | _SayInRoom] = (
            asyncio.Queue())
        self._reader: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._stopping = False
        self._connected = False
        self._attempt = 0
        self._fatal: str | None = None
        self._last_error: str | None = None
        self._saved_device: str | None = None
        self._saved_token: str | None = None
        self._next_batch: str | None = None
        self._catching_up = False
        self._recent = RecentEvents()
        self._gate: TimelineGate | None = None
        self._direct: dict[str, str] = {}
        self._room_errors: dict[str, str] = {}
        self._no_topic_power: set[str] = set()
        self._tidied = False
        self._joined_at = 0.0
        self._rejoining: asyncio.Task[None] | None = None

    # -- Transport protocol ------------------------------------------------------------

    def channels(self) -> Sequence[str]:
        return self._rooms.names()

    async def start(self, sink: MessageSink) -> None:
        saved = await self._state.load()
        self._saved_device, self._saved_token = saved.device_id, saved.access_token
        self._next_batch = saved.next_batch
        self._recent = RecentEvents()
        self._direct = dict(saved.direct_rooms)
        self._reader = asyncio.create_task(self._read(sink), name="matrix-commands")
        self._task = asyncio.create_task(self._run(), name="matrix-sync")
        waiter = asyncio.create_task(self._first_attempt.wait())
        await asyncio.wait([waiter, self._task], timeout=START_WAIT,
                           return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._fatal is not None:
            raise RuntimeError(f"matrix: {self._fatal}")
        if not self._connected:
            log.warning("matrix: not connected to %s yet (%s); retrying in the background",
                        self._homeserver, self._last_error or "still trying")

    async def stop(self) -> None:
        """Disconnect, keeping the device and its access token for the next start (no
        logout: that would delete the device and its encryption keys)."""
        self._stopping = True
        client = self._client
        if client is not None:
            client.stop_sync_forever()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._rejoining is not None:
            self._rejoining.cancel()
        if self._reader is not None:
            # Commands already taken from the homeserver: run them now, rather than have
            # them come again with the next start's sync.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._inbox.join(), STOP_DRAIN)
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._connected = False
        if client is not None:
            await client.close()

    async def send(self, target: str, text: str) -> None:
        """A reply: if rate limited, wait as told (briefly) and try again."""
        await self._say(self._room_id(target), text)

    async def notice(self, target: str, text: str) -> None:
        await self._send_content(self._room_id(target), message_content(text, "m.notice"))

    async def notice_keyed(self, target: str, text: str, key: str) -> None:
        """A notice the homeserver keeps once however often it is sent with this `key`:
        the key becomes the transaction id, which Synapse remembers per device for a day
        (the outbox gives up on an effect before that)."""
        await self._send_content(self._room_id(target), message_content(text, "m.notice"),
                                 txn_id=transaction_id(key))

    async def set_topic(self, target: str, text: str) -> None:
        room_id = self._room_id(target)
        client = self._live_client()
        try:
            response = await client.room_put_state(room_id, "m.room.topic",
                                                   {"topic": clean_outgoing(text)})
        except NETWORK_ERRORS as error:
            raise DeliveryUnavailable(f"homeserver unreachable: {error}") from error
        if isinstance(response, ErrorResponse) and response.status_code == "M_FORBIDDEN":
            await self._lacking_topic_power(room_id, target)
            raise DeliveryRejected(f"no power to change the topic of {target}: {response}")
        _check(response, f"setting the topic of {target}")
        self._no_topic_power.discard(room_id)

    async def get_topic(self, target: str) -> str | None:
        room_id = self._room_id(target)
        client = self._live_client()
        try:
            response = await client.room_get_state_event(room_id, "m.room.topic")
        except NETWORK_ERRORS as error:
            raise DeliveryUnavailable(f"homeserver unreachable: {error}") from error
        if isinstance(response, ErrorResponse) and response.status_code == "M_NOT_FOUND":
            return None
        _check(response, f"reading the topic of {target}")
        assert isinstance(response, RoomGetStateEventResponse)
        topic = response.content.get("topic")
        return topic if isinstance(topic, str) else None

    async def direct(self, user: str, text: str) -> None:
        await self._say(await self._direct_room(user), text)

    def health(self) -> dict[str, Any]:
        client = self._client
        channels = {}
        for name in self._rooms.names():
            room_id = self._rooms.room_id(name)
            if name in self._room_errors:
                channels[name] = f"not joined: {self._room_errors[name]}"
            elif room_id is None or client is None or room_id not in client.rooms:
                channels[name] = "not joined"
            elif room_id in self._no_topic_power:
                channels[name] = "joined; cannot set the topic (power level too low)"
            else:
                channels[name] = "joined"
        detail: dict[str, Any] = {
            "connected": self._connected,
            "homeserver": self._homeserver,
            "user_id": self._config.user_id,
            "device_id": client.device_id if client is not None else self._saved_device,
            "encryption": bool(client is not None and client.olm is not None),
            "trust": self._config.trust,
            "channels": channels,
        }
        error = self._fatal or (None if self._connected else self._last_error)
        if error:
            detail["error"] = error
        return detail

    # -- connection ----------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                client = await self._connect()
                await self._sync_forever(client)
            except asyncio.CancelledError:
                raise
            except _Fatal as error:
                self._fatal = str(error)
                self._connected = False
                log.error("matrix: %s", error)
                self._first_attempt.set()
                return
            except Exception as error:
                retry_after = None
                if isinstance(error, _SyncFailed):
                    retry_after = error.response.retry_after_ms
                    if error.response.status_code in LOST_TOKEN and self._client is not None:
                        self._client.access_token = ""
                self._disconnected(error)
                delay = jittered_backoff(self._attempt, cap=MAX_RECONNECT_DELAY)
                if retry_after:
                    delay = max(delay, retry_after / 1000)
                self._attempt += 1
                self._first_attempt.set()
                log.info("matrix: reconnecting in %.1fs", delay)
                await asyncio.sleep(delay)
            if self._stopping:
                return

    async def _sync_forever(self, client: AsyncClient) -> None:
        """nio's sync loop, kept going through one race of nio's own: a device-key query
        started for a send (`_prepare_encrypted`) can answer the query the loop has pending,
        and the loop's then finds nothing to ask and raises "No key query required" out of
        `sync_forever`. Nothing is wrong with the connection: syncing goes on from where
        it was, instead of a reconnect that would show the bot disconnected for seconds."""
        since, full_state = self._next_batch, True
        while True:
            try:
                await client.sync_forever(timeout=SYNC_TIMEOUT_MS, since=since,
                                          full_state=full_state, sync_filter=SYNC_FILTER)
                return
            except LocalProtocolError as error:
                if "key query" not in str(error):
                    raise
                log.debug("matrix: a key query raced nio's own; syncing on")
                since, full_state = self._next_batch, False

    def _disconnected(self, error: BaseException) -> None:
        reason = str(error) or type(error).__name__
        if self._connected:
            log.warning("matrix: lost the connection to %s: %s", self._homeserver, reason)
        else:
            log.warning("matrix: cannot connect to %s: %s", self._homeserver, reason)
        self._connected = False
        self._last_error = reason
        self._tidied = False

    async def _connect(self) -> AsyncClient:
        client = self._client
        if client is None:
            client = self._client = self._new_client()
        if not client.access_token:
            await self._login(client)
        if self._gate is None:
            # Rooms we were in before this start are live (news since the saved sync token
            # counts); on the very first start nothing is: the backlog is history.
            live: list[str] = []
            if self._next_batch is not None:
                joined = await client.joined_rooms()
                _check(joined, "listing joined rooms")
                assert isinstance(joined, JoinedRoomsResponse)
                live = joined.rooms
            self._gate = TimelineGate(client.user_id, live,
                                      first_start=self._next_batch is None)
        # The first sync after connecting brings what was said while the bot was away.
        self._catching_up = True
        await self._join_configured(client)
        return client

    def _new_client(self) -> AsyncClient:
        self._crypto_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = AsyncClientConfig(
            # Rate limits and network failures come back to us (nio would otherwise sleep
            # and retry forever inside a single call): the outbox and the reconnect loop
            # decide when to try again.
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=REQUEST_TIMEOUT,
            encryption_enabled=True,
            store_sync_tokens=False,
        )
        client = AsyncClient(self._homeserver, self._config.user_id, store_path=str(
            self._crypto_dir), config=config)
        client.add_event_callback(self._guarded(self._on_invite), InviteMemberEvent)
        client.add_response_callback(self._on_sync, SyncResponse)
        client.add_response_callback(self._on_sync_error, SyncError)
        return client

    async def _login(self, client: AsyncClient) -> None:
        config = self._config
        if config.access_token is not None:
            client.access_token = config.access_token.get_secret_value()
            who = await client.whoami()
            if isinstance(who, ErrorResponse):
                if who.status_code in LOGIN_REFUSED:
                    raise _Fatal(f"the homeserver refused matrix.access_token: {who.message}")
                raise _transient(who, "checking the access token")
            assert isinstance(who, WhoamiResponse)
            if who.user_id != config.user_id:
                raise _Fatal(f"matrix.access_token belongs to {who.user_id}, "
                             f"not {config.user_id}")
            if not who.device_id:
                raise _Fatal("the homeserver does not say which device matrix.access_token "
                             "belongs to")
            if self._saved_device == who.device_id and not self._crypto_store_exists(
                    who.device_id):
                log.warning("matrix: the encryption store for device %s is gone; encrypted "
                            "rooms will not decrypt old messages", who.device_id)
            client.restore_login(who.user_id, who.device_id, client.access_token)
            await self._state.save_login(who.device_id, None)
            self._saved_device = who.device_id
            log.info("matrix: using the configured access token (device %s)", who.device_id)
            return
        assert config.password is not None
        device, token = self._saved_device, self._saved_token
        if device is not None and not self._crypto_store_exists(device):
            log.warning("matrix: the encryption store for device %s is gone from %s; "
                        "logging in as a new device", device, self._crypto_dir)
            await self._state.forget_login(device=True)
            device = token = None
        if device is not None and token is not None:
            client.restore_login(config.user_id, device, token)
            who = await client.whoami()
            if isinstance(who, WhoamiResponse):
                log.info("matrix: resumed as %s, device %s", who.user_id, device)
                return
            if who.status_code not in LOST_TOKEN:
                raise _transient(who, "checking the saved access token")
            log.info("matrix: the saved access token was refused; logging in again "
                     "as device %s", device)
            client.access_token = ""
            await self._state.forget_login(device=False)
        client.device_id = device
        response = await client.login(config.password.get_secret_value(),
                                      device_name=config.device_name)
        if isinstance(response, ErrorResponse):
            if response.status_code in LOGIN_REFUSED:
                raise _Fatal(f"login as {config.user_id} refused: {response.message}")
            raise _transient(response, "logging in")
        assert isinstance(response, LoginResponse)
        await self._state.save_login(response.device_id, response.access_token)
        self._saved_device, self._saved_token = response.device_id, response.access_token
        log.info("matrix: logged in as %s, device %s", response.user_id, response.device_id)

    def _crypto_store_exists(self, device_id: str) -> bool:
        return (self._crypto_dir / f"{self._config.user_id}_{device_id}.db").exists()

    async def _join_configured(self, client: AsyncClient) -> None:
        self._joined_at = asyncio.get_running_loop().time()
        for name in self._rooms.names():
            if name.startswith("#") and self._rooms.room_id(name) is None:
                resolved = await client.room_resolve_alias(name)
                if isinstance(resolved, RoomResolveAliasResponse):
                    self._rooms.resolved(name, resolved.room_id)
            response = await _join(client, name)
            if isinstance(response, JoinResponse):
                self._rooms.resolved(name, response.room_id)
                self._room_errors.pop(name, None)
                continue
            assert isinstance(response, ErrorResponse)
            self._room_errors[name] = str(response.message or response.status_code)
            log.warning("matrix: cannot join %s: %s (waiting for an invite)", name, response)

    # -- incoming ------------------------------------------------------------------------

    def _guarded(self, callback: Callable[[MatrixRoom, Any], Awaitable[None]]
                 ) -> Callable[[MatrixRoom, Any], Awaitable[None]]:
        async def run(room: MatrixRoom, event: Any) -> None:
            try:
                await callback(room, event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("matrix: handling event %s in %s failed",
                              getattr(event, "event_id", "?"), room.room_id)

        return run

    async def _news_of(self, client: AsyncClient, response: SyncResponse, since: str | None,
                       catching_up: bool) -> list[Message | TopicChanged | _SayInRoom]:
        """The messages a sync brings, room by room, each room's gap back-filled first.
        Raises (BackfillFailed, a network error) when a gap cannot be read: nothing of this
        sync is taken then."""
        gate = self._gate
        if gate is None:
            return []
        now = datetime.now(UTC)
        by_room: list[list[tuple[int, Message | TopicChanged]]] = []
        notes: list[_SayInRoom] = []
        for room_id, info in response.rooms.join.items():
            wanted = room_id in self._direct.values() or self._rooms.is_configured(room_id)
            timeline = info.timeline
            gap = Gap([])
            if (wanted and timeline.limited and since is not None and timeline.prev_batch
                    and gate.is_live(room_id)):
                gap = await fetch_gap(client, room_id, since=since,
                                      until=timeline.prev_batch, own_user=client.user_id,
                                      now=now)
                log.info("matrix: %s: the sync skipped some events; read %d of them "
                         "through /messages", self._rooms.name_of(room_id), len(gap.events))
            admitted = gate.news(room_id, [event.source for event in timeline.events])
            if not wanted:
                continue
            arrived = [(event, True) for event in gap.events] + [
                (event, catching_up) for event, new in zip(timeline.events, admitted,
                                                           strict=True) if new]
            cut_before = gap.cut_before
            messages: list[tuple[int, Message | TopicChanged]] = []
            for event, late in arrived:
                if late and too_old(event, now):
                    cut_before = max(cut_before or now - MAX_LATE_AGE, now - MAX_LATE_AGE)
                    continue
                item = self._item_of(room_id, event, late=late)
                if item is not None:
                    messages.append((event.server_timestamp, item))
            by_room.append(messages)
            if cut_before is not None:
                notes.append(self._unread_before(room_id, cut_before))
        # Rooms interleaved in the order their messages were posted (each room's own order
        # kept as the homeserver gives it), so that commands in two rooms run as posted.
        merged = heapq.merge(*by_room, key=lambda timed: timed[0])
        return [message for _, message in merged] + notes

    def _unread_before(self, room_id: str, cut_before: datetime) -> _SayInRoom:
        """Said once per catch-up, in the room, and logged: a gap too long or too old to
        read whole was read only from `cut_before` on."""
        name = self._rooms.name_of(room_id)
        hours = f"{MAX_LATE_AGE.total_seconds() / 3600:.0f} hours"
        log.warning("matrix: %s: messages from before %s were posted while I was away and "
                    "are not read (a catch-up reads at most %d events and %s back)", name,
                    f"{cut_before:%Y-%m-%d %H:%M} UTC", MAX_GAP_EVENTS, hours)
        return _SayInRoom(room_id, (
            f"I was away: messages posted here before {cut_before:%Y-%m-%d %H:%M} UTC were "
            f"not read (I catch up on at most {MAX_GAP_EVENTS} messages and {hours}); "
            "repeat any command from then that still matters."))

    def _item_of(self, room_id: str, event: Event, *, late: bool
                 ) -> Message | TopicChanged | None:
        """What an admitted event is for the core: a message, someone else's new topic for
        a configured room, or nothing."""
        if isinstance(event, RoomTopicEvent):
            own = self._client.user_id if self._client else self._config.user_id
            if event.sender == own or not self._rooms.is_configured(room_id):
                return None
            log.info("matrix: %s changed the topic of %s", event.sender,
                     self._rooms.name_of(room_id))
            return TopicChanged(Channel(self.name, self.network, self._rooms.name_of(room_id)),
                                event.topic or None, event.sender)
        if isinstance(event, MegolmEvent):
            log.warning("matrix: cannot decrypt event %s from %s in %s (no key for session "
                        "%s); ask them to verify or re-share keys with device %s",
                        event.event_id, event.sender, room_id, event.session_id,
                        self._client.device_id if self._client else "?")
            return None
        if not isinstance(event, RoomMessageText):
            return None
        content = event.source.get("content") or {}
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            return None  # an edit: the original was the command, if any
        private = room_id in self._direct.values()
        if not (private or self._rooms.is_configured(room_id)):
            return None
        # Nothing is saved here: the desk records the event id in the command's own
        # transaction, and the sync token moves on only once the command has run, so after
        # a crash the event comes again and is applied if, and only if, it was not.
        return Message(
            transport=self.name,
            network=self.network,
            target=self._rooms.name_of(room_id),
            sender=event.sender,
            identity=Identity(transport=self.name, nick=event.sender, network=self.network,
                              matrix_user=event.sender),
            text=command_text(event.body, content),
            event_id=event.event_id,
            private=private,
            addressed=private,
            posted_at=posted_at(event) if late else None,
        )

    async def _read(self, sink: MessageSink) -> None:
        """Hand messages to the core one at a time, in order, outside the sync loop: a
        command may need the next sync (a direct room it opens) and must not block it.
        A sync's token comes after its messages, and is saved once they have run."""
        while True:
            item = await self._inbox.get()
            try:
                if isinstance(item, _SyncedTo):
                    await self._state.save_next_batch(item.token)
                elif isinstance(item, _SayInRoom):
                    await self._say(item.room_id, item.text)
                elif isinstance(item, TopicChanged):
                    if self._on_topic is not None:
                        await self._on_topic(item)
                else:
                    await sink(item)
            except Exception as error:
                if isinstance(item, _SyncedTo):
                    # A refused write (disk full, read-only) is the store's to log, once;
                    # the token is saved with the next sync that the database takes.
                    if not isinstance(error, StateNotSaved):
                        log.exception("matrix: saving the sync token failed")
                elif isinstance(item, _SayInRoom):
                    log.exception("matrix: could not say in %s that messages were not read",
                                  item.room_id)
                elif isinstance(item, TopicChanged):
                    log.exception("matrix: could not record the new topic of %s",
                                  item.channel.name)
                else:
                    log.exception("matrix: handling %s from %s failed", item.event_id,
                                  item.sender)
            finally:
                self._inbox.task_done()

    async def _on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        client = self._client
        if client is None or event.state_key != client.user_id or event.membership != "invite":
            return
        if self._rooms.is_configured(room.room_id):
            response = await _join(client, room.room_id)
            if isinstance(response, JoinResponse):
                name = self._rooms.name_of(room.room_id)
                self._room_errors.pop(name, None)
                log.info("matrix: joined %s on %s's invitation", name, event.sender)
            else:
                log.warning("matrix: cannot join %s after an invite: %s", room.room_id,
                            response)
            return
        log.warning("matrix: declining %s's invitation to %s: not in matrix.rooms",
                    event.sender, room.room_id)
        await client.room_leave(room.room_id)

    async def _on_sync(self, response: SyncResponse) -> None:
        client = self._client
        since = self._next_batch
        catching_up = self._catching_up and since is not None
        if client is None:
            return
        try:
            news = await self._news_of(client, response, since, catching_up)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Not taken: nio must handle the same sync again (it skips one whose token it
            # has seen), and syncing starts again from `since` after a reconnect.
            client.next_batch = since
            raise
        try:
            self._catching_up = False
            if self._gate is not None:
                self._gate.synced(response.rooms.join.keys())
                for room_id in response.rooms.leave:
                    self._gate.left(room_id)
            for item in news:
                if isinstance(item, Message) and (item.event_id is None
                                                  or not self._recent.add(item.event_id)):
                    continue
                self._inbox.put_nowait(item)
            if response.next_batch and response.next_batch != self._next_batch:
                # Saved behind this sync's commands: a crash before they ran resumes from
                # the previous token, and they come again.
                self._inbox.put_nowait(_SyncedTo(response.next_batch))
                self._next_batch = response.next_batch
            self._mark_connected()
            self._maybe_rejoin()
            if not self._tidied:
                self._tidied = True
                await self._leave_unconfigured()
            self._first_attempt.set()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("matrix: handling a sync response failed")

    def _maybe_rejoin(self) -> None:
        """Now and then, try again the rooms that could not be joined (not invited yet, a
        typo in an alias since fixed on the server, a rate limit)."""
        client = self._client
        loop = asyncio.get_running_loop()
        if (client is None or not self._room_errors or self._rejoining is not None
                or loop.time() - self._joined_at < REJOIN_INTERVAL):
            return

        async def rejoin() -> None:
            try:
                await self._join_configured(client)
            except Exception as error:
                log.warning("matrix: trying the rooms again failed: %s", error)
            finally:
                self._rejoining = None

        self._rejoining = asyncio.create_task(rejoin(), name="matrix-rejoin")

    def _mark_connected(self) -> None:
        """A sync came through: we are connected (again), and the outbox may retry."""
        if self._connected:
            return
        self._connected = True
        self._attempt = 0
        self._last_error = None
        log.info("matrix: connected to %s as %s", self._homeserver, self._config.user_id)
        self._on_connected(self)

    async def _on_sync_error(self, response: SyncError) -> None:
        raise _SyncFailed(response)

    async def _leave_unconfigured(self) -> None:
        """Leave every room we are in that is neither configured nor a direct chat."""
        client = self._client
        if client is None:
            return
        direct = set(self._direct.values())
        listed = await client.list_direct_rooms()
        if isinstance(listed, DirectRoomsResponse):
            direct.update(room for rooms in listed.rooms.values() for room in rooms)
        for room_id in list(client.rooms):
            if self._rooms.is_configured(room_id) or room_id in direct:
                continue
            log.warning("matrix: leaving %s: it is not in matrix.rooms", room_id)
            response = await client.room_leave(room_id)
            if isinstance(response, ErrorResponse):
                log.warning("matrix: cannot leave %s: %s", room_id, response)

    # -- outgoing ------------------------------------------------------------------------

    def _live_client(self) -> AsyncClient:
        if self._client is None or not self._connected:
            raise DeliveryUnavailable(f"not connected to {self._homeserver}")
        return self._client

    def _room_id(self, target: str) -> str:
        room_id = self._rooms.room_id(target)
        if room_id is None:
            raise DeliveryUnavailable(f"{target} is not joined yet")
        return room_id

    async def _say(self, room_id: str, text: str) -> None:
        content = message_content(text, "m.notice")
        for attempt in range(REPLY_ATTEMPTS):
            try:
                await self._send_content(room_id, content)
                return
            except DeliveryUnavailable as error:
                if error.retry_after is None or attempt == REPLY_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(min(error.retry_after, MAX_REPLY_WAIT))

    async def _send_content(self, room_id: str, content: dict[str, Any],
                            txn_id: str | None = None) -> None:
        client = self._live_client()
        room = client.rooms.get(room_id)
        if room is None:
            raise DeliveryUnavailable(f"not in room {room_id} (yet)")
        try:
            if room.encrypted:
                await self._prepare_encrypted(client, room)
            response = await client.room_send(room_id, "m.room.message", content,
                                              tx_id=txn_id, ignore_unverified_devices=True)
        except NETWORK_ERRORS as error:
            raise DeliveryUnavailable(f"homeserver unreachable: {error}") from error
        except (OlmTrustError, EncryptionError, LocalProtocolError) as error:
            raise DeliveryUnavailable(f"cannot encrypt for {room_id}: {error}") from error
        _check(response, f"sending to {self._rooms.name_of(room_id)}")

    async def _prepare_encrypted(self, client: AsyncClient, room: MatrixRoom) -> None:
        """Learn the room's devices and decide on each per `matrix.trust` before nio
        shares the room key (nio itself would send to unverified devices when told to
        ignore them, which is how `tofu` works; `verified` blacklists them first)."""
        if client.olm is None:
            raise DeliveryRejected(f"{room.room_id} is encrypted and this bot has no "
                                   "encryption store")
        if not room.members_synced:
            _check(await client.joined_members(room.room_id), "listing room members")
        # A member whose devices we have never seen (just joined, or their device-list
        # change is still in a sync we have not had) would get no room key: ask for them now
        # rather than send them something they cannot read.
        unseen = [user for user in room.users if user != client.user_id
                  and not list(client.device_store.active_user_devices(user))]
        if unseen:
            client.olm.users_for_key_query.update(unseen)
        if client.should_query_keys:
            _check(await client.keys_query(), "querying device keys")
        apply_trust(client, list(room.users), self._config.trust, self._verified)
        await self._share_room_key(client, room)

    async def _share_room_key(self, client: AsyncClient, room: MatrixRoom) -> None:
        """Share the room key here rather than leave it to `room_send`: while nio waits for
        one-time keys during the share, its sync loop can learn a new device, after the
        trust decision above. Under `verified` nio is told to refuse such a device instead of
        letting it through as "unverified, ignored"; its owner's devices are then decided
        again and the share retried."""
        tofu = self._config.trust == "tofu"
        for attempt in range(SHARE_ATTEMPTS):
            sharing = client.sharing_session.get(room.room_id)
            if sharing is not None:
                await sharing.wait()
            assert client.olm is not None
            if not client.olm.should_share_group_session(room.room_id):
                return
            try:
                await client.share_group_session(room.room_id,
                                                 ignore_unverified_devices=tofu)
                return
            except OlmUnverifiedDeviceError as error:
                if attempt == SHARE_ATTEMPTS - 1:
                    raise
                log.info("matrix: %s turned up while sharing the key of %s; deciding on it",
                         error.device.id, room.room_id)
                apply_trust(client, [error.device.user_id], self._config.trust,
                            self._verified)

    async def _lacking_topic_power(self, room_id: str, target: str) -> None:
        if room_id in self._no_topic_power:
            return
        self._no_topic_power.add(room_id)
        log.warning("matrix: cannot set the topic of %s: power level too low", target)
        try:
            await self._send_content(room_id, message_content(NO_TOPIC_POWER, "m.notice"))
        except (DeliveryUnavailable, DeliveryRejected) as error:
            log.warning("matrix: could not say so in %s: %s", target, error)

    async def _direct_room(self, user: str) -> str:
        try:
            return await self._open_direct_room(user)
        except NETWORK_ERRORS as error:
            raise DeliveryUnavailable(f"homeserver unreachable: {error}") from error

    async def _open_direct_room(self, user: str) -> str:
        """The direct chat with `user`: the one we keep, else one marked `m.direct`, else
        a new one (created with `is_direct`, recorded in `m.direct` and the database)."""
        client = self._live_client()
        known = self._direct.get(user)
        if known is not None and _shared_with(client, known, user):
            return known
        listed = await client.list_direct_rooms()
        if isinstance(listed, DirectRoomsResponse):
            for candidate in listed.rooms.get(user, []):
                if _shared_with(client, candidate, user):
                    await self._remember_direct(user, str(candidate))
                    return str(candidate)
        created = await client.room_create(is_direct=True, invite=[user],
                                           preset=RoomPreset.trusted_private_chat)
        _check(created, f"opening a direct chat with {user}")
        assert isinstance(created, RoomCreateResponse)
        room_id = str(created.room_id)
        await self._remember_direct(user, room_id)
        await self._mark_direct(client, user, room_id,
                                listed.rooms if isinstance(listed, DirectRoomsResponse) else {})
        # nio only sends to rooms it has synced; the sync loop brings the new one shortly.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ROOM_WAIT):
                while room_id not in client.rooms:
                    await client.synced.wait()
        log.info("matrix: opened direct chat %s with %s", room_id, user)
        return room_id

    async def _remember_direct(self, user: str, room_id: str) -> None:
        self._direct[user] = room_id
        await self._state.save_direct_rooms(self._direct)

    async def _mark_direct(self, client: AsyncClient, user: str, room_id: str,
                           current: dict[str, list[str]]) -> None:
        """Add the room to our `m.direct` account data, so clients show it as a DM."""
        rooms = {k: list(v) for k, v in current.items()}
        rooms.setdefault(user, [])
        if room_id not in rooms[user]:
            rooms[user].append(room_id)
        path = (f"/_matrix/client/v3/user/{quote(client.user_id, safe='')}"
                "/account_data/m.direct")
        try:
            response = await client.send(
                "PUT", path, json.dumps(rooms),
                headers={"Authorization": f"Bearer {client.access_token}",
                         "Content-Type": "application/json"},
            )
            async with response:
                if response.status != 200:
                    log.warning("matrix: could not record %s in m.direct: HTTP %s", room_id,
                                response.status)
        except NETWORK_ERRORS as error:
            log.warning("matrix: could not record %s in m.direct: %s", room_id, error)


async def _join(client: AsyncClient, room: str) -> Any:
    """Join, waiting out rate limits (a homeserver may limit joins tightly)."""
    for _ in range(JOIN_ATTEMPTS):
        response = await client.join(room)
        if not (isinstance(response, ErrorResponse)
                and response.status_code == "M_LIMIT_EXCEEDED"):
            return response
        await asyncio.sleep(min((response.retry_after_ms or 1000) / 1000, MAX_REPLY_WAIT))
    return response


def _shared_with(client: AsyncClient, room_id: str, user: str) -> bool:
    room = client.rooms.get(room_id)
    return room is not None and user in room.users


def _transient(response: ErrorResponse, doing: str) -> Exception:
    return ConnectionError(f"{doing}: {response}")


def _check(response: Any, doing: str) -> None:
    """Turn an error response into the exception the outbox understands."""
    if not isinstance(response, ErrorResponse):
        return
    code = response.status_code
    if code == "M_LIMIT_EXCEEDED":
        retry_after = (response.retry_after_ms or 1000) / 1000
        raise DeliveryUnavailable(f"{doing}: rate limited", retry_after=retry_after)
    if code in ("M_FORBIDDEN", "M_TOO_LARGE", "M_BAD_JSON", "M_NOT_JSON", "M_NOT_FOUND",
                "M_INVALID_PARAM"):
        raise DeliveryRejected(f"{doing}: {response}")
    raise DeliveryUnavailable(f"{doing}: {response}")
