"""The desk: applies chat commands to the stored state, queues their effects, emits events.

It never talks to a network. Broadcasts and topic changes go into the outbox in the same
transaction as the state change they announce; events are published only after commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from bot.core.events import (
    ALERT_CLEARED,
    ALERT_SET,
    INCIDENT_CHANGED,
    INCIDENT_OPENED,
    KUDOS_RECORDED,
    STATUS_POSTED,
    TIMELINE_NOTE,
    DeskEvent,
    EventBus,
)
from bot.core.ports import Channel, Message
from commands import model as m
from commands import replies
from commands.auth import Principal, Whitelist, required_role
from commands.grammar import command_name, parse
from commands.model import Command, ParseError
from commands.rate_limit import CommandRateLimit, Decision, Verdict, warning_text
from commands.replies import AlertView, IncidentView
from commands.text import clean_text
from commands.usage import INCIDENT_HELP, STATUS_HELP
from storage.db import is_transient
from storage.kept_text import kept
from storage.models import Incident, utcnow
from storage.timeline import Where
from storage.unit_of_work import Store, Transaction
from storage.write_refusals import write_refusal

log = logging.getLogger("statusdesk.desk")

ALERT_SEVERITY = 2
"""Severity of the incident that `#status alert` opens (raise it with `#incident ID sev 1`)."""

MAX_CAPTURED = 2000
"""Longest captured chat line kept (IRC lines are far shorter; Matrix ones need not be); a
longer one is kept this long, with a note of how much was left out."""

CAPTURE_WINDOW = 0.15
"""Seconds captured chat lines wait to be written together, in one transaction. A clean
stop writes them first; a crash (SIGKILL, power loss) may lose this window of captured
chatter, never a command."""
CAPTURE_BATCH = 200
"""Captured lines that are written at once, without waiting for the window to end."""

DATABASE_PATIENCE = 30.0
"""Seconds a command keeps being retried while the database is unavailable (locked by
another writer, restarting) before the sender is told it could not be applied."""
RETRY_FIRST = 0.2
APPLIED_EVENTS_KEPT = timedelta(days=7)
"""How long an applied command's event id is kept: replays (a Matrix sync from an older token,
a retry after a lost COMMIT answer) come within minutes, not days."""
PRUNE_APPLIED_EVERY = timedelta(hours=1)
RETRY_MAX = 2.0

T = TypeVar("T")

LOG_ENTRIES_IN_CHAT = 20
"""How many timeline entries `#incident ID log` sends by private message."""


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


@dataclass(frozen=True, slots=True)
class _Captured:
    """A channel line waiting to be written into the incidents open when it was said."""

    incident_ids: frozenset[int]
    where: Where
    at: datetime
    text: str
    message: Message


@dataclass(slots=True)
class Outcome:
    """What applying one command produced: answers, events to publish after commit, and
    whether anything was queued in the outbox."""

    replies: list[Reply] = field(default_factory=list)
    events: list[DeskEvent] = field(default_factory=list)
    queued: bool = False

    def say(self, *lines: str, private: bool = False) -> None:
        self.replies.extend(Reply(line, private) for line in lines)

    def say_then(self, line: str, follow_up: FollowUp, *, private: bool = False) -> None:
        """`line` now, and what `follow_up` returns when it is ready (see `Reply`)."""
        self.replies.append(Reply(line, private, follow_up))


@dataclass(slots=True)
class Applying:
    """One command being applied: its open transaction, who sent it and from where.

    Extensions get this instead of the desk itself, so what they may touch is explicit.
    """

    desk: Desk
    tx: Transaction
    where: Where
    principal: Principal | None
    message: Message
    now: datetime
    out: Outcome

    async def fan_out(self, cause: str, effects: Sequence[tuple[str, dict[str, str]]]) -> None:
        """Queue each effect for every broadcast channel (see `Desk._fan_out`)."""
        await self.desk._fan_out(self.tx, cause, effects)
        self.out.queued = True

    async def target_incident(self, incident_id: int | None, usage: str) -> Incident | None:
        """The incident named, else the only open one; says why not in the reply."""
        return await self.desk._target_incident(incident_id, self.tx, self.out, usage)

    def incident_url(self, incident_id: int) -> str | None:
        return self.desk._incident_url(incident_id) if self.desk.page_url else None


class DeskExtension(Protocol):
    """A capability plugged into the desk (paging, playbooks): the commands it applies and
    what it does when the desk changes something.

    Both run inside the command's transaction, so whatever an extension queues in the
    outbox commits, or rolls back, with the change that caused it.
    """

    commands: tuple[type, ...]
    """Command classes this extension applies (e.g. `m.Page`); the desk routes them here."""

    async def apply(self, command: Command, ctx: Applying) -> None: ...

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        """Called for every event the command produced (an incident opened, resolved...)."""
        ...


class Desk:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        whitelist: Whitelist,
        channels: Callable[[], Sequence[Channel]],
        *,
        bot_nick: str = "statusdesk",
        page_url: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = lambda: None,
        capture: Collection[str] = (),
        extensions: Sequence[DeskExtension] = (),
        rate_limit: CommandRateLimit | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._whitelist = whitelist
        self._channels = channels
        self._bot_nick = bot_nick
        self._page_url = page_url.rstrip("/") if page_url else None
        self._clock = clock
        self._on_queued = on_queued
        self.on_unannounced_change: Callable[[], None] = lambda: None
        """Called when a change was committed whose events are not known here (an attempt
        whose COMMIT answer was lost): the page rebuilds from the database."""
        self._capture = frozenset(capture)
        self._extensions = list(extensions)
        self._rate_limit = rate_limit
        # One command at a time: commands see each other's effects in the order they came,
        # and SQLite never has two writers of ours fighting for its lock.
        self._lock = asyncio.Lock()
        # Open incidents, known without asking the database for each captured line: None
        # when unknown (at the start of a term as leader, after a failed command), then
        # read once and kept up to date from the events of the commands applied here.
        self._open_ids: frozenset[int] | None = None
        self._events_pruned_at = datetime.min.replace(tzinfo=UTC)
        self._captured: list[_Captured] = []
        self._capture_full = asyncio.Event()
        self._capture_writer: asyncio.Task[None] | None = None
        self.outcomes: Counter[str] = Counter()
        """Commands by outcome (accepted, refused, usage, question), for /metrics."""

    async def handle(self, message: Message) -> list[Reply]:
        """Parse, authorize and apply one message; what to answer the sender."""
        parsed = parse(message.text, self._bot_nick, addressed=message.addressed)
        if parsed is None:
            if message.target in self._capture and not message.private:
                await self._capture_chatter(message)
            return []
        log.debug("%s/%s %s <%s> %s", message.transport, message.network, message.target,
                  message.sender, message.text)
        # A message read late (a catch-up after the bot was away, bounded by the transport)
        # was posted over minutes or hours, not now: counting it now would drop an operator's
        # commands for having been many, and count replays of ones applied before.
        if self._rate_limit is not None and message.posted_at is None:
            principal = self._whitelist.identify(message.identity)
            decision = self._rate_limit.admit(message.identity,
                                              whitelisted=principal is not None)
            if not decision.allowed:
                return await self._rate_limited(parsed, message, principal, decision)
        if isinstance(parsed, ParseError):
            if message.event_id is not None:
                try:
                    async with self._lock, self._store.transaction() as tx:
                        if not await self._first_time(tx, message):
                            return []
                except Exception as error:
                    # Unclaimed, a replay could repeat the usage line: better than none.
                    if write_refusal(error) is None:
                        raise
            self.outcomes["usage"] += 1
            return [Reply(_usage_reply(parsed))]
        return await self.apply(parsed, message)

    async def apply(self, command: Command, message: Message) -> list[Reply]:
        principal = self._whitelist.identify(message.identity)
        where = Where(
            actor=message.sender,
            identity=_describe(principal, message),
            transport=message.transport,
            network=message.network,
            channel=message.target,
        )
        role = required_role(command)
        name = command_name(command)
        what = f"{name} from {message.sender}"

        async def refuse(reason: str) -> bool:
            """False: this very event was handled before (a replay after a restart)."""
            async with self._store.transaction() as tx:
                if not await self._first_time(tx, message):
                    return False
                await tx.audit.record(
                    where, self._clock(), command=name, text=message.text,
                    outcome="refused", reason=reason,
                )
            return True

        attempts = 0

        async def apply_once() -> Outcome | None:
            """None: this very event was handled before (a replay after a restart, or an
            earlier attempt whose COMMIT went through without our hearing of it)."""
            nonlocal attempts
            attempts += 1
            outcome = Outcome()  # afresh: a failed attempt leaves nothing behind
            # A question changes nothing: while the database takes no writes it is answered
            # without recording its event (a replay after a crash may answer it twice).
            claim = role is not None or self._store.writes.unwritable is None
            async with self._store.transaction() as tx:
                if claim and not await self._first_time(tx, message):
                    return None
                ctx = Applying(self, tx, where, principal, message, self._clock(), outcome)
                extension = self._extension_for(command)
                if extension is not None:
                    await extension.apply(command, ctx)
                else:
                    await self._dispatch(command, tx, where, outcome)
                await self._offer_changes(ctx)
                if role is not None:
                    await tx.audit.record(
                        where, self._clock(), command=name, text=message.text, outcome="accepted"
                    )
            return outcome

        async with self._lock:
            # Chatter said before this command goes into the timeline before it.
            await self._write_captured()
            known, self._open_ids = self._open_ids, None
            try:
                if role is not None and (principal is None or not principal.may(role)):
                    reason = ("not on the whitelist" if principal is None
                              else f"lacks role {role}")
                    # An account that could not be verified might have been a whitelisted
                    # one: say so, and to say it again, rather than "not authorized".
                    unverified = (message.identity.unverified
                                  if self._whitelist.has_irc_accounts else None)
                    if unverified:
                        reason = f"{reason}; account not verified: {unverified}"
                    if not await self._retrying(lambda: refuse(reason), what):
                        return []
                    log.warning("refused %s (%s): %s", what, where.identity, reason)
                    self._store.writes.wrote()
                    self.outcomes["refused"] += 1
                    self._open_ids = known
                    return [Reply(replies.unverified(name, unverified) if unverified
                                  else replies.refusal(name))]
                try:
                    applied = await self._retrying(apply_once, what)
                except Exception as error:
                    if role is not None or write_refusal(error) is None:
                        raise
                    applied = await apply_once()  # the question, now unclaimed
                if applied is None:
                    # After a lost COMMIT answer, what it opened or resolved is not known.
                    self._open_ids = known if attempts == 1 else None
                    if attempts > 1:
                        # Our own earlier attempt committed; only its answer was lost.
                        log.warning("%s was applied by an attempt whose COMMIT answer was "
                                    "lost; not applying it again", what)
                        self._on_queued()  # its effects wait in the outbox
                        self.on_unannounced_change()
                        return [Reply(replies.applied_unconfirmed(name))]
                    return []
                outcome = applied
                # Committed: what it opened or resolved is known (a failure leaves None,
                # as a commit may have happened without our hearing of it).
                self._open_ids = _still_open(known, outcome.events)
                if role is not None:
                    # Its audit row was written: the database takes writes.
                    self._store.writes.wrote()
            except Exception as error:
                refusal = write_refusal(error)
                if refusal is not None:
                    # Not retried: a full disk or a read-only database does not clear in
                    # seconds, and every command behind this one would wait for it. The
                    # store has logged the episode; this command is only counted in it.
                    self._store.writes.lost("command")
                    self.outcomes["unwritable"] += 1
                    return [Reply(replies.database_unwritable(name, refusal.reason))]
                if not is_transient(error):
                    raise
                log.error("gave up on %s: the database is unavailable (%s); told the sender",
                          what, _brief(error))
                self.outcomes["unavailable"] += 1
                return [Reply(replies.database_unavailable(name))]
        for event in outcome.events:
            self._bus.publish(event)
        if outcome.queued:
            self._on_queued()
        self.outcomes["accepted" if role is not None else "question"] += 1
        if role is not None:
            log.info("applied %s from %s", name, message.sender)
        return outcome.replies

    async def _rate_limited(
        self, parsed: Command | ParseError, message: Message, principal: Principal | None,
        decision: Decision,
    ) -> list[Reply]:
        """Over their allowance: one warning, one audit row and one log line per pause;
        everything else they send meanwhile costs nothing but this counter."""
        self.outcomes["rate_limited"] += 1
        if decision.verdict is not Verdict.WARN:
            return []
        name = parsed.command if isinstance(parsed, ParseError) else command_name(parsed)
        where = Where(actor=message.sender, identity=_describe(principal, message),
                      transport=message.transport, network=message.network,
                      channel=message.target)
        pause = f"ignored for {decision.pause}s"
        try:
            async with self._lock, self._store.transaction() as tx:
                await tx.audit.record(where, self._clock(), command=name, text=message.text,
                                      outcome="rate_limited",
                                      reason=f"too many commands; {pause}")
        except Exception as error:
            # The warning matters more than its audit row; the store counted the refusal.
            if write_refusal(error) is None:
                raise
        log.warning("rate limited %s (%s): too many commands; %s", message.sender,
                    where.identity, pause)
        return [Reply(warning_text(decision))]

    async def _retrying(self, work: Callable[[], Awaitable[T]], what: str) -> T:
        """`work` (one whole transaction), again while the database is unavailable for a
        moment: SQLite locked by another writer, PostgreSQL restarting. A failed attempt
        rolled back, so trying again cannot apply anything twice. Callers hold the lock,
        so the commands behind this one wait their turn and keep their order."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + DATABASE_PATIENCE
        delay = RETRY_FIRST
        failures = 0
        while True:
            try:
                result = await work()
            except Exception as error:
                if not is_transient(error) or loop.time() + delay > give_up:
                    raise
                failures += 1
                if failures == 1:
                    log.warning("database unavailable applying %s (%s); retrying for up to "
                                "%.0f s", what, _brief(error), DATABASE_PATIENCE)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if failures:
                log.info("database back: applied %s after %d retr%s", what, failures,
                         "y" if failures == 1 else "ies")
            return result

    @property
    def page_url(self) -> str | None:
        return self._page_url

    def add_extension(self, extension: DeskExtension) -> None:
        self._extensions.append(extension)

    def _extension_for(self, command: Command) -> DeskExtension | None:
        for extension in self._extensions:
            if isinstance(command, extension.commands):
                return extension
        return None

    async def _offer_changes(self, ctx: Applying) -> None:
        """Show every event to every extension; events they add are shown too, once."""
        index = 0
        while index < len(ctx.out.events):
            event = ctx.out.events[index]
            for extension in self._extensions:
                await extension.on_change(event, ctx)
            index += 1

    async def _capture_chatter(self, message: Message) -> None:
        """incidents.capture: a channel line goes, privately, into every open incident.

        Nothing is asked of the database when no incident is open. Lines to keep are
        written in batches (CAPTURE_WINDOW, CAPTURE_BATCH), one transaction each."""
        open_ids = self._open_ids
        if open_ids is None:
            async with self._lock:
                if self._open_ids is None:
                    async with self._store.reading() as tx:
                        self._open_ids = frozenset(i.id for i in await tx.incidents.list_open())
                open_ids = self._open_ids
        if not open_ids:
            return
        text = clean_text(message.text)
        if not text:
            return
        text = kept(text, MAX_CAPTURED)
        where = Where(actor=message.sender, identity=message.identity.describe(),
                      transport=message.transport, network=message.network,
                      channel=message.target)
        self._captured.append(_Captured(open_ids, where, self._clock(), text, message))
        if len(self._captured) >= CAPTURE_BATCH:
            self._capture_full.set()
        if self._capture_writer is None:
            self._capture_writer = asyncio.create_task(self._write_captured_soon(),
                                                       name="capture-writer")

    def forget_open_incidents(self) -> None:
        """Ask the database again which incidents are open: another instance may have
        changed them (a new term as leader, a change relayed from elsewhere)."""
        self._open_ids = None

    async def flush_captured(self) -> None:
        """Write the captured lines still waiting (a clean stop calls this)."""
        writer = self._capture_writer
        if writer is not None:
            # Woken, not cancelled: cancelled half-way through its transaction, it would
            # lose the lines it holds.
            self._capture_full.set()
            await writer
        async with self._lock:
            await self._write_captured()

    async def _write_captured_soon(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._capture_full.wait(), CAPTURE_WINDOW)
        finally:
            self._capture_writer = None
        async with self._lock:
            await self._write_captured()

    async def _write_captured(self) -> None:
        """The waiting captured lines, in one transaction (the caller holds the lock)."""
        batch, self._captured = self._captured, []
        self._capture_full.clear()
        if not batch:
            return

        async def write() -> None:
            async with self._store.transaction() as tx:
                rows: list[tuple[int, str, Where, datetime, str]] = []
                for line in batch:
                    if not await self._first_time(tx, line.message):
                        continue
                    # Chatter is not an update: updated_at stays, so reminders still fire.
                    rows.extend((incident_id, "chat", line.where, line.at, line.text)
                                for incident_id in sorted(line.incident_ids))
                await tx.timeline.append_private_many(rows)

        try:
            await self._retrying(write, f"{len(batch)} captured chat line(s)")
            self._store.writes.wrote()
        except Exception as error:
            if write_refusal(error) is not None:
                # Said once, with the episode's end, rather than once a batch.
                self._store.writes.lost("captured chat line", len(batch))
                return
            # A command must not fail for the chatter before it: these lines are lost,
            # loudly, and the next ones are tried afresh.
            log.error("could not keep %d captured chat line(s): %s", len(batch),
                      _brief(error) if is_transient(error) else repr(error))

    async def _first_time(self, tx: Transaction, message: Message) -> bool:
        """Claim the message's event for this transaction: False when it was applied
        before (a network handing an event over again after a crash). Committed with the
        command's effects, so a crash either keeps both or loses both, and the replayed
        event is then applied."""
        if message.event_id is None:
            return True
        scope = f"{message.transport}/{message.network}"
        now = self._clock()
        if await tx.inbound_events.claim(scope, message.event_id, now):
            if now - self._events_pruned_at > PRUNE_APPLIED_EVERY:
                await tx.inbound_events.forget_before(now - APPLIED_EVENTS_KEPT)
                self._events_pruned_at = now
            return True
        log.info("%s event %s from %s was applied before; not again", scope,
                 message.event_id, message.sender)
        return False

    # --- dispatch ------------------------------------------------------------------------

    async def _dispatch(
        self, command: Command, tx: Transaction, where: Where, out: Outcome
    ) -> None:
        match command:
            case m.StatusAlert(text):
                await self._alert(text, tx, where, out)
            case m.StatusNotice(text):
                await self._notice(text, tx, where, out)
            case m.StatusLog(text):
                await self._status_log(text, tx, where, out)
            case m.StatusOk(text):
                await self._ok(text, tx, where, out)
            case m.StatusHelp():
                out.say(*_lines(STATUS_HELP))
            case m.Success(text) | m.Thanks(text):
                await self._kudos(command, text, tx, where, out)
            case m.IncidentOpen(title, severity):
                await self._open(title, severity, tx, where, out)
            case m.IncidentSetState(incident_id, state, text):
                await self._set_state(incident_id, state, text, tx, where, out)
            case m.IncidentSetSeverity(incident_id, severity):
                await self._set_field(incident_id, "severity", severity, tx, where, out)
            case m.IncidentSetLead(incident_id, nick):
                await self._set_field(incident_id, "lead", nick, tx, where, out)
            case m.IncidentSetManager(incident_id, nick):
                await self._set_field(incident_id, "manager", nick, tx, where, out)
            case m.IncidentList():
                views = await self._views(tx, await tx.incidents.list_open())
                out.say(*replies.incident_list(views, self._clock(), self._page_url))
            case m.IncidentShow(incident_id):
                await self._show(incident_id, tx, out)
            case m.IncidentLog(incident_id):
                await self._log_by_dm(incident_id, tx, out)
            case m.IncidentHelp():
                out.say(*_lines(INCIDENT_HELP))
            case m.Note(text, incident_id):
                await self._note(text, incident_id, tx, where, out)
            case m.BugLink(url, incident_id):
                await self._bug(url, incident_id, tx, where, out)
            case m.Page() | m.Ack() | m.OnCall() | m.OnCallOverride():
                out.say(replies.not_configured(command_name(command), "paging"))
            case m.PlaybookShow() | m.PlaybookLink():
                out.say(replies.not_configured(command_name(command), "playbooks"))
            case m.Now():
                await self._now(tx, out)

    # --- #status -------------------------------------------------------------------------

    async def _alert(self, text: str, tx: Transaction, where: Where, out: Outcome) -> None:
        now = self._clock()
        incident = await tx.incidents.open_alert_incident()
        opened = incident is None
        if incident is None:
            incident = await tx.incidents.open(
                title=_title_from(text), severity=ALERT_SEVERITY, opened_by=where.actor,
                at=now, is_alert=True,
            )
            await tx.timeline.append(incident.id, "opened", where, now, text=incident.title,
                                     new="investigating")
            out.events.append(DeskEvent(INCIDENT_OPENED, now, incident.id,
                                        {"title": incident.title, "severity": ALERT_SEVERITY}))
        post = await tx.status_posts.add("alert", text, where.actor, now, incident.id)
        await tx.alert.set(text, where.actor, now, incident.id, post.id)
        await tx.timeline.append(incident.id, "status.alert", where, now, text=text)
        incident.updated_at = now
        await self._fan_out(tx, f"post:{post.id}", [("notice", {"text": f"NOTICE: {text}"}),
                                                     ("set_topic", {"text": text,
                                                                    "incident_id":
                                                                    str(incident.id)})])
        out.queued = True
        out.events.append(DeskEvent(ALERT_SET, now, incident.id, {"text": text}))
        if opened:
            out.say(f"Alert set; opened incident #{incident.id}.")
        else:
            out.say(f"Alert updated (incident #{incident.id}).")

    async def _notice(self, text: str, tx: Transaction, where: Where, out: Outcome) -> None:
        now = self._clock()
        incident = await self._current_incident(tx)
        incident_id = incident.id if incident else None
        post = await tx.status_posts.add("notice", text, where.actor, now, incident_id)
        if incident is not None:
            await tx.timeline.append(incident.id, "status.notice", where, now, text=text)
            incident.updated_at = now
        await self._fan_out(tx, f"post:{post.id}", [("notice", {"text": f"NOTICE: {text}"})])
        out.queued = True
        out.events.append(DeskEvent(STATUS_POSTED, now, incident_id,
                                    {"kind": "notice", "text": text}))
        out.say("Notice sent" + (f" (added to incident #{incident_id})." if incident_id else "."))

    async def _status_log(self, text: str, tx: Transaction, where: Where, out: Outcome) -> None:
        now = self._clock()
        await tx.status_posts.add("log", text, where.actor, now, None)
        out.events.append(DeskEvent(STATUS_POSTED, now, None, {"kind": "log", "text": text}))
        out.say("Logged on the status page.")

    async def _ok(self, text: str | None, tx: Transaction, where: Where, out: Outcome) -> None:
        now = self._clock()
        alert = await tx.alert.current()
        if alert is None:
            out.say("There is no alert to clear.")
            return
        incident_id = alert.incident_id
        await tx.alert.clear()
        post = await tx.status_posts.add("ok", text, where.actor, now, incident_id)
        if incident_id is not None:
            incident = await tx.incidents.get(incident_id, for_update=True)
            if incident is not None:
                await tx.timeline.append(incident.id, "status.ok", where, now, text=text)
                if incident.state != "resolved":
                    old = incident.state
                    tx.incidents.set_state(incident, "resolved", now)
                    await tx.timeline.append(incident.id, "state", where, now, old=old,
                                             new="resolved", text=text)
                    out.events.append(DeskEvent(INCIDENT_CHANGED, now, incident.id,
                                                {"field": "state", "old": old,
                                                 "new": "resolved"}))
        effects: list[tuple[str, dict[str, str]]] = [
            ("restore_topic", {"incident_id": str(incident_id)} if incident_id else {})
        ]
        if text:
            effects.append(("notice", {"text": f"NOTICE: {text}"}))
        await self._fan_out(tx, f"post:{post.id}", effects)
        out.queued = True
        out.events.append(DeskEvent(ALERT_CLEARED, now, incident_id, {"text": text}))
        resolved = f"; incident #{incident_id} resolved" if incident_id else ""
        out.say(f"Alert cleared; topics restored{resolved}.")

    async def _kudos(
        self, command: Command, text: str, tx: Transaction, where: Where, out: Outcome
    ) -> None:
        kind = "success" if isinstance(command, m.Success) else "thanks"
        now = self._clock()
        await tx.kudos.add(kind, text, where.actor, now)
        out.events.append(DeskEvent(KUDOS_RECORDED, now, None, {"kind": kind, "text": text}))
        # No full stop after a URL: chat clients would make it part of the link.
        link = f": {self._page_url}/{kind}" if self._page_url else "."
        out.say(f"Added to the {kind} list{link}")

    # --- #incident -----------------------------------------------------------------------

    async def _open(
        self, title: str, severity: int, tx: Transaction, where: Where, out: Outcome
    ) -> None:
        now = self._clock()
        incident = await tx.incidents.open(
            title=title, severity=severity, opened_by=where.actor, at=now
        )
        await tx.timeline.append(incident.id, "opened", where, now, text=title,
                                 new="investigating")
        await tx.timeline.append(incident.id, "severity", where, now, new=str(severity))
        out.events.append(DeskEvent(INCIDENT_OPENED, now, incident.id,
                                    {"title": title, "severity": severity}))
        out.say(f"Opened incident #{incident.id} (sev{severity}): {title}"
                + (f" — {self._incident_url(incident.id)}" if self._page_url else ""))

    async def _set_state(
        self,
        incident_id: int,
        state: m.IncidentState,
        text: str | None,
        tx: Transaction,
        where: Where,
        out: Outcome,
    ) -> None:
        incident = await self._require(incident_id, tx, out)
        if incident is None:
            return
        now = self._clock()
        old = incident.state
        if old == state.value and text is None:
            out.say(f"Incident #{incident_id} is already {old}.")
            return
        tx.incidents.set_state(incident, state.value, now)
        await tx.timeline.append(incident.id, "state", where, now, old=old, new=state.value,
                                 text=text)
        out.events.append(DeskEvent(INCIDENT_CHANGED, now, incident.id,
                                    {"field": "state", "old": old, "new": state.value,
                                     "text": text}))
        line = f"Incident #{incident_id} is now {state.value}."
        still_alerting = (
            state is m.IncidentState.RESOLVED
            and incident.is_alert
            and await tx.alert.current() is not None
        )
        if still_alerting:
            line += " The alert is still set: clear it with #status ok."
        out.say(line)

    async def _set_field(
        self,
        incident_id: int,
        name: str,
        value: int | str,
        tx: Transaction,
        where: Where,
        out: Outcome,
    ) -> None:
        incident = await self._require(incident_id, tx, out)
        if incident is None:
            return
        old = getattr(incident, name)
        label = {"severity": "severity", "lead": "incident lead",
                 "manager": "escalation manager"}[name]
        if old == value:
            out.say(f"Incident #{incident_id}: {label} is already {value}.")
            return
        now = self._clock()
        setattr(incident, name, value)
        incident.updated_at = now
        await tx.timeline.append(incident.id, name, where, now,
                                 old=None if old is None else str(old), new=str(value))
        out.events.append(DeskEvent(INCIDENT_CHANGED, now, incident.id,
                                    {"field": name, "old": old, "new": value}))
        out.say(f"Incident #{incident_id}: {label} is now {value}.")

    async def _show(self, incident_id: int, tx: Transaction, out: Outcome) -> None:
        incident = await self._require(incident_id, tx, out)
        if incident is None:
            return
        (view,) = await self._views(tx, [incident])
        url = self._incident_url(incident.id) if self._page_url else None
        out.say(*replies.incident_summary(view, self._clock(), url))

    async def _log_by_dm(self, incident_id: int, tx: Transaction, out: Outcome) -> None:
        incident = await self._require(incident_id, tx, out)
        if incident is None:
            return
        entries = await tx.timeline.last(incident.id, LOG_ENTRIES_IN_CHAT)
        lines = [f"Incident #{incident.id}: {incident.title} — last {len(entries)} entries:"]
        for entry in entries:
            detail = entry.text or ""
            if entry.old_value is not None or entry.new_value is not None:
                detail = f"{entry.old_value or '-'} → {entry.new_value or '-'} {detail}".strip()
            scope = "" if entry.public else " (private)"
            lines.append(f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.actor} {entry.kind}{scope}: "
                         f"{detail}")
        if self._page_url:
            lines.append(f"Full log: {self._page_url}/api/incidents/{incident.id}/log.md "
                         "(needs the API token)")
        out.say(*lines, private=True)
        out.say(f"Sent you the log of incident #{incident.id} by private message.")

    async def _note(
        self, text: str, incident_id: int | None, tx: Transaction, where: Where, out: Outcome
    ) -> None:
        incident = await self._target_incident(incident_id, tx, out, "#log #ID TEXT")
        if incident is None:
            return
        now = self._clock()
        # Notes are the responders' working log: private to the export, not on the page.
        await tx.timeline.append(incident.id, "note", where, now, text=text, public=False)
        incident.updated_at = now
        out.events.append(DeskEvent(TIMELINE_NOTE, now, incident.id, {}))
        out.say(f"Noted on incident #{incident.id}.")

    async def _bug(
        self, url: str, incident_id: int | None, tx: Transaction, where: Where, out: Outcome
    ) -> None:
        incident = await self._target_incident(incident_id, tx, out, "#bug #ID BUG-URL")
        if incident is None:
            return
        now = self._clock()
        await tx.timeline.append(incident.id, "bug", where, now, new=url)
        incident.updated_at = now
        out.events.append(DeskEvent(INCIDENT_CHANGED, now, incident.id,
                                    {"field": "bug", "new": url}))
        out.say(f"Linked {url} to incident #{incident.id}.")

    async def _now(self, tx: Transaction, out: Outcome) -> None:
        alert = await tx.alert.current()
        alert_view = (
            AlertView(alert.text, alert.set_by, alert.set_at) if alert is not None else None
        )
        views = await self._views(tx, await tx.incidents.list_open())
        out.say(*replies.now_answer(alert_view, views, self._clock(), self._page_url))

    # --- helpers -------------------------------------------------------------------------

    async def _fan_out(
        self, tx: Transaction, cause: str, effects: Sequence[tuple[str, dict[str, str]]]
    ) -> None:
        """Queue each effect for every channel; a channel gets them in the order given."""
        rows = []
        for channel in self._channels():
            for kind, payload in effects:
                body = {"transport": channel.transport, "network": channel.network,
                        "target": channel.name, **payload}
                rows.append((kind, channel.lane, body, f"{cause}:{kind}:{channel.lane}"))
        await tx.outbox.add_many(rows, self._clock())

    async def _require(self, incident_id: int, tx: Transaction, out: Outcome) -> Incident | None:
        incident = await tx.incidents.get(incident_id, for_update=True)
        if incident is None:
            out.say(f"There is no incident #{incident_id}.")
        return incident

    async def _current_incident(self, tx: Transaction) -> Incident | None:
        """The incident a `#status notice` belongs to: the alert's, else the only open one."""
        incident = await tx.incidents.open_alert_incident()
        if incident is not None:
            return incident
        open_incidents = await tx.incidents.list_open()
        return open_incidents[0] if len(open_incidents) == 1 else None

    async def _target_incident(
        self, incident_id: int | None, tx: Transaction, out: Outcome, usage: str
    ) -> Incident | None:
        if incident_id is not None:
            return await self._require(incident_id, tx, out)
        open_incidents = await tx.incidents.list_open()
        if len(open_incidents) == 1:
            return open_incidents[0]
        if not open_incidents:
            out.say("No incident is open: say which one (" + usage + ") or open one with "
                    "#incident open TITLE.")
        else:
            ids = ", ".join(f"#{i.id}" for i in open_incidents)
            out.say(f"Several incidents are open ({ids}): say which one, e.g. {usage}.")
        return None

    async def _views(self, tx: Transaction, incidents: Sequence[Incident]) -> list[IncidentView]:
        """Incidents with their latest public update, in one query however many there are."""
        latest = await tx.timeline.latest_of([i.id for i in incidents])
        views = []
        for incident in incidents:
            entry = latest.get(incident.id)
            text = None
            if entry is not None:
                text = entry.text or (
                    f"{entry.kind} {entry.old_value or '-'} → {entry.new_value}"
                    if entry.new_value is not None else entry.kind
                )
            views.append(IncidentView(
                id=incident.id, title=incident.title, severity=incident.severity,
                state=incident.state, lead=incident.lead, manager=incident.manager,
                opened_at=incident.opened_at, latest=text,
                latest_at=entry.at if entry else None,
            ))
        return views

    def _incident_url(self, incident_id: int) -> str:
        return f"{self._page_url}/incidents/{incident_id}"


def _describe(principal: Principal | None, message: Message) -> str:
    verified = message.identity.describe()
    return f"{principal.name} via {verified}" if principal else verified


def _title_from(text: str) -> str:
    """An alert's text as an incident title (the full text stays in the timeline)."""
    if len(text) <= m.MAX_TITLE:
        return text
    return text[: m.MAX_TITLE - 1].rstrip() + "…"


def _lines(help_text: str | tuple[str, ...]) -> tuple[str, ...]:
    return (help_text,) if isinstance(help_text, str) else help_text


def _usage_reply(error: ParseError) -> str:
    if error.reason:
        return f"{error.reason}. Usage: {error.usage}"
    return f"usage: {error.usage}"



def _brief(error: BaseException) -> str:
    """The driver's own words, first line only (SQLAlchemy adds the SQL and its parameters)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}".rstrip(": ")


def _still_open(known: frozenset[int] | None,
                events: Sequence[DeskEvent]) -> frozenset[int] | None:
    """The open incidents after a command's events: only opening an incident and changing
    an incident's state (both always announced) change them."""
    if known is None:
        return None
    open_ids = set(known)
    for event in events:
        if event.incident_id is None:
            continue
        if event.kind == INCIDENT_OPENED:
            open_ids.add(event.incident_id)
        elif event.kind == INCIDENT_CHANGED and event.data.get("field") == "state":
            if event.data.get("new") == "resolved":
                open_ids.discard(event.incident_id)
            else:
                open_ids.add(event.incident_id)
    return frozenset(open_ids)
