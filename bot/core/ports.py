"""Ports: the types that cross the core's boundary.

What a transport delivers (`Message`), where broadcasts go (`Channel`), the transport
protocol the core needs from IRC, Matrix, the console (or Slack later), and the delivery
outcomes every output path reports in. Transports, web, paging and playbooks depend on this
module; it depends on nothing of ours but `commands`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, TextIO, runtime_checkable

from commands.auth import Identity

__all__ = [
    "Channel",
    "DeliveryRejected",
    "DeliveryUnavailable",
    "Identity",
    "KeyedNotices",
    "Message",
    "MessageSink",
    "OperatorSession",
    "StagedNotices",
    "StateNotSaved",
    "TopicChanged",
    "TopicSink",
    "Transport",
    "TransportPlugin",
    "TransportSetup",
    "TransportState",
]


@dataclass(frozen=True, slots=True)
class Message:
    """A line of chat as the core sees it, whatever carried it."""

    transport: str
    network: str
    target: str
    sender: str
    identity: Identity
    text: str
    event_id: str | None = None
    private: bool = False
    """A private message: answers go back privately too."""
    addressed: bool = False
    """Sent to the bot itself (private message, console): no need to say its nick first."""
    posted_at: datetime | None = None
    """Set when the message is handed over late (posted while the bot was away, and read
    when it came back): when it was posted. Its answer says so."""


@dataclass(frozen=True, slots=True)
class Channel:
    """A broadcast destination: one channel or room on one network."""

    transport: str
    network: str
    name: str

    @property
    def lane(self) -> str:
        return f"{self.transport}/{self.network}/{self.name}"


MessageSink = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TopicChanged:
    """Someone other than the bot changed a channel's topic (IRC `TOPIC`, Matrix
    `m.room.topic`). The transport only reports it; what it means for the topic restored
    after an alert is decided in one place for every transport (`TopicKeeper`)."""

    channel: Channel
    topic: str | None
    setter: str


TopicSink = Callable[[TopicChanged], Awaitable[None]]


class StateNotSaved(Exception):
    """The database would not keep a transport's state (its disk is full, it is read-only).
    The refusal is logged once where it happened; the transport keeps running and saves
    again next time."""


class TransportState(Protocol):
    """The few values a transport keeps between runs (a Matrix device and sync token, the
    console's topic), under a scope of its own: the narrow port through which a transport
    reaches the database, so that it never holds the store itself."""

    async def load(self) -> Mapping[str, str]:
        """Everything saved under this transport's scope."""
        ...

    async def save(self, changes: Mapping[str, str | None]) -> None:
        """Set these keys (None: forget the key), all at once or not at all. Raises
        `StateNotSaved` when the database refuses writes, or the store's own error."""
        ...

BeforeWrite = Callable[[], Awaitable[None]]
"""Called (and awaited) right before a notice leaves for the network."""


class DeliveryUnavailable(Exception):
    """The transport cannot deliver right now (disconnected, rate limited): try again later.

    `retry_after` (seconds) is the far end's own word on when to try again (HTTP
    `Retry-After`, Matrix `retry_after_ms`); the outbox waits at least that long.
    """

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryRejected(Exception):
    """The network refused this delivery for good (no such channel, forbidden): do not retry."""


class Transport(Protocol):
    """One chat network connection.

    `name` is the transport kind (`irc`, `matrix`, `console`); `network` tells two
    connections of one kind apart (`oftc`, `libera`). Output methods raise
    `DeliveryUnavailable` or `DeliveryRejected` rather than failing silently.
    """

    name: str
    network: str

    def channels(self) -> Sequence[str]:
        """Every channel or room that broadcasts go to."""
        ...

    async def start(self, sink: MessageSink) -> None:
        """Connect and deliver incoming messages to `sink`; return once started."""
        ...

    async def stop(self) -> None: ...

    async def send(self, target: str, text: str) -> None: ...

    async def notice(self, target: str, text: str) -> None: ...

    async def set_topic(self, target: str, text: str) -> None: ...

    async def get_topic(self, target: str) -> str | None: ...

    async def direct(self, user: str, text: str) -> None: ...

    def health(self) -> dict[str, Any]:
        """Connection state for /healthz, e.g. `{"connected": true, "channels": {...}}`."""
        ...


@runtime_checkable
class KeyedNotices(Protocol):
    """A transport whose network recognises a repeated send by a key of ours and keeps one
    copy (Matrix: the transaction id of `PUT /rooms/{room}/send/{type}/{txnId}`), so a
    notice interrupted by a crash can safely be sent again."""

    async def notice_keyed(self, target: str, text: str, key: str) -> None:
        """Like `notice`; the same `key` twice delivers once."""
        ...


@runtime_checkable
class StagedNotices(Protocol):
    """A transport that tells the moment a notice leaves for the network. Until then the
    notice is only queued (behind flood control, other lines, a confirmation), and a crash
    meanwhile leaves nothing ambiguous: it is sent again after the restart. From that moment
    until the network confirms it, the notice is in flight; a crash then may or may not have
    let it out."""

    async def notice_staged(self, target: str, text: str, before_write: BeforeWrite) -> None:
        """Like `notice`; `before_write` is awaited right before the first line is written
        (if it raises, nothing is written and the error is raised here). Returns once the
        network has confirmed the notice."""
        ...


@runtime_checkable
class OperatorSession(Protocol):
    """A transport that is a person's session with the process (the console): when they end
    it (Ctrl-D), the process stops."""

    closed: asyncio.Event


@runtime_checkable
class OperatorInput(Protocol):
    """A transport plug-in whose transport reads a person's input (the console's stdin):
    it watches that input from the start, so that its end (Ctrl-D) stops an instance that
    stands by as well as one that leads."""

    def watch_input(self, stdin: TextIO | None) -> asyncio.Event:
        """Start reading now; the event is set at the input's end."""
        ...


@dataclass(frozen=True, slots=True)
class TransportSetup:
    """What the process hands a transport plug-in to build this term's connections."""

    bot_nick: str
    """What people address the bot by."""
    database_url: str
    """For a transport that keeps files beside the database (Matrix's encryption keys)."""
    state: Callable[[str], TransportState]
    """The `TransportState` for a scope of the plug-in's choosing (one per account)."""
    on_topic: TopicSink
    """Where to report a topic someone else set."""
    on_ready: Callable[[str, str], None]
    """Call with (name, network) when a connection is (again) able to deliver."""
    may_write: Callable[[], bool]
    """False while this instance is not the leader: not one line may leave then."""
    stdin: TextIO | None = None
    stdout: TextIO | None = None
    keep_chatter: Collection[str] = ()
    """Channels and rooms whose every message the desk wants (`incidents.capture`): a
    transport may drop ordinary chatter elsewhere unread (nothing would act on it)."""


class TransportPlugin(Protocol):
    """A kind of chat transport: a class named by an entry point of the
    `statusdesk.transports` group. The entry point's name is its top-level configuration
    key (`irc`, `matrix`, `console`, `slack`); `CONFIG_SCHEMA` is the type of that key's
    value (a pydantic model, a list of them, a bool), checked with the rest of the file
    (`PATH: message` errors). The process makes one instance and asks it at every term
    for the transports the configuration wants."""

    CONFIG_SCHEMA: ClassVar[Any]

    def build(self, config: Any, setup: TransportSetup) -> Sequence[Transport]:
        """This term's transports for `config`, the key's validated value (None, or the
        built-in keys' empty default, when the key is absent: no transport). A plug-in may
        hand back the same object each term (the console owns the process's stdin)."""
        ...
