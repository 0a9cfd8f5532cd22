"""Components, their status changes and the incidents holding them (DESIGN §1.6).

The status of a component is decided elsewhere (`bot.components.holds`); this repository
stores it and writes one `ComponentChange` row for every change, with its time, so the
component's history (its timeline, its uptime) is a view of those rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Component, ComponentChange, IncidentComponent

OPERATIONAL = "operational"


@dataclass(frozen=True, slots=True)
class DeclaredComponent:
    """A component as the configuration declares it."""

    id: str
    name: str
    group: str | None = None
    description: str | None = None


class ComponentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- the grid ---------------------------------------------------------------------------

    async def sync(self, declared: Sequence[DeclaredComponent], at: datetime) -> None:
        """Make the rows match the configuration: new ones start operational (and their
        first status is recorded), known ones take the configured name, group, description
        and position and keep their status; ones no longer configured are hidden."""
        rows = {c.id: c for c in await self.all(include_undeclared=True, for_update=True)}
        for position, wanted in enumerate(declared, start=1):
            row = rows.pop(wanted.id, None)
            if row is None:
                row = Component(id=wanted.id, name=wanted.name, group_name=wanted.group,
                                description=wanted.description, position=position,
                                status=OPERATIONAL, declared=True, created_at=at,
                                updated_at=at)
                self._session.add(row)
                await self._session.flush()
                self._session.add(ComponentChange(
                    component_id=row.id, old_status=None, new_status=OPERATIONAL,
                    incident_id=None, actor="configuration", text=None, at=at))
                continue
            if (row.name, row.group_name, row.description, row.position, row.declared) != (
                    wanted.name, wanted.group, wanted.description, position, True):
                row.name, row.group_name, row.description = (wanted.name, wanted.group,
                                                             wanted.description)
                row.position, row.declared = position, True
        for row in rows.values():
            row.declared = False
        await self._session.flush()

    async def all(self, *, include_undeclared: bool = False,
                  for_update: bool = False) -> Sequence[Component]:
        """The components in page order (the configuration's)."""
        query = select(Component).order_by(Component.position, Component.id)
        if not include_undeclared:
            query = query.where(Component.declared.is_(True))
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self._session.execute(query)).scalars().all()

    async def get(self, component_id: str, *, for_update: bool = False) -> Component | None:
        query = select(Component).where(Component.id == component_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def set_status(self, component: Component, status: str, at: datetime, *,
                         actor: str, incident_id: int | None = None,
                         text: str | None = None) -> ComponentChange | None:
        """Set the status and record the change; None (nothing written) when unchanged."""
        old = component.status
        if old == status:
            return None
        component.status = status
        component.updated_at = at
        change = ComponentChange(component_id=component.id, old_status=old, new_status=status,
                                 incident_id=incident_id, actor=actor, text=text, at=at)
        self._session.add(change)
        await self._session.flush()
        return change

    # --- holds ------------------------------------------------------------------------------

    async def hold(self, incident_id: int, component_id: str, status: str, at: datetime,
                   actor: str) -> IncidentComponent:
        """The incident holds the component at `status` (a link made again is live again,
        at the new status)."""
        query = (select(IncidentComponent)
                 .where(IncidentComponent.incident_id == incident_id,
                        IncidentComponent.component_id == component_id)
                 .execution_options(populate_existing=True))
        row = (await self._session.execute(query)).scalar_one_or_none()
        if row is None:
            row = IncidentComponent(incident_id=incident_id, component_id=component_id,
                                    status=status, linked_by=actor, linked_at=at,
                                    released_at=None)
            self._session.add(row)
        else:
            row.status, row.released_at = status, None
        await self._session.flush()
        return row

    async def set_hold_statuses(self, component_id: str, status: str) -> None:
        """Every live hold on the component now holds it at `status` (an operator said what
        state it is in, whoever holds it)."""
        await self._session.execute(
            update(IncidentComponent)
            .where(IncidentComponent.component_id == component_id,
                   IncidentComponent.released_at.is_(None))
            .values(status=status))

    async def release(self, incident_id: int, at: datetime) -> Sequence[str]:
        """End the incident's live holds; the ids of the components it held."""
        query = (select(IncidentComponent.component_id)
                 .where(IncidentComponent.incident_id == incident_id,
                        IncidentComponent.released_at.is_(None))
                 .order_by(IncidentComponent.component_id))
        ids = list((await self._session.execute(query)).scalars().all())
        if ids:
            await self._session.execute(
                update(IncidentComponent)
                .where(IncidentComponent.incident_id == incident_id,
                       IncidentComponent.released_at.is_(None))
                .values(released_at=at)
                .execution_options(synchronize_session=False))
        return ids

    async def live_holds(self, component_ids: Iterable[str] | None = None
                         ) -> Sequence[IncidentComponent]:
        """Holds not released yet (of the given components, else of all)."""
        query = (select(IncidentComponent)
                 .where(IncidentComponent.released_at.is_(None))
                 .order_by(IncidentComponent.component_id, IncidentComponent.incident_id)
                 .execution_options(populate_existing=True))
        if component_ids is not None:
            query = query.where(IncidentComponent.component_id.in_(list(component_ids)))
        return (await self._session.execute(query)).scalars().all()

    async def of_incidents(self, incident_ids: Iterable[int]
                           ) -> Mapping[int, Sequence[IncidentComponent]]:
        """Every component each incident holds or held, by incident."""
        ids = list(incident_ids)
        found: dict[int, list[IncidentComponent]] = {i: [] for i in ids}
        if not ids:
            return found
        query = (select(IncidentComponent)
                 .where(IncidentComponent.incident_id.in_(ids))
                 .order_by(IncidentComponent.incident_id, IncidentComponent.component_id))
        for row in (await self._session.execute(query)).scalars():
            found[row.incident_id].append(row)
        return found

    # --- history ----------------------------------------------------------------------------

    async def changes(self, *, since: datetime | None = None,
                      component_id: str | None = None) -> Sequence[ComponentChange]:
        """Status changes, oldest first (from `since`, of one component or all)."""
        query = select(ComponentChange).order_by(ComponentChange.at, ComponentChange.id)
        if since is not None:
            query = query.where(ComponentChange.at >= since)
        if component_id is not None:
            query = query.where(ComponentChange.component_id == component_id)
        return (await self._session.execute(query)).scalars().all()

    async def status_before(self, at: datetime) -> Mapping[str, str]:
        """Each component's status just before `at` (its last change before it), for a
        history that starts at `at`. Components with no change before `at` are left out.
        One index lookup per component, however long the history."""
        earlier = aliased(ComponentChange)
        last = (select(earlier.id)
                .where(earlier.component_id == Component.id, earlier.at < at)
                .order_by(earlier.at.desc(), earlier.id.desc())
                .limit(1)
                .scalar_subquery())
        query = (select(ComponentChange.component_id, ComponentChange.new_status)
                 .join(Component, ComponentChange.id == last))
        return {cid: status for cid, status in (await self._session.execute(query)).all()}
