"""The configured rooms, by the name the configuration gives them and by room id.

The rest of statusdesk knows a room by its configured name (`#infra:example.org` or
`!abc:example.org`): broadcasts go to it, saved topics and `incidents.capture` key on it, and
messages from the room carry it as their target. Matrix itself wants room ids, which an
alias only yields once resolved.
"""

from __future__ import annotations

from collections.abc import Sequence


class RoomDirectory:
    def __init__(self, configured: Sequence[str]) -> None:
        self._names = list(dict.fromkeys(configured))
        self._ids: dict[str, str] = {name: name for name in self._names if name.startswith("!")}

    def names(self) -> list[str]:
        return list(self._names)

    def resolved(self, name: str, room_id: str) -> None:
        self._ids[name] = room_id

    def room_id(self, target: str) -> str | None:
        """The room id for a configured name, or `target` itself when it is a room id."""
        if target in self._ids:
            return self._ids[target]
        return target if target.startswith("!") else None

    def name_of(self, room_id: str) -> str:
        """The configured name of a room, or its id when it is not configured."""
        for name, known in self._ids.items():
            if known == room_id:
                return name
        return room_id

    def is_configured(self, room_id: str) -> bool:
        return room_id in self._ids.values()

    def unresolved(self) -> list[str]:
        return [name for name in self._names if name not in self._ids]
