"""Changing a maintenance window: the one place that moves a window from phase to phase,
for the chat commands and the timers alike.

Each change, in the caller's transaction: the window's phase and timer marks, the incident
row's state, a public timeline entry, a notice to every channel through the outbox (keyed by
window and step, so a retried or repeated step never announces twice), the components held or
released, and the `MaintenanceChanged` event to publish after commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.core.effects import EVERYWHERE, Notice, broadcast, to_row
from bot.core.events import DeskEvent, MaintenanceChanged
from bot.core.ports import Channel
from bot.maintenance import rules
from bot.maintenance.rules import Plan, Timer, WindowMarks
from commands import maintenance_replies as say
from storage.maintenance import CANCELLED, COMPLETED, IN_PROGRESS, Maintenance
from storage.timeline import Where
from storage.unit_of_work import Transaction

UNDER_MAINTENANCE = "under_maintenance"

TIMER_IDENTITY = "statusdesk maintenance timer"
"""The `identity` of the timeline entries the timers write."""


class ComponentHolds(Protocol):
    """How a window marks its components: a hold per holder, the worst status wins, and
    a component returns to operational once nothing holds it (the components feature)."""

    async def hold(self, tx: Transaction, holder: int, components: Sequence[str], status: str,
                   where: Where, now: datetime) -> Sequence[DeskEvent]:
        """The window `holder` holds these components at `status`; the events of what
        changed (published with the window's)."""
        ...

    async def release(self, tx: Transaction, holder: int, where: Where,
                      now: datetime) -> Sequence[DeskEvent]: ...


class NoComponents:
    """No components feature: the ids stay on the window, nothing else is marked."""

    async def hold(self, tx: Transaction, holder: int, components: Sequence[str], status: str,
                   where: Where, now: datetime) -> Sequence[DeskEvent]:
        return ()

    async def release(self, tx: Transaction, holder: int, where: Where,
                      now: datetime) -> Sequence[DeskEvent]:
        return ()


def marks(maintenance: Maintenance) -> WindowMarks:
    w = maintenance.window
    return WindowMarks(w.phase, w.starts_at, w.ends_at, w.heads_up_at, w.end_asked_at)


class Windows:
    def __init__(
        self,
        channels: Callable[[], Sequence[Channel]],
        *,
        zone: ZoneInfo,
        announce_before: timedelta | None,
        holds: ComponentHolds | None = None,
    ) -> None:
        self._channels = channels
        self.zone = zone
        self.announce_before = announce_before
        self.holds: ComponentHolds = holds or NoComponents()

    def window_text(self, maintenance: Maintenance) -> str:
        w = maintenance.window
        return rules.window_text(w.starts_at, w.ends_at, ZoneInfo(w.timezone))

    # --- scheduling ------------------------------------------------------------------------

    async def schedule(self, tx: Transaction, plan: Plan, title: str, where: Where,
                       now: datetime) -> tuple[Maintenance, MaintenanceChanged]:
        maintenance = await tx.maintenance.schedule(
            title=title, starts_at=plan.starts_at, ends_at=plan.ends_at,
            timezone=str(self.zone), components=plan.components, scheduled_by=where.actor,
            at=now)
        text = f"{title} ({self.window_text(maintenance)}{say.on_components(plan.components)})"
        await tx.timeline.append(maintenance.id, "opened", where, now, text=text,
                                 new="scheduled")
        return maintenance, self._event(maintenance, "scheduled", now)

    # --- steps -----------------------------------------------------------------------------

    async def start(self, tx: Transaction, maintenance: Maintenance, where: Where,
                    now: datetime, text: str | None = None) -> list[DeskEvent]:
        w = maintenance.window
        w.phase = IN_PROGRESS
        w.started_at = now
        w.heads_up_at = w.heads_up_at or now  # no heads-up after the start
        self._set_state(maintenance, IN_PROGRESS, now)
        announcement = say.started(maintenance.id, maintenance.incident.title,
                                   self.window_text(maintenance), w.components, text)
        await tx.timeline.append(maintenance.id, "state", where, now, text=text or announcement,
                                 old="scheduled", new=IN_PROGRESS)
        await self._announce(tx, maintenance, "start", announcement, now)
        events: list[DeskEvent] = [self._event(maintenance, "started", now)]
        if w.components:
            events += await self.holds.hold(tx, maintenance.id, list(w.components),
                                            UNDER_MAINTENANCE, where, now)
        return events

    async def complete(self, tx: Transaction, maintenance: Maintenance, where: Where,
                       now: datetime, text: str | None = None) -> list[DeskEvent]:
        return await self._finish(tx, maintenance, COMPLETED, where, now, text,
                                  say.completed(maintenance.id, maintenance.incident.title,
                                                text))

    async def cancel(self, tx: Transaction, maintenance: Maintenance, where: Where,
                     now: datetime, text: str | None = None) -> list[DeskEvent]:
        return await self._finish(tx, maintenance, CANCELLED, where, now, text,
                                  say.cancelled(maintenance.id, maintenance.incident.title,
                                                self.window_text(maintenance), text))

    async def _finish(self, tx: Transaction, maintenance: Maintenance, phase: str,
                      where: Where, now: datetime, text: str | None,
                      announcement: str) -> list[DeskEvent]:
        w = maintenance.window
        old = w.phase
        w.phase = phase
        w.finished_at = now
        self._set_state(maintenance, phase, now)
        maintenance.incident.resolved_at = now
        await tx.timeline.append(maintenance.id, "state", where, now, text=text or announcement,
                                 old=old, new=phase)
        await self._announce(tx, maintenance, phase, announcement, now)
        events: list[DeskEvent] = [self._event(maintenance, phase, now)]
        if old == IN_PROGRESS and w.components:
            events += await self.holds.release(tx, maintenance.id, where, now)
        return events

    # --- timers ----------------------------------------------------------------------------

    async def fire(self, tx: Transaction, maintenance: Maintenance, timer: Timer,
                   where: Where, now: datetime) -> list[DeskEvent]:
        w = maintenance.window
        if timer is Timer.START:
            return await self.start(tx, maintenance, where, now)
        if timer is Timer.HEADS_UP:
            w.heads_up_at = now
            text = say.heads_up(maintenance.id, maintenance.incident.title,
                                self.window_text(maintenance), w.components,
                                w.starts_at - now)
            await tx.timeline.append(maintenance.id, "maintenance.heads_up", where, now,
                                     text=text)
            await self._announce(tx, maintenance, "heads_up", text, now)
            maintenance.incident.updated_at = now
            return [self._event(maintenance, "announced", now)]
        w.end_asked_at = now
        end_local = rules.local(w.ends_at, ZoneInfo(w.timezone))
        text = say.end_question(maintenance.id, maintenance.incident.title,
                                f"{end_local:%H:%M} {w.timezone}")
        # The question is for the operators; the page shows the overrun by itself.
        await tx.timeline.append(maintenance.id, "maintenance.end_asked", where, now,
                                 text=text, public=False)
        await self._announce(tx, maintenance, "ask_end", text, now)
        maintenance.incident.updated_at = now
        return [self._event(maintenance, "overrunning", now)]

    # --- pieces ----------------------------------------------------------------------------

    @staticmethod
    def _set_state(maintenance: Maintenance, phase: str, now: datetime) -> None:
        maintenance.incident.state = phase
        maintenance.incident.updated_at = now

    async def _announce(self, tx: Transaction, maintenance: Maintenance, step: str, text: str,
                        now: datetime) -> None:
        for queued in broadcast(f"maintenance:{maintenance.id}:{step}", self._channels(),
                                [Notice(EVERYWHERE, text)]):
            await tx.outbox.add(*to_row(queued), now)

    @staticmethod
    def _event(maintenance: Maintenance, phase: str, now: datetime) -> MaintenanceChanged:
        w = maintenance.window
        return MaintenanceChanged(at=now, incident_id=maintenance.id,
                                  title=maintenance.incident.title, phase=phase,
                                  starts_at=w.starts_at, ends_at=w.ends_at,
                                  components=tuple(w.components))
