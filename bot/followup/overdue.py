"""Overdue action items: which to remind about today, under which key. Pure decisions; the
reminder scheduler (bot/incidents/reminders.py) queues the nudges."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo

from storage.models import ActionItem


def reminder_day(now: datetime, zone: tzinfo | None) -> date:
    """The day it is where the reminders are read (the quiet hours' zone, else UTC)."""
    return now.astimezone(zone or UTC).date()


def overdue(items: Iterable[ActionItem], today: date) -> list[ActionItem]:
    """Open items whose due day is before `today`."""
    return [i for i in items if i.state == "open" and i.due is not None and i.due < today]


def overdue_key(action_id: int, today: date) -> str:
    """One nudge per item per day at most: the outbox ignores a key it has seen."""
    return f"remind:action:{action_id}:{today.isoformat()}"
