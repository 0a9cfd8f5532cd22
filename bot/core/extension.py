"""What a capability plugged into the desk (paging, playbooks) gets and gives.

An extension applies its own commands and reacts to the desk's events, inside the command's
transaction: whatever it queues in the outbox commits, or rolls back, with the change that
caused it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.core.applying import load_view
from bot.core.decision import Decision
from bot.core.events import DeskEvent
from bot.core.ports import Message
from bot.core.rules import Needs, target
from commands.auth import Principal
from commands.model import Command
from storage.models import Incident
from storage.timeline import Where
from storage.unit_of_work import Transaction

FollowUp = Callable[[], Awaitable[Sequence[str]]]
"""More lines of an answer that wait on something slow outside the bot (a bug tracker)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to the sender: in the channel (prefixed with their nick) or privately."""

    text: str
    private: bool = False
    follow_up: FollowUp | None = None
    """Lines that come after `text`, as replies of the same kind, once a slow lookup is
    done. The desk's lock is released and the sender's network reader has moved on by
    then: a tracker that takes seconds holds up nobody but this answer."""


@dataclass(slots=True)
class Outcome:
    """What applying one command produced: answers, events to publish after commit, and
    whether anything was queued in the outbox."""

    replies: list[Reply] = field(default_factory=list)
    events: list[DeskEvent] = field(default_factory=list)
    queued: bool = False
    not_configured: str | None = None
    """The config section the command needs and this desk lacks: it did nothing (the log
    must not say it was applied)."""

    def say(self, *lines: str, private: bool = False) -> None:
        self.replies.extend(Reply(line, private) for line in lines)

    def say_then(self, line: str, follow_up: FollowUp, *, private: bool = False) -> None:
        """`line` now, and what `follow_up` returns when it is ready (see `Reply`)."""
        self.replies.append(Reply(line, private, follow_up))


@dataclass(slots=True)
class Applying:
    """One command being applied: its open transaction, who sent it and from where."""

    tx: Transaction
    where: Where
    principal: Principal | None
    message: Message
    now: datetime
    out: Outcome
    page_url: str | None = None

    async def target_incident(self, incident_id: int | None, usage: str) -> Incident | None:
        """The incident named, else the only open one; says why not in the reply."""
        needs = (Needs(incident=incident_id) if incident_id is not None
                 else Needs(open_incidents=True))
        loaded = await load_view(needs, self.tx)
        said = Decision()
        found = target(incident_id, loaded.view, usage, said)
        self.out.say(*said.texts)
        return loaded.rows[found.id] if found is not None else None

    def incident_url(self, incident_id: int) -> str | None:
        return f"{self.page_url}/incidents/{incident_id}" if self.page_url else None


class DeskExtension(Protocol):
    """A capability plugged into the desk: the commands it applies and what it does when
    the desk changes something."""

    commands: tuple[type, ...]
    """Command classes this extension applies (e.g. `m.Page`); the desk routes them here."""

    async def apply(self, command: Command, ctx: Applying) -> None: ...

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        """Called for every event the command produced (an incident opened, resolved...)."""
        ...
