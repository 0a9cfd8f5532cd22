"""The prompt for a missing escalation manager (DESIGN §1.7): an incident of severity 1 or 2
that has no `em` `paging.ack_timeout` after it was opened is announced in every channel and
to the person on call, once.

The leader runs `EmPromptScheduler` (like reminders and escalations). Its state is in the
database: an `incident_prompts` row written in the same transaction as the queued notices
(whose outbox keys name the incident), so a restart, a new leader or two passes at once
prompt no incident twice. The clock is injected: tests move time, not sleep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config.models import EscalationManager
from bot.core.effects import EVERYWHERE, Notice, broadcast, to_row
from bot.core.ports import Channel, Transport
from bot.followup.direct import Recipient, direct_row
from bot.incidents.metrics import format_duration
from bot.paging.pager import Pager
from commands import followup_replies as say
from storage.models import Incident, utcnow
from storage.timeline import Where
from storage.unit_of_work import Store, Transaction
from storage.write_refusals import write_refusal

log = logging.getLogger("statusdesk.followup")

EM_PROMPT = "em"
"""The `incident_prompts.kind` of this prompt."""

PROMPT_IDENTITY = "statusdesk prompts"
PROMPT_SEVERITY = 2
"""Incidents of this severity or worse (1, 2) need an escalation manager."""


def needs_em_prompt(incident: Incident, now: datetime, wait: timedelta) -> bool:
    """An open incident (not a maintenance window), severity 1-2, nobody named `em`, and
    `wait` gone by since it was opened."""
    return (incident.state != "resolved" and incident.kind != "maintenance"
            and incident.severity <= PROMPT_SEVERITY
            and not incident.manager and now - incident.opened_at >= wait)


def em_prompt_key(incident_id: int) -> str:
    return f"prompt:em:{incident_id}"


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call (a name of `paging.escalation_managers`) and where to tell them
    directly (empty: only the channels' prompt names them)."""

    name: str
    direct: tuple[Recipient, ...] = ()


OnCallLookup = Callable[[Transaction, datetime], Awaitable[OnCall | None]]


async def nobody_on_call(tx: Transaction, now: datetime) -> OnCall | None:
    return None


class EmPromptScheduler:
    """`run()` it as a task on the leader; cancel it to stop."""

    def __init__(
        self,
        store: Store,
        wait: timedelta,
        *,
        bot_nick: str,
        channels: Callable[[], Sequence[Channel]],
        on_call: OnCallLookup = nobody_on_call,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._wait = wait
        self._bot_nick = bot_nick
        self._channels = channels
        self._on_call = on_call
        self._clock = clock
        self.on_queued = on_queued
        self.prompted = 0
        """Prompts made since start (for tests and metrics)."""

    def interval(self) -> float:
        """How often to look: often enough that the prompt is at most a few percent late."""
        return min(30.0, max(1.0, self._wait.total_seconds() / 20))

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as error:
                if write_refusal(error) is None:
                    log.exception("escalation manager prompt check failed")
            await asyncio.sleep(self.interval())

    async def check(self) -> int:
        """One pass: prompt for every incident that needs it and was not prompted for."""
        now = self._clock()
        count = 0
        async with self._store.transaction() as tx:
            candidates = [i for i in await tx.incidents.list_open()
                          if needs_em_prompt(i, now, self._wait)]
            if not candidates:
                return 0
            done = await tx.prompts.made([i.id for i in candidates], EM_PROMPT)
            for incident in candidates:
                if incident.id in done:
                    continue
                await self._prompt(tx, incident, now)
                count += 1
        if count:
            self.prompted += count
            log.info("prompted for an escalation manager on %d incident(s)", count)
            self.on_queued()
        return count

    async def _prompt(self, tx: Transaction, incident: Incident, now: datetime) -> None:
        on_call = await self._on_call(tx, now)
        text = say.em_prompt(incident.id, incident.severity,
                             format_duration(now - incident.opened_at),
                             on_call.name if on_call else None)
        key = em_prompt_key(incident.id)
        rows = [to_row(q) for q in broadcast(key, self._channels(),
                                             [Notice(EVERYWHERE, text)])]
        if on_call is not None:
            rows += [direct_row(to, text, f"{key}:direct:{to.transport}/{to.network}/{to.user}")
                     for to in on_call.direct]
        if rows:
            await tx.outbox.add_many(rows, now)
        else:
            log.warning("incident #%d: nowhere to prompt for an escalation manager",
                        incident.id)
        await tx.prompts.record(incident.id, EM_PROMPT, now)
        await tx.timeline.append(incident.id, "prompt.em",
                                 Where(actor=self._bot_nick, identity=PROMPT_IDENTITY), now,
                                 text=text, public=False)


def on_call_from_paging(pager: Pager, transports: Iterable[Transport]) -> OnCallLookup:
    """Who the rotation (and any `#oncall override`) puts on call, and where to message them
    directly: as the `chat` paging provider reaches people (their `contacts.irc` nick on
    every IRC network, `contacts.matrix` on Matrix, else the console)."""

    async def on_call(tx: Transaction, now: datetime) -> OnCall | None:
        shift = pager.rotation.on_call(now, await pager.overrides(tx, now))
        manager = pager.manager(shift.manager)
        if manager is None:
            return OnCall(shift.manager)
        return OnCall(manager.name, tuple(recipients(manager, transports)))

    return on_call


def recipients(manager: EscalationManager, transports: Iterable[Transport]) -> list[Recipient]:
    contacts = manager.contacts
    running = list(transports)
    found = [Recipient(t.name, t.network, user) for t in running
             if (user := {"irc": contacts.irc, "matrix": contacts.matrix}.get(t.name))]
    return found or [Recipient(t.name, t.network, manager.name) for t in running
                     if t.name == "console"]
