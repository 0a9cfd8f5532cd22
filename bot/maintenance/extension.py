"""Scheduled maintenance as a desk extension: `#maintenance schedule|ID start|complete|cancel
|list`, applied inside the command's transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.events import DeskEvent
from bot.core.extension import Applying
from bot.maintenance import rules
from bot.maintenance.windows import Windows, marks
from commands import maintenance_replies as say
from commands import model as m
from commands.model import Command, MaintenanceStep
from commands.replies import usage
from commands.usage import USAGE
from storage.maintenance import Maintenance

MAX_LISTED = 10
"""Windows listed in one chat answer."""


class MaintenanceExtension:
    commands: tuple[type, ...] = (m.MaintenanceSchedule, m.MaintenanceAct, m.MaintenanceList)

    def __init__(
        self,
        windows: Windows,
        *,
        components: Callable[[], Mapping[str, str] | None] = lambda: None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._windows = windows
        self._components = components
        """Configured components, each id and lower-cased name -> id (None: none are)."""
        self._on_change = on_change
        """Wakes the timers: a window scheduled or moved may be due before their next look."""

    async def apply(self, command: Command, ctx: Applying) -> None:
        match command:
            case m.MaintenanceSchedule():
                await self._schedule(command, ctx)
            case m.MaintenanceAct(maintenance_id, step, text):
                await self._act(maintenance_id, step, text, ctx)
            case m.MaintenanceList():
                await self._list(ctx)

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        return None

    async def _schedule(self, command: m.MaintenanceSchedule, ctx: Applying) -> None:
        windows = self._windows
        decided = rules.plan(command, windows.zone, ctx.now, self._components())
        if isinstance(decided, rules.Refused):
            ctx.out.say(usage(decided.reason, USAGE["#maintenance schedule"]))
            return
        maintenance, event = await windows.schedule(ctx.tx, decided, command.title,
                                                    ctx.where, ctx.now)
        ctx.out.events.append(event)
        heads_up = (say.minutes(windows.announce_before)
                    if windows.announce_before is not None else None)
        ctx.out.say(say.scheduled(maintenance.id, command.title,
                                  windows.window_text(maintenance), decided.components,
                                  heads_up))
        self._on_change()

    async def _act(self, maintenance_id: int, step: MaintenanceStep, text: str | None,
                   ctx: Applying) -> None:
        maintenance = await ctx.tx.maintenance.get(maintenance_id, for_update=True)
        if maintenance is None:
            ctx.out.say(say.not_a_maintenance(maintenance_id))
            return
        refusal = rules.step_refusal(maintenance_id, step, maintenance.window.phase)
        if refusal is not None:
            ctx.out.say(refusal)
            return
        windows, tx, where, now = self._windows, ctx.tx, ctx.where, ctx.now
        if step is MaintenanceStep.START:
            events = await windows.start(tx, maintenance, where, now, text)
            reply = say.started_reply(maintenance_id)
        elif step is MaintenanceStep.COMPLETE:
            events = await windows.complete(tx, maintenance, where, now, text)
            reply = say.completed_reply(maintenance_id)
        else:
            events = await windows.cancel(tx, maintenance, where, now, text)
            reply = say.cancelled_reply(maintenance_id)
        ctx.out.events.extend(events)
        ctx.out.queued = True
        ctx.out.say(reply)
        self._on_change()

    async def _list(self, ctx: Applying) -> None:
        live = await ctx.tx.maintenance.live()
        if not live:
            ctx.out.say(say.nothing_listed())
            return
        ctx.out.say(*(self.line(one, ctx.now) for one in live[:MAX_LISTED]))
        if len(live) > MAX_LISTED:
            where = f": {ctx.page_url}" if ctx.page_url else "."
            ctx.out.say(f"…and {len(live) - MAX_LISTED} more on the status page{where}")

    def line(self, maintenance: Maintenance, now: datetime) -> str:
        w = maintenance.window
        state = rules.state_text(marks(maintenance), ZoneInfo(w.timezone), now)
        return say.list_line(maintenance.id, maintenance.incident.title,
                             self._windows.window_text(maintenance), w.components, state)
