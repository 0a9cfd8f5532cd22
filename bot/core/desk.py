"""The desk: applies chat commands to the stored state, queues their effects, emits events.

It decides nothing itself: `rules.decide` does, from a view the desk reads. The desk parses,
authorizes, loads that view, writes the decision in one transaction (state, timeline,
outbox, audit row, the event's claim) and publishes its events after commit. It never talks
to a network: broadcasts and topic changes go into the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.applying import load_view, write
from bot.core.capture import ChatCapture, still_open
from bot.core.events import EventBus
from bot.core.extension import Applying, DeskExtension, Outcome, Reply
from bot.core.ports import Channel, Message
from bot.core.replay import AppliedEvents
from bot.core.retry import brief, retrying
from bot.core.rules import Context, authorize, decide, needs
from commands import replies
from commands.auth import Principal, Whitelist, required_role
from commands.grammar import command_name, parse
from commands.model import Command, ParseError
from commands.rate_limit import CommandRateLimit, Decision, Verdict, warning_text
from storage.db import is_transient
from storage.models import utcnow
from storage.timeline import Where
from storage.unit_of_work import Store
from storage.write_refusals import write_refusal

__all__ = ["Applying", "Desk", "DeskExtension", "Handled", "Outcome", "Reply"]

log = logging.getLogger("statusdesk.desk")


@dataclass(frozen=True, slots=True)
class Handled:
    """What became of one message: whether it was applied (or, a question, answered), and
    what to answer its sender. What the command API (bot/api) returns."""

    applied: bool
    replies: list[Reply]


class Desk:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        whitelist: Whitelist,
        channels: Callable[[], Sequence[Channel]],
        *,
        bot_nick: str,
        page_url: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = lambda: None,
        capture: Collection[str] = (),
        extensions: Sequence[DeskExtension] = (),
        rate_limit: CommandRateLimit | None = None,
        log_api: bool = False,
    ) -> None:
        """`log_api`: whether the incident log API answers (replies link to it then)."""
        self._store = store
        self._bus = bus
        self._whitelist = whitelist
        self._channels = channels
        self._bot_nick = bot_nick
        self._page_url = page_url.rstrip("/") if page_url else None
        self._log_api = log_api
        self._clock = clock
        self._on_queued = on_queued
        self.on_unannounced_change: Callable[[], None] = lambda: None
        """Called when a change was committed whose events are not known here (an attempt
        whose COMMIT answer was lost): the page rebuilds from the database."""
        self._extensions = list(extensions)
        self._rate_limit = rate_limit
        # One command at a time: commands see each other's effects in the order they came,
        # and SQLite never has two writers of ours fighting for its lock.
        self._lock = asyncio.Lock()
        self._claims = AppliedEvents(clock)
        self._capture = ChatCapture(store, self._lock, self._claims, capture, clock)
        self.outcomes: Counter[str] = Counter()
        """Commands by outcome (accepted, refused, usage, question), for /metrics."""

    @property
    def page_url(self) -> str | None:
        return self._page_url

    def replace_whitelist(self, whitelist: Whitelist) -> None:
        """Who may do what from now on (a configuration reload): one reference swapped, so a
        command is judged by the old list or the new one, never by half of each."""
        self._whitelist = whitelist

    def add_extension(self, extension: DeskExtension) -> None:
        self._extensions.append(extension)

    def forget_open_incidents(self) -> None:
        """Ask the database again which incidents are open: another instance may have
        changed them (a new term as leader, a change relayed from elsewhere)."""
        self._capture.open_ids = None

    async def flush_captured(self) -> None:
        """Write the captured lines still waiting (a clean stop calls this)."""
        await self._capture.flush()

    async def handle(self, message: Message) -> list[Reply]:
        """Parse, authorize and apply one message; what to answer the sender."""
        return (await self.handle_command(message)).replies

    async def handle_command(self, message: Message) -> Handled:
        """`handle`, saying also whether the command was applied (or answered)."""
        parsed = parse(message.text, self._bot_nick, addressed=message.addressed)
        if parsed is None:
            if self._capture.wants(message):
                await self._capture.take(message)
            return Handled(False, [])
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
                return Handled(False, await self._rate_limited(parsed, message, principal,
                                                               decision))
        if isinstance(parsed, ParseError):
            if message.event_id is not None:
                try:
                    async with self._lock, self._store.transaction() as tx:
                        if not await self._claims.claim(tx, message):
                            return Handled(False, [])
                except Exception as error:
                    # Unclaimed, a replay could repeat the usage line: better than none.
                    if write_refusal(error) is None:
                        raise
            self.outcomes["usage"] += 1
            return Handled(False, [Reply(replies.usage(parsed.reason, parsed.usage))])
        return await self._apply(parsed, message)

    async def apply(self, command: Command, message: Message) -> list[Reply]:
        return (await self._apply(command, message)).replies

    async def _apply(self, command: Command, message: Message) -> Handled:
        principal = self._whitelist.identify(message.identity)
        where = _where(principal, message)
        role = required_role(command)
        name = command_name(command)
        what = f"{name} from {message.sender}"
        attempts = 0

        async def refuse(reason: str) -> bool:
            """False: this very event was handled before (a replay after a restart)."""
            async with self._store.transaction() as tx:
                if not await self._claims.claim(tx, message):
                    return False
                await tx.audit.record(where, self._clock(), command=name, text=message.text,
                                      outcome="refused", reason=reason)
            return True

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
                if claim and not await self._claims.claim(tx, message):
                    return None
                now = self._clock()
                ctx = Applying(tx, where, principal, message, now, outcome, self._page_url)
                extension = self._extension_for(command)
                if extension is not None:
                    await extension.apply(command, ctx)
                else:
                    await self._decide_and_write(command, ctx)
                await self._offer_changes(ctx)
                if role is not None:
                    await tx.audit.record(where, self._clock(), command=name,
                                          text=message.text, outcome="accepted")
            return outcome

        async with self._lock:
            # Chatter said before this command goes into the timeline before it.
            await self._capture.write_waiting()
            known, self._capture.open_ids = self._capture.open_ids, None
            try:
                refusal = authorize(command, principal, message.identity,
                                    accounts_matter=self._whitelist.has_irc_accounts)
                if refusal is not None:
                    if not await retrying(lambda: refuse(refusal.reason), what):
                        return Handled(False, [])
                    log.warning("refused %s (%s): %s", what, where.identity, refusal.reason)
                    self._store.writes.wrote()
                    self.outcomes["refused"] += 1
                    self._capture.open_ids = known
                    return Handled(False, [Reply(refusal.reply)])
                try:
                    applied = await retrying(apply_once, what)
                except Exception as error:
                    if role is not None or write_refusal(error) is None:
                        raise
                    applied = await apply_once()  # the question, now unclaimed
                if applied is None:
                    # After a lost COMMIT answer, what it opened or resolved is not known.
                    self._capture.open_ids = known if attempts == 1 else None
                    if attempts > 1:
                        # Our own earlier attempt committed; only its answer was lost.
                        log.warning("%s was applied by an attempt whose COMMIT answer was "
                                    "lost; not applying it again", what)
                        self._on_queued()  # its effects wait in the outbox
                        self.on_unannounced_change()
                        return Handled(True, [Reply(replies.applied_unconfirmed(name))])
                    return Handled(False, [])
                outcome = applied
                # Committed: what it opened or resolved is known (a failure leaves None,
                # as a commit may have happened without our hearing of it).
                self._capture.open_ids = still_open(known, outcome.events)
                if role is not None:
                    # Its audit row was written: the database takes writes.
                    self._store.writes.wrote()
            except Exception as error:
                refused_write = write_refusal(error)
                if refused_write is not None:
                    # Not retried: a full disk or a read-only database does not clear in
                    # seconds, and every command behind this one would wait for it. The
                    # store has logged the episode; this command is only counted in it.
                    self._store.writes.lost("command")
                    self.outcomes["unwritable"] += 1
                    return Handled(False, [Reply(replies.database_unwritable(
                        name, refused_write.reason))])
                if not is_transient(error):
                    raise
                log.error("gave up on %s: the database is unavailable (%s); told the sender",
                          what, brief(error))
                self.outcomes["unavailable"] += 1
                return Handled(False, [Reply(replies.database_unavailable(name))])
        for event in outcome.events:
            self._bus.publish(event)
        if outcome.queued:
            self._on_queued()
        self.outcomes["accepted" if role is not None else "question"] += 1
        if outcome.not_configured is not None:
            # Answered, not applied: the log, the command API and `statusdesk say` say so.
            log.info("did not apply %s from %s: the %s section is not configured", name,
                     message.sender, outcome.not_configured)
            return Handled(False, outcome.replies)
        if role is not None:
            log.info("applied %s from %s", name, message.sender)
        return Handled(True, outcome.replies)

    async def _decide_and_write(self, command: Command, ctx: Applying) -> None:
        """The core's own commands: read what the rules need, decide, write the decision."""
        loaded = await load_view(needs(command), ctx.tx)
        decision = decide(command, loaded.view,
                          Context(ctx.where.actor, ctx.now, self._page_url, self._log_api))
        channels = self._channels() if decision.broadcasts else ()
        applied = await write(decision, loaded, ctx.tx, ctx.where, channels, ctx.now)
        ctx.out.replies.extend(Reply(say.text, say.private) for say in applied.replies)
        ctx.out.not_configured = decision.not_configured
        ctx.out.events.extend(applied.events)
        if applied.broadcasts:
            ctx.out.queued = True

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
        where = _where(principal, message)
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


def _where(principal: Principal | None, message: Message) -> Where:
    verified = message.identity.describe()
    return Where(
        actor=message.sender,
        identity=f"{principal.name} via {verified}" if principal else verified,
        transport=message.transport,
        network=message.network,
        channel=message.target,
    )
