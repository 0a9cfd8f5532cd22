"""Reminders: nudge an incident's channel when it goes quiet or nobody owns it.

Every pass (`ReminderScheduler.check`, once a minute from `run`) looks at the open incidents in
one transaction and queues `notice` effects in the outbox, like the desk does, so a nudge is
delivered at least once and never twice: each carries an idempotency key that names the
reason and the period it is about, and the outbox ignores a key it has seen (even one queued by
an earlier run of the bot).

* **Stale**: no change to the incident (the desk bumps `updated_at` on every change, notes
  included) for `incidents.remind_after`. One nudge per `remind_after` period of silence; an
  update starts the count again.
* **Unowned**: no incident lead and/or no escalation manager `remind_after` after it was opened.
  One nudge per combination of missing roles.
* **Overdue action items** (`#action ... due DATE`, any incident, resolved or not): one
  nudge per open item per day once its due day has passed; never during quiet hours.

A nudge goes to the channel where the incident was opened (its first timeline entry says where
`#incident open` or `#status alert` was typed), else to every broadcast channel; and it is
written to the incident's timeline as a private `reminder` entry, so the log shows what the
bot did. The decisions themselves are the pure functions below, testable without a database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo

from bot.config import IncidentsConfig, QuietHours
from bot.core.effects import to_own_channel, to_row
from bot.core.ports import Channel
from bot.followup.overdue import overdue, overdue_key, reminder_day
from bot.incidents.metrics import format_duration
from commands import followup_replies as say
from storage.models import Incident, utcnow
from storage.timeline import TimelineRecord, Where
from storage.unit_of_work import Store, Transaction
from storage.write_refusals import write_refusal

__all__ = [
    "REMINDER_IDENTITY",
    "ReminderScheduler",
    "held_by_quiet_hours",
    "in_quiet_hours",
    "missing_roles",
    "roles_key",
    "roles_text",
    "stale_key",
    "stale_period",
    "stale_text",
]

log = logging.getLogger("statusdesk.reminders")

REMINDER_IDENTITY = "statusdesk reminders"
"""The `identity` of the timeline entries the scheduler writes."""

REMINDER_KIND = "reminder"


# --- pure decisions ------------------------------------------------------------------------------


def stale_period(updated_at: datetime, now: datetime, remind_after: timedelta) -> int:
    """How many whole `remind_after` periods the incident has been quiet (0: not stale)."""
    if now <= updated_at:
        return 0
    return (now - updated_at) // remind_after


def stale_key(incident_id: int, updated_at: datetime, period: int) -> str:
    """The idempotency key of the stale nudge for one period of silence.

    It names the update the silence started from as well as the period: counting starts again
    at 1 after each update, and without the update in the key the first nudge after an update
    would collide with the first nudge of an earlier silence and never be sent.
    """
    since = updated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"remind:stale:{incident_id}:{since}:{period}"


def stale_text(incident: Incident, quiet_for: timedelta) -> str:
    n = incident.id
    return (
        f"Incident #{n} (sev{incident.severity}, {incident.state}) has had no update for "
        f'{format_duration(quiet_for)}: post one with "#incident {n} STATE TEXT", '
        f'"#status notice TEXT" or "#log {n} TEXT".'
    )


def missing_roles(lead: str | None, manager: str | None) -> str | None:
    """`lead`, `em`, `lead+em` for the roles nobody holds, or None when both are set."""
    missing = [name for name, holder in (("lead", lead), ("em", manager)) if not holder]
    return "+".join(missing) or None


def roles_key(incident_id: int, missing: str) -> str:
    return f"remind:roles:{incident_id}:{missing}"


def roles_text(incident_id: int, missing: str) -> str:
    n = incident_id
    if missing == "lead":
        return f'Incident #{n} has no incident lead: set one with "#incident {n} lead NICK".'
    if missing == "em":
        return f'Incident #{n} has no escalation manager: set one with "#incident {n} em NICK".'
    return (f"Incident #{n} has no incident lead and no escalation manager: set them with "
            f'"#incident {n} lead NICK" / "#incident {n} em NICK".')


def in_quiet_hours(now: datetime, start: time, end: time, zone: tzinfo) -> bool:
    """Whether `now` falls in the daily window [start, end) of local time in `zone`.

    A window whose end comes before its start crosses midnight (22:00-07:00 is 22:00 to
    midnight and midnight to 07:00).
    """
    local = now.astimezone(zone).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def held_by_quiet_hours(severity: int, now: datetime, quiet: QuietHours | None) -> bool:
    """Whether quiet hours hold back the nudges of an incident of this severity now.

    `below_severity` is read as "below in importance": during quiet hours an incident whose
    severity *number* is greater than `below_severity` (milder; with the default 2, sev3 and
    sev4) is not nudged, while sev1 and sev2 still are. A held-back nudge is not lost: the first
    check after the window queues it (with the period of silence current by then).
    """
    if quiet is None or severity <= quiet.below_severity:
        return False
    return in_quiet_hours(now, quiet.from_, quiet.to, quiet.zone)


# --- the scheduler -------------------------------------------------------------------------------


class ReminderScheduler:
    """Queues reminder nudges for open incidents; `run()` it as a task, cancel it to stop.

    Quiet hours (`incidents.quiet_hours`): between `from` and `to` local time in its time zone
    (the window may cross midnight), incidents milder than `below_severity` — severity number
    greater than it, so sev3 and sev4 with the default 2 — get no nudges; sev1 and sev2 still
    do. What was held back goes out at the first check after the window.
    """

    def __init__(
        self,
        store: Store,
        config: IncidentsConfig,
        *,
        bot_nick: str,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = lambda: None,
        fallback: Callable[[], Sequence[Channel]] = lambda: (),
    ) -> None:
        self._store = store
        self._config = config
        self._bot_nick = bot_nick
        self._clock = clock
        self._on_queued = on_queued
        self._fallback = fallback
        self.queued = 0
        """Nudges queued since start (for metrics and tests)."""

    async def run(self, interval: float = 60.0) -> None:
        """`check()` every `interval` seconds until cancelled; a failed pass is logged only."""
        while True:
            try:
                await self.check()
            except Exception as error:
                # A refused write (disk full, read-only) is the store's to log, once.
                if write_refusal(error) is None:
                    log.exception("reminder check failed; trying again in %.0fs", interval)
            await asyncio.sleep(interval)

    async def check(self) -> int:
        """One pass over the open incidents; how many nudges were queued."""
        now = self._clock()
        remind_after = self._config.remind_after
        quiet = self._config.quiet_hours
        count = 0
        async with self._store.transaction() as tx:
            count += await self._overdue_actions(tx, now)
            incidents = await tx.incidents.list_open()
            where_opened = await tx.timeline.first_of([i.id for i in incidents]) \
                if incidents else {}
            for incident in incidents:
                if held_by_quiet_hours(incident.severity, now, quiet):
                    continue
                nudges: list[tuple[str, str]] = []
                period = stale_period(incident.updated_at, now, remind_after)
                if period >= 1:
                    nudges.append((stale_key(incident.id, incident.updated_at, period),
                                   stale_text(incident, now - incident.updated_at)))
                missing = missing_roles(incident.lead, incident.manager)
                if missing and now - incident.opened_at >= remind_after:
                    nudges.append((roles_key(incident.id, missing),
                                   roles_text(incident.id, missing)))
                if not nudges:
                    continue
                own = _channel_of(where_opened.get(incident.id))
                for key, text in nudges:
                    if await self._queue(tx, incident.id, key, text, own, now):
                        count += 1
        if count:
            self.queued += count
            log.info("queued %d reminder(s)", count)
            self._on_queued()
        return count

    async def _overdue_actions(self, tx: Transaction, now: datetime) -> int:
        """Nudge about open action items past their due day, once a day each. They are never
        urgent: quiet hours hold them back whatever the incident's severity."""
        quiet = self._config.quiet_hours
        if quiet is not None and in_quiet_hours(now, quiet.from_, quiet.to, quiet.zone):
            return 0
        today = reminder_day(now, quiet.zone if quiet is not None else None)
        items = overdue(await tx.actions.overdue(today), today)
        if not items:
            return 0
        where_opened = await tx.timeline.first_of(list({i.incident_id for i in items}))
        count = 0
        for item in items:
            assert item.due is not None
            text = say.overdue_reminder(item.id, item.incident_id, item.text, item.owner,
                                        item.due)
            own = _channel_of(where_opened.get(item.incident_id))
            if await self._queue(tx, item.incident_id, overdue_key(item.id, today), text,
                                 own, now):
                count += 1
        return count

    async def _queue(
        self,
        tx: Transaction,
        incident_id: int,
        key: str,
        text: str,
        own: Channel | None,
        now: datetime,
    ) -> bool:
        """Queue one nudge; True when it is new (and then also written to the timeline)."""
        # The incident's own channel even when it is not a broadcast channel any more.
        queued = to_own_channel(key, text, own, [own] if own else list(self._fallback()))
        if not queued:
            log.warning("incident #%d: nowhere to send a reminder (no channel)", incident_id)
            return False
        new = False
        for one in queued:
            if await tx.outbox.add(*to_row(one), now):
                new = True
        if new:
            where = Where(
                actor=self._bot_nick,
                identity=REMINDER_IDENTITY,
                transport=own.transport if own else None,
                network=own.network if own else None,
                channel=own.name if own else None,
            )
            await tx.timeline.append(incident_id, REMINDER_KIND, where, now, text=text,
                                     public=False)
        return new


def _channel_of(entry: TimelineRecord | None) -> Channel | None:
    if entry is None or not (entry.transport and entry.network and entry.channel):
        return None
    return Channel(entry.transport, entry.network, entry.channel)
