"""Which timeline events the bot acts on, and the text it reads from them (no I/O).

A sync hands over history as well as news: the backlog of a room on the very first start,
the history of a room the bot has just joined, and after a crash the events of a sync whose
token was not saved yet. Only news may become commands, and never twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_TEXT = 65_536
"""Longest message text handed to the core: a Matrix event weighs at most 64 KiB, so only a
misbehaving homeserver sends more. Whatever is cut says so, and the grammar reports the
real length of an over-long command rather than that of a silently shortened one."""

RECENT_EVENTS = 512
"""How many handled event ids are remembered; a replayed sync is far shorter than this."""


class RecentEvents:
    """The ids of the last events handled, oldest first, bounded."""

    def __init__(self, ids: Iterable[str] = (), limit: int = RECENT_EVENTS) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        for event_id in ids:
            self.add(event_id)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> bool:
        """Remember `event_id`; False when it was already known."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True

    def ids(self) -> list[str]:
        return list(self._ids)


def is_own_join(source: Mapping[str, Any], own_user: str) -> bool:
    """Whether this event is the bot account joining the room (not a profile change of an
    account already joined, which is also a `join` member event)."""
    if (source.get("type") != "m.room.member" or source.get("state_key") != own_user
            or source.get("sender") != own_user):
        return False
    content = source.get("content")
    if not isinstance(content, Mapping) or content.get("membership") != "join":
        return False
    unsigned = source.get("unsigned")
    previous = unsigned.get("prev_content") if isinstance(unsigned, Mapping) else None
    if not isinstance(previous, Mapping):
        previous = source.get("prev_content")
    return not (isinstance(previous, Mapping) and previous.get("membership") == "join")


class TimelineGate:
    """Admits timeline events that happened while the bot was in the room and listening.

    On the very first start (no saved sync token) the first sync is history, all of it,
    whatever its membership events say: an account that joined its rooms long before (an
    operator accepted the invitations in a client) has its old join event in that window,
    and what followed it is as old. After that sync every room it showed is live.

    On a later start the rooms the bot is in are live: news since the saved token counts.
    In any timeline, what precedes the bot's own join is history (it joined while away, or
    was invited and accepted later); what follows it is news.
    """

    def __init__(self, own_user: str, live_rooms: Iterable[str] = (), *,
                 first_start: bool = False) -> None:
        self._own_user = own_user
        self._live = set(live_rooms)
        self._first_sync_is_history = first_start

    def is_live(self, room_id: str) -> bool:
        return room_id in self._live and not self._first_sync_is_history

    def news(self, room_id: str, sources: Sequence[Mapping[str, Any]]) -> list[bool]:
        """For each event of one room's timeline, in order: whether it is news. Our own
        join in it makes the room live from there on."""
        if self._first_sync_is_history:
            return [False] * len(sources)
        joined_at = None
        for index, source in enumerate(sources):
            if is_own_join(source, self._own_user):
                joined_at = index
        live = room_id in self._live
        if joined_at is not None:
            self._live.add(room_id)
        return [source.get("sender") != self._own_user
                and (index > joined_at if joined_at is not None else live)
                for index, source in enumerate(sources)]

    def synced(self, joined_rooms: Iterable[str]) -> None:
        """After a sync is handled, every room it showed us joined to is live."""
        self._first_sync_is_history = False
        self._live.update(joined_rooms)

    def left(self, room_id: str) -> None:
        self._live.discard(room_id)


def command_text(body: str, content: Mapping[str, Any]) -> str:
    """The text of a message as typed: the quoted original of a reply is dropped, so that
    quoting someone's `#status alert` does not repeat it."""
    relates = content.get("m.relates_to")
    in_reply = isinstance(relates, Mapping) and "m.in_reply_to" in relates
    if in_reply and body.startswith(">"):
        lines = body.split("\n")
        index = 0
        while index < len(lines) and lines[index].startswith(">"):
            index += 1
        body = "\n".join(lines[index:]).lstrip("\n")
    if len(body) > MAX_TEXT:
        return f"{body[:MAX_TEXT]} … [{len(body) - MAX_TEXT} more characters not read]"
    return body
