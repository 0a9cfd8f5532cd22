"""Back-filling the gap a limited sync leaves: the events between where the bot was and the
first event of the sync's timeline, fetched through `/messages`.

A sync that comes back `limited` for a room holds only the newest events of the room
(`SYNC_TIMELINE_LIMIT`); whatever came between the previous sync token and the timeline's
`prev_batch` is in the gap. The gap is walked backwards from `prev_batch` towards the
previous token, so that when it is too long to read whole, what is kept is the newest part
(closest to now, the commands that still matter), and then handed over oldest first.

The walk is bounded, so a flood posted while the bot was away cannot make it read forever:
at most `MAX_GAP_EVENTS` events per room, none older than `MAX_LATE_AGE`, and never past
the bot's own join (what came before it was not said to the bot).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nio import AsyncClient, ErrorResponse, Event, MegolmEvent, RoomMessagesResponse
from nio.api import MessageDirection
from nio.exceptions import EncryptionError

from bot.transports.matrix.inbound import is_own_join

SYNC_TIMELINE_LIMIT = 100
"""Timeline events per room in one sync. Synapse's default is 10: eleven messages posted while
the bot was away made the sync `limited`. A larger window makes a back-fill rare, and every
sync after the first holds only news anyway."""

SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": SYNC_TIMELINE_LIMIT}}}
"""Members are not lazy-loaded: the key sharing of encrypted rooms and the direct-chat checks
rely on nio knowing every member of a room."""

MAX_GAP_EVENTS = 1000
"""At most this many events of one room's gap are read (the newest of it)."""

MAX_LATE_AGE = timedelta(hours=24)
"""A message handed over late is not applied if it is older than this: a command a day old
is more likely to do harm than good (and the ids of applied events are kept 7 days, so a
replay after a crash always finds the ones already applied)."""

PAGE = 100
GAP_TYPES = ["m.room.message", "m.room.encrypted", "m.room.member", "m.room.topic"]
"""What the gap is read for: messages (commands), membership to find the bot's own join, and
topics someone set meanwhile (the one to restore after an alert). Anything else (reactions,
other state) is filtered out by the homeserver and not counted."""


class BackfillFailed(ConnectionError):
    """The gap could not be read (the homeserver went away, refused a token): the sync that
    showed it is not taken, and syncing starts again from the previous token."""


@dataclass(frozen=True, slots=True)
class Gap:
    """A room's gap, oldest first, and what was left unread at its old end."""

    events: list[Event]
    cut_before: datetime | None = None
    """Set when older events were left unread (too many, or too old): the time of the
    oldest event read, or of the age limit."""


def posted_at(event: Event) -> datetime:
    """When the sender's homeserver says the event was sent, in UTC."""
    return datetime.fromtimestamp(event.server_timestamp / 1000, UTC)


def too_old(event: Event, now: datetime) -> bool:
    return posted_at(event) < now - MAX_LATE_AGE


async def fetch_gap(client: AsyncClient, room_id: str, *, since: str, until: str,
                    own_user: str, now: datetime) -> Gap:
    """The events between the sync token `since` and the timeline's `until` (its
    `prev_batch`), oldest first, within the bounds."""
    newest_first: list[Event] = []
    token: str | None = until
    cut_before: datetime | None = None
    while token is not None:
        response = await client.room_messages(
            room_id, start=token, end=since, direction=MessageDirection.back,
            limit=min(PAGE, MAX_GAP_EVENTS - len(newest_first)),
            message_filter={"types": GAP_TYPES})
        if isinstance(response, ErrorResponse) or not isinstance(response,
                                                                 RoomMessagesResponse):
            raise BackfillFailed(f"reading the gap in {room_id}: {response}")
        for event in response.chunk:
            source = event.source
            if is_own_join(source, own_user):
                return Gap(_oldest_first(client, room_id, newest_first))
            if too_old(event, now):
                return Gap(_oldest_first(client, room_id, newest_first),
                           now - MAX_LATE_AGE)
            newest_first.append(event)
            if len(newest_first) >= MAX_GAP_EVENTS:
                # Whether anything older is left is only known by asking once more.
                more = await client.room_messages(
                    room_id, start=response.end, end=since,
                    direction=MessageDirection.back, limit=1,
                    message_filter={"types": GAP_TYPES}) if response.end else None
                nothing_older = isinstance(more, RoomMessagesResponse) and not more.chunk
                if response.end and not nothing_older:
                    cut_before = posted_at(event)
                return Gap(_oldest_first(client, room_id, newest_first), cut_before)
        if not response.chunk or response.end == token:
            break
        token = response.end
    return Gap(_oldest_first(client, room_id, newest_first))


def _oldest_first(client: AsyncClient, room_id: str, newest_first: list[Event]) -> list[Event]:
    """Oldest first, encrypted events decrypted like those of a sync. nio decrypts the chunk
    of `/messages` itself when it has the key; one it could not decrypt stays a
    `MegolmEvent` and is reported by the caller, as in a sync."""
    events: list[Event] = []
    for event in reversed(newest_first):
        if isinstance(event, MegolmEvent) and client.olm is not None:
            event.room_id = event.room_id or room_id
            try:
                events.append(client.decrypt_event(event))
                continue
            except (EncryptionError, ValueError, AssertionError):  # nio asserts on odd events
                pass
        events.append(event)
    return events
