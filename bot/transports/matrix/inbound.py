"""Which timeline events the bot acts on, and the text it reads from them (no I/O).

A sync hands over history as well as news: the backlog of a room on the very first start,
the history of a room the bot has just joined, and after a crash the events of a sync whose
token was not saved yet. Only news may become commands, and never twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
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


class TimelineGate:
    """Admits timeline events that happened while the bot was in the room and listening.

    A room is *live* once a sync has shown the bot joined to it; before that, its timeline is
    history. On the very first start (no saved sync token) every room starts as history, so
    nothing said before the bot first ran is acted on. In a room joined later, events after
    the bot's own join event in the same timeline are news.
    """

    def __init__(self, own_user: str, live_rooms: Iterable[str] = ()) -> None:
        self._own_user = own_user
        self._live = set(live_rooms)

    def is_live(self, room_id: str) -> bool:
        return room_id in self._live

    def admit(self, room_id: str, sender: str, event_type: str,
              content: Mapping[str, Any], state_key: str | None) -> bool:
        """Whether this event is news; our own join event makes the rest of the room news."""
        if sender == self._own_user:
            if (event_type == "m.room.member" and state_key == self._own_user
                    and content.get("membership") == "join"):
                self._live.add(room_id)
            return False
        return room_id in self._live

    def synced(self, joined_rooms: Iterable[str]) -> None:
        """After a sync is handled, every room it showed us joined to is live."""
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
