"""Typed effects: what must reach the outside world after a change commits.

A closed set of frozen dataclasses. The outbox stores them as rows (`kind`, lane, JSON
payload, idempotency key) through the one serializer here, and the deliverers read them back
through it, so the payload's shape is written down once. The shapes are the ones the outbox
has always stored: rows queued by an older version deliver after an upgrade.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from bot.core.ports import Channel

NOTICE_PREFIX = "NOTICE: "


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice in one channel (IRC NOTICE, Matrix m.notice)."""

    kind: ClassVar[str] = "notice"
    channel: Channel
    text: str


@dataclass(frozen=True, slots=True)
class SetTopic:
    """The alert's text as a channel's topic; the topic it replaces is kept for `RestoreTopic`."""

    kind: ClassVar[str] = "set_topic"
    channel: Channel
    text: str
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class RestoreTopic:
    """The topic kept by the last `SetTopic` (or the one a human set since) back in place."""

    kind: ClassVar[str] = "restore_topic"
    channel: Channel
    incident_id: int | None


ChannelEffect: TypeAlias = Notice | SetTopic | RestoreTopic
CHANNEL_EFFECTS: tuple[type[ChannelEffect], ...] = (Notice, SetTopic, RestoreTopic)


@dataclass(frozen=True, slots=True)
class Page:
    """One paging provider's delivery of a page event (trigger, acknowledge, resolve...).

    `body` is the provider-neutral page event (see `bot.paging`); `kind` on the row is
    `page.PROVIDER`."""

    provider: str
    incident_id: int
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return f"page.{self.provider}"

    @property
    def lane(self) -> str:
        return f"page/{self.provider}/incident-{self.incident_id}"


Effect: TypeAlias = Notice | SetTopic | RestoreTopic | Page


@dataclass(frozen=True, slots=True)
class Queued:
    """An effect with the idempotency key that makes queueing it twice harmless."""

    effect: Effect
    key: str


OutboxRow: TypeAlias = tuple[str, str, dict[str, Any], str]
"""(kind, lane, payload, idempotency key), as the outbox stores it."""


def to_row(queued: Queued) -> OutboxRow:
    effect = queued.effect
    if isinstance(effect, Page):
        return effect.kind, effect.lane, dict(effect.body), queued.key
    payload: dict[str, Any] = {"transport": effect.channel.transport,
                               "network": effect.channel.network,
                               "target": effect.channel.name}
    match effect:
        case Notice(text=text):
            payload["text"] = text
        case SetTopic(text=text, incident_id=incident_id):
            payload["text"] = text
            payload["incident_id"] = str(incident_id)
        case RestoreTopic(incident_id=incident_id):
            if incident_id is not None:
                payload["incident_id"] = str(incident_id)
    return effect.kind, effect.channel.lane, payload, queued.key


def from_row(kind: str, payload: Mapping[str, Any]) -> Effect:
    """The effect a stored row describes; ValueError for one that is not well formed."""
    if kind not in (Notice.kind, SetTopic.kind, RestoreTopic.kind) and \
            not kind.startswith("page."):
        raise ValueError(f"unknown effect kind {kind!r}")
    try:
        if kind.startswith("page."):
            return Page(kind.removeprefix("page."), int(payload["incident_id"]), payload)
        channel = Channel(str(payload["transport"]), str(payload["network"]),
                          str(payload["target"]))
        if kind == Notice.kind:
            return Notice(channel, str(payload["text"]))
        incident_id = _incident_id(payload.get("incident_id"))
        if kind == SetTopic.kind:
            return SetTopic(channel, str(payload["text"]), incident_id)
        if kind == RestoreTopic.kind:
            return RestoreTopic(channel, incident_id)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"malformed {kind} effect: {error!r}") from error
    raise ValueError(f"unknown effect kind {kind!r}")


def channel_effect(kind: str, payload: Mapping[str, Any]) -> ChannelEffect:
    effect = from_row(kind, payload)
    if isinstance(effect, Page):
        raise ValueError(f"{kind} is not a channel effect")
    return effect


def _incident_id(raw: object) -> int | None:
    # Older rows wrote "None" for an alert without an incident.
    if raw in (None, "", "None"):
        return None
    return int(str(raw))


def broadcast(cause: str, channels: Iterable[Channel],
              templates: Sequence[Notice | SetTopic | RestoreTopic]) -> list[Queued]:
    """Each template for every channel (its `channel` replaced), keyed by cause, kind and
    lane; a channel gets them in the order given."""
    return [Queued(_to(template, channel), f"{cause}:{template.kind}:{channel.lane}")
            for channel in channels for template in templates]


def to_own_channel(key: str, text: str, own: Channel | None,
                   channels: Sequence[Channel]) -> list[Queued]:
    """A notice to the incident's own channel when the bot is still in it, else to every
    broadcast channel (then told apart by lane in the key)."""
    if own is not None and own in channels:
        return [Queued(Notice(own, text), key)]
    return [Queued(Notice(channel, text), f"{key}:{channel.lane}") for channel in channels]


EVERYWHERE = Channel("", "", "")
"""The channel of a template for `broadcast`: it is replaced by every real channel."""


def _to(template: ChannelEffect, channel: Channel) -> ChannelEffect:
    match template:
        case Notice(text=text):
            return Notice(channel, text)
        case SetTopic(text=text, incident_id=incident_id):
            return SetTopic(channel, text, incident_id)
        case RestoreTopic(incident_id=incident_id):
            return RestoreTopic(channel, incident_id)
