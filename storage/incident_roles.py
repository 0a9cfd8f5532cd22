"""Incident roles (`incidents.roles`): one store over two places. `lead` and `em` live on
the incident row (`lead`, `manager`), where the core and everything reading incidents have
always found them; every other role is a row of `incident_roles`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Incident, IncidentPrompt, IncidentRole

PUBLIC_ROLES = ("lead", "comms")
"""Roles the public page may show (never the escalation manager or the scribe)."""


def roles_of(incident: Incident, others: Sequence[IncidentRole],
             order: Sequence[str] = ()) -> dict[str, str]:
    """role -> nick for every role someone holds, `lead` and `em` first, then `order` (the
    configured roles), then any other held role (one since dropped from the configuration)."""
    held = {"lead": incident.lead, "em": incident.manager}
    held.update({row.role: row.nick for row in others})
    names = list(dict.fromkeys(["lead", "em", *order, *sorted(held)]))
    return {name: nick for name in names if (nick := held.get(name))}


_HELD_IN = (select(IncidentRole.incident_id, IncidentRole.role, IncidentRole.nick)
            .where(IncidentRole.incident_id.in_(bindparam("ids", expanding=True))))
"""Built once, the ids an expanding parameter: building the statement on each `#now` cost
more than running it."""


class IncidentRoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of(self, incident_id: int) -> Sequence[IncidentRole]:
        query = select(IncidentRole).where(IncidentRole.incident_id == incident_id)
        return (await self._session.execute(query)).scalars().all()

    async def of_many(self, incident_ids: Sequence[int]) -> dict[int, list[IncidentRole]]:
        found: dict[int, list[IncidentRole]] = {i: [] for i in incident_ids}
        if not incident_ids:
            return found
        query = select(IncidentRole).where(IncidentRole.incident_id.in_(incident_ids))
        for row in (await self._session.execute(query)).scalars():
            found[row.incident_id].append(row)
        return found

    async def held_in(self, incident_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
        """(role, nick) of the `incident_roles` rows of each incident, sorted, as plain
        rows: `of_many` for a reader that changes nothing."""
        found: dict[int, list[tuple[str, str]]] = {i: [] for i in incident_ids}
        if incident_ids:
            for incident_id, role, nick in await self._session.execute(
                    _HELD_IN, {"ids": list(incident_ids)}):
                found[incident_id].append((role, nick))
        for held in found.values():
            held.sort()
        return found

    async def assign(self, incident_id: int, role: str, nick: str, by: str,
                     at: datetime) -> str | None:
        """Give `role` to `nick`; the nick who held it before (None: nobody)."""
        row = await self._session.get(IncidentRole, (incident_id, role))
        if row is None:
            self._session.add(IncidentRole(incident_id=incident_id, role=role, nick=nick,
                                           assigned_by=by, assigned_at=at))
            await self._session.flush()
            return None
        old = row.nick
        if old == nick:
            return old  # unchanged: who assigned it, and when, stays as it was
        row.nick, row.assigned_by, row.assigned_at = nick, by, at
        await self._session.flush()
        return old


class IncidentPromptRepository:
    """One-time prompts about an incident (the missing escalation manager)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def made(self, incident_ids: Sequence[int], kind: str) -> set[int]:
        if not incident_ids:
            return set()
        query = select(IncidentPrompt.incident_id).where(
            IncidentPrompt.incident_id.in_(incident_ids), IncidentPrompt.kind == kind)
        return set((await self._session.execute(query)).scalars())

    async def record(self, incident_id: int, kind: str, at: datetime) -> None:
        self._session.add(IncidentPrompt(incident_id=incident_id, kind=kind, at=at))
        await self._session.flush()
