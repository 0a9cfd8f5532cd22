"""What the Matrix transport keeps between runs.

The device and its access token (so a restart is the same device, with the same encryption
keys, rather than a new login each time), the sync token to resume from (saved once the
commands before it have run), and the direct-message room kept with each user. Which events
were applied is recorded by the desk, with each command. It is kept through the
`TransportState` port, under one scope per bot account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.core.ports import TransportState


@dataclass(frozen=True, slots=True)
class Saved:
    device_id: str | None
    access_token: str | None
    next_batch: str | None
    direct_rooms: dict[str, str]


class MatrixState:
    def __init__(self, state: TransportState) -> None:
        self._state = state

    async def load(self) -> Saved:
        saved = await self._state.load()
        return Saved(
            device_id=saved.get("device_id"),
            access_token=saved.get("access_token"),
            next_batch=saved.get("next_batch"),
            direct_rooms=_json_dict(saved.get("direct_rooms")),
        )

    async def save_login(self, device_id: str, access_token: str | None) -> None:
        """`access_token` None: the token comes from the configuration and is not copied."""
        await self._state.save({"device_id": device_id, "access_token": access_token})

    async def forget_login(self, *, device: bool) -> None:
        """Drop the access token (refused by the server); `device` too when it cannot be
        reused (its encryption keys are gone)."""
        forget: dict[str, str | None] = {"access_token": None}
        if device:
            forget["device_id"] = None
        await self._state.save(forget)

    async def save_next_batch(self, token: str) -> None:
        await self._state.save({"next_batch": token})

    async def save_direct_rooms(self, rooms: dict[str, str]) -> None:
        await self._state.save({"direct_rooms": json.dumps(rooms, sort_keys=True)})


def _json_dict(raw: str | None) -> dict[str, str]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
