"""What the Matrix transport keeps in the database between runs.

The device and its access token (so a restart is the same device, with the same encryption
keys, rather than a new login each time), the sync token to resume from (saved once the
commands before it have run), and the direct-message room kept with each user. Which events
were applied is recorded by the desk, with each command. All of it lives in the
`transport_state` table under one scope per bot account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from storage.models import utcnow
from storage.unit_of_work import Store


@dataclass(frozen=True, slots=True)
class Saved:
    device_id: str | None
    access_token: str | None
    next_batch: str | None
    direct_rooms: dict[str, str]


class MatrixState:
    def __init__(self, store: Store, user_id: str) -> None:
        self._store = store
        self._scope = f"matrix:{user_id}"

    async def load(self) -> Saved:
        async with self._store.reading() as tx:
            get = tx.transport_state.get
            device_id = await get(self._scope, "device_id")
            access_token = await get(self._scope, "access_token")
            next_batch = await get(self._scope, "next_batch")
            direct = await get(self._scope, "direct_rooms")
        return Saved(
            device_id=device_id,
            access_token=access_token,
            next_batch=next_batch,
            direct_rooms=_json_dict(direct),
        )

    async def save_login(self, device_id: str, access_token: str | None) -> None:
        """`access_token` None: the token comes from the configuration and is not copied."""
        async with self._store.transaction() as tx:
            await tx.transport_state.put(self._scope, "device_id", device_id, utcnow())
            if access_token is None:
                await tx.transport_state.delete(self._scope, "access_token")
            else:
                await tx.transport_state.put(self._scope, "access_token", access_token,
                                             utcnow())

    async def forget_login(self, *, device: bool) -> None:
        """Drop the access token (refused by the server); `device` too when it cannot be
        reused (its encryption keys are gone)."""
        async with self._store.transaction() as tx:
            await tx.transport_state.delete(self._scope, "access_token")
            if device:
                await tx.transport_state.delete(self._scope, "device_id")

    async def save_next_batch(self, token: str) -> None:
        async with self._store.transaction() as tx:
            await tx.transport_state.put(self._scope, "next_batch", token, utcnow())

    async def forget_applied_events(self, older_than: timedelta) -> None:
        """Drop the ids of events applied long ago (the desk records them)."""
        async with self._store.transaction() as tx:
            await tx.inbound_events.forget_before(utcnow() - older_than)
            # Kept by versions before the desk recorded applied events; unused now.
            await tx.transport_state.delete(self._scope, "recent_events")

    async def save_direct_rooms(self, rooms: dict[str, str]) -> None:
        async with self._store.transaction() as tx:
            await tx.transport_state.put(self._scope, "direct_rooms",
                                         json.dumps(rooms, sort_keys=True), utcnow())


def _json_dict(raw: str | None) -> dict[str, str]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
