"""The IRC transport: one network, kept connected, its channels joined, its output paced.

The `irc` library parses what the server says into events and builds our commands; this
class decides what to do with them. It reconnects with backoff after any loss, notices a
silent server by itself (PING), negotiates IRCv3 capabilities and SASL, tracks which services
account each user is logged in to, paces output with a token bucket (one multi-target NOTICE
for many channels where the server allows it), and keeps every channel's topic so the topic
keeper can save and restore it.

Output methods wait until their lines are written, and raise `DeliveryUnavailable` when they
cannot be (not connected, channel not joined) without writing anything, so the outbox can
retry them later without sending anything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from irc.client import NickMask

from bot.config import IrcNetwork
from bot.core.backoff import jittered_backoff
from bot.core.ports import (
    BeforeWrite,
    Channel,
    DeliveryRejected,
    DeliveryUnavailable,
    Identity,
    Message,
    MessageSink,
    TopicChanged,
    TopicSink,
)
from bot.transports.irc.caps import CapNegotiation, SaslCredentials
from bot.transports.irc.channels import REFUSALS, ChannelState
from bot.transports.irc.chatter import OrdinaryChatter
from bot.transports.irc.connection import Connection, Reactor
from bot.transports.irc.flood import TokenBucket
from bot.transports.irc.incoming import IncomingLines
from bot.transports.irc.isupport import (
    add_flags,
    casefold_for,
    casemapping_of,
    has_whox,
    nick_length,
    notice_targets,
    topic_length,
)
from bot.transports.irc.lines import sanitize, split_text, text_budget, truncate
from bot.transports.irc.liveness import Keepalive, Verdict
from bot.transports.irc.output import OutputQueue, Write, settle
from bot.transports.irc.roster import Roster, Sighting
from commands.casemapping import CaseMapping

log = logging.getLogger("statusdesk.irc")

CONNECT_TIMEOUT = 30.0
REGISTRATION_TIMEOUT = 60.0
STABLE_AFTER = 60.0
"""A connection (or a channel membership) that lasted this long resets its backoff."""
READY_WAIT = 30.0
"""After connecting, announce readiness at the latest this long after, even if a channel
never answered our JOIN."""
JOIN_WAIT = 10.0
"""How long output for a channel we are still joining waits before giving up for now."""
TOPIC_CONFIRM = 5.0
LOOKUP_TIMEOUT = 5.0
COALESCE_SECONDS = 0.01
"""NOTICEs of the same text queued this close together go out as one multi-target line."""
REJOIN_BASE = 2.0
REJOIN_CAP = 600.0
INCOMING_LIMIT = 1000
KEEPALIVE_CHECK = 5.0
RFC1459_NICKLEN = 9
# A fallback nick asks this often whether the configured one is free. Its holder's QUIT frees
# it too, but we only see that when we share a channel: a predecessor killed before we joined
# (failover) lingers until the server notices, and nobody tells us when it does.
NICK_RECLAIM_EVERY = 10.0
QUIT_WAIT = 2.0
WHOX_TOKEN = "734"
MAX_TARGET = 200
MIN_BATCH_BUDGET = 200
"""A multi-target NOTICE names no more channels than leave this many bytes for text."""

_SASL_FAILURES = {
    "saslfail": "SASL authentication failed (wrong username or password?)",
    "sasltoolong": "SASL message too long",
    "saslaborted": "SASL authentication aborted",
    "nicklocked": "the account is locked",
}
_ACCOUNT_CAPS = frozenset({"account-tag", "account-notify", "extended-join", "sasl"})


def _version() -> str:
    try:
        return version("statusdesk")
    except PackageNotFoundError:
        return "dev"


def _valid_target(target: str) -> bool:
    return (0 < len(target) <= MAX_TARGET and not any(c in target for c in " ,:\x07")
            and target.isprintable())


@dataclass(frozen=True)
class _Incoming:
    source: NickMask
    text: str
    channel: str | None
    tags: dict[str, str | None]
    sighting: Sighting
    """The sender as the roster knew them when the line arrived."""
    event_id: str | None
    """The server's `msgid` tag, else, for a line that may be a command, a key of ours
    unique to this arrival: a retry after a COMMIT whose answer was lost finds the command
    applied instead of applying it again."""
    account: str | None
    account_known: bool
    """`account` came with the line itself (account-tag): a fact of this very line."""


@dataclass(frozen=True)
class _Queued:
    """A channel notice waiting to be coalesced with others of the same text."""

    channel: str
    future: asyncio.Future[None]
    before_write: BeforeWrite | None


def _all_of(hooks: list[BeforeWrite]) -> BeforeWrite:
    """One multi-target line leaves for every channel in it: tell each of them first."""
    if len(hooks) == 1:
        return hooks[0]

    async def every() -> None:
        await asyncio.gather(*(hook() for hook in hooks))
    return every


@dataclass
class _Lookup:
    """A WHOX or WHOIS in flight for one nick: the answer, and the roster's number of the
    nick's last change when the answer came (`Roster.last_change`)."""

    answered: asyncio.Future[tuple[str | None, int]]
    account: str | None = None
    account_seen: bool = False
    as_of: int = 0


UNVERIFIED_UNSEEN = ("you share no channel with me, so I cannot tell whether your nick "
                     "changed hands; say it in one of my channels")
UNVERIFIED_CHANGED = "your nick changed while I was checking your account; say it again"
UNVERIFIED_NO_ANSWER = "the server did not tell me your account in time; say it again"
UNVERIFIED_OFFLINE = "I am reconnecting to the server; say it again"


class IrcTransport:
    name = "irc"

    def __init__(
        self,
        config: IrcNetwork,
        *,
        address_as: str,
        on_ready: Callable[[], None] = lambda: None,
        on_topic: TopicSink | None = None,
        may_write: Callable[[], bool] = lambda: True,
        ping_after: float = 45.0,
        dead_after: float = 110.0,
        reconnect_base: float = 1.0,
        reconnect_cap: float = 120.0,
        keep_chatter: Collection[str] = (),
    ) -> None:
        """`keep_chatter`: channels whose every line the sink must get (chat captured into
        open incidents); elsewhere ordinary chatter is dropped unread (`OrdinaryChatter`)."""
        self.network = config.name
        self._config = config
        self._address_as = address_as
        self._on_ready = on_ready
        self._topic_sink = on_topic
        self._ping_after = ping_after
        self._dead_after = dead_after
        self._reconnect_base = reconnect_base
        self._reconnect_cap = reconnect_cap
        self._sasl = (
            SaslCredentials(config.sasl.username, config.sasl.password.get_secret_value())
            if config.sasl else None
        )
        self._channels: dict[str, ChannelState] = {}
        self._fold: Callable[[str], str] = casefold_for(None)
        for name in config.channels:
            self._channels[self._fold(name)] = ChannelState(name)
        self._chatter = OrdinaryChatter(address_as, keep_chatter)
        self._chatter.configure(self._fold, config.channels)
        self._bucket = TokenBucket(config.rate.burst, config.rate.per_second)
        self._roster = Roster()
        self._negotiation = CapNegotiation(self._sasl)
        self._sink: MessageSink | None = None
        self._reactor: Any = None
        self._conn: Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._output = OutputQueue(self._bucket, lambda: self._registered,
                                   f"irc/{config.name}", ping=self._ping, may_write=may_write)
        self._incoming: IncomingLines[_Incoming] = IncomingLines(INCOMING_LIMIT)
        self._arrival_prefix = uuid.uuid4().hex[:12]
        self._arrivals = itertools.count(1)
        self._notice_batches: dict[tuple[str, bool], list[_Queued]] = {}
        self._topic_waiters: dict[str, asyncio.Future[None]] = {}
        self._lookups: dict[str, _Lookup] = {}
        self._registered = False
        self._registered_event = asyncio.Event()
        self._lost = asyncio.Event()
        self._ready_announced = False
        self._ready_timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self._mask: str | None = None
        self._nick_attempts = 0
        self._nick_asked = -NICK_RECLAIM_EVERY
        self._last_error: str | None = None
        self._connects = 0
        self._handlers: dict[str, Callable[[Any], None]] = {
            "cap": self._on_cap,
            "authenticate": self._on_authenticate,
            "loggedin": self._on_logged_in,
            "saslsuccess": self._on_sasl_success,
            "saslalready": self._on_sasl_success,
            "unknowncommand": self._on_unknown_command,
            "welcome": self._on_welcome,
            "featurelist": self._on_features,
            "nicknameinuse": self._on_nick_refused,
            "erroneusnickname": self._on_nick_refused,
            "nickcollision": self._on_nick_refused,
            "join": self._on_join,
            "namreply": self._on_names,
            "part": self._on_part,
            "kick": self._on_kick,
            "quit": self._on_quit,
            "nick": self._on_nick,
            "ison": self._on_ison,
            "topic": self._on_topic,
            "currenttopic": self._on_current_topic,
            "notopic": self._on_no_topic,
            "endofnames": self._on_end_of_names,
            "chanoprivsneeded": self._on_not_operator,
            "pubmsg": self._on_message,
            "privmsg": self._on_message,
            "ctcp": self._on_ctcp,
            "account": self._on_account,
            "whospcrpl": self._on_whox,
            "whoisaccount": self._on_whois_account,
            "endofwho": self._on_end_of_lookup,
            "endofwhois": self._on_end_of_lookup,
            "nosuchnick": self._on_end_of_lookup,
            "error": self._on_error,
            "yourebannedcreep": self._on_error,
            "disconnect": self._on_disconnect,
            "pong": self._on_pong,
        }
        for event_type in REFUSALS:
            self._handlers.setdefault(event_type, self._on_join_refused)
        for event_type in _SASL_FAILURES:
            self._handlers[event_type] = self._on_sasl_failure

    # --- the Transport protocol -----------------------------------------------------------

    def channels(self) -> Sequence[str]:
        return list(self._config.channels)

    async def start(self, sink: MessageSink) -> None:
        self._sink = sink
        self._reactor = Reactor(loop=asyncio.get_running_loop())
        self._conn = self._reactor.server()
        self._conn.ignore = self._ordinary_chatter
        self._reactor.add_global_handler("all_events", self._dispatch)
        self._tasks = [
            asyncio.create_task(self._run(), name=f"irc-{self.network}"),
            asyncio.create_task(self._output.run(), name=f"irc-{self.network}-writer"),
            asyncio.create_task(self._read_loop(), name=f"irc-{self.network}-reader"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        conn = self._conn
        if conn is not None and self._registered:
            with contextlib.suppress(Exception):
                conn.quit("statusdesk is stopping")
            # The server answers QUIT by closing the connection: then our nick is free for
            # whoever (a restarted bot) wants it at once.
            await _first(self._lost, within=QUIT_WAIT)
        for task in self._tasks:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._end_session("stopped")
        if conn is not None:
            conn.abort()

    async def send(self, target: str, text: str) -> None:
        await self._say("PRIVMSG", target, text)

    async def direct(self, user: str, text: str) -> None:
        if user[:1] in "#&+!":
            raise DeliveryRejected(f"{user!r} is a channel, not a user")
        await self._say("PRIVMSG", user, text)

    async def notice(self, target: str, text: str) -> None:
        if self._channel(target) is None:
            await self._say("NOTICE", target, text)
            return
        await self._channel_notice(target, text, None)

    async def notice_staged(self, target: str, text: str, before_write: BeforeWrite) -> None:
        if self._channel(target) is None:
            raise DeliveryRejected(f"{target} is not one of the channels of irc/{self.network}")
        await self._channel_notice(target, text, before_write)

    async def _channel_notice(self, target: str, text: str,
                              before_write: BeforeWrite | None) -> None:
        state = await self._require_channel(target)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        key = (text, before_write is not None)
        batch = self._notice_batches.get(key)
        if batch is None:
            batch = self._notice_batches[key] = []
            asyncio.get_running_loop().call_later(COALESCE_SECONDS, self._flush_notices, key)
        batch.append(_Queued(state.name, future, before_write))
        await future

    async def set_topic(self, target: str, text: str) -> None:
        state = await self._require_channel(target)
        conn = self._connection()
        limit = topic_length(conn.features)
        if self._config.topic_via == "chanserv":
            command = f"TOPIC {state.name} "
            budget = text_budget(self._prefix(), "PRIVMSG", ["ChanServ"]) - len(command.encode())
            topic = truncate(sanitize(text).strip(), min(limit, budget))
            call = functools.partial(conn.privmsg, "ChanServ", command + topic)
        else:
            budget = text_budget(self._prefix(), "TOPIC", [state.name])
            topic = truncate(sanitize(text).strip(), min(limit, budget))
            call = (functools.partial(conn.topic, state.name, topic) if topic
                    # The library would send a bare `TOPIC #channel`, which asks instead.
                    else functools.partial(conn.send_raw, f"TOPIC {state.name} :"))
        if (state.topic or "") == topic and state.expected_topic in (None, topic):
            # Already so, and no other topic of ours is still on its way: the server
            # applies that one after this call (its echo lags when it paces us), so
            # skipping would leave that one in place.
            return
        state.expected_topic = topic
        key = self._fold(state.name)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._topic_waiters[key] = waiter
        try:
            # The server's echo of the TOPIC confirms it: no PING (a line under the flood
            # limit) of its own.
            await self._output.send([call], confirm=False)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), TOPIC_CONFIRM)
            except TimeoutError:
                # No echo yet: the server may still be working through our lines (ngIRCd
                # paces them). Its PONG says when it has; then the echo must be there.
                await self._output.confirm()
                await asyncio.wait_for(asyncio.shield(waiter), TOPIC_CONFIRM)
        except TimeoutError:
            log.warning("irc/%s: no confirmation that the topic of %s changed (via %s)",
                        self.network, state.name, self._config.topic_via)
        finally:
            if self._topic_waiters.get(key) is waiter:
                del self._topic_waiters[key]

    async def get_topic(self, target: str) -> str | None:
        state = await self._require_channel(target)
        return state.topic

    def health(self) -> dict[str, Any]:
        conn = self._conn
        negotiation = self._negotiation
        return {
            "connected": self._registered,
            "server": f"{self._config.host}:{self._config.port}",
            "tls": self._config.tls,
            "nick": conn.get_nickname() if conn is not None and self._registered else None,
            "account": negotiation.sasl_account,
            "sasl": (None if self._sasl is None
                     else "ok" if negotiation.sasl_account else
                     f"failed: {negotiation.sasl_error}" if negotiation.sasl_error else
                     "pending"),
            "caps": sorted(negotiation.enabled),
            "channels": {c.name: c.status for c in self._channels.values()},
            "connects": self._connects,
            "last_error": self._last_error,
            "queued_lines": self._output.queued_lines(),
            "unconfirmed_messages": self._output.unconfirmed(),
            "dropped_incoming": self._incoming.dropped,
            "dropped_chatter": self._incoming.dropped_chatter,
            "dropped_commands": self._incoming.dropped_commands,
        }

    # --- connection life cycle ------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._last_error = _describe(error)
                log.warning("irc/%s: connection to %s:%s failed: %s", self.network,
                            self._config.host, self._config.port, self._last_error)
            finally:
                self._end_session(self._last_error or "disconnected")
                if self._conn is not None:
                    self._conn.abort()
            if self._stopping:
                break
            if time.monotonic() - started > STABLE_AFTER:
                failures = 0
            delay = jittered_backoff(failures, base=self._reconnect_base, cap=self._reconnect_cap)
            failures += 1
            log.info("irc/%s: reconnecting in %.1fs", self.network, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        conn = self._connection()
        self._negotiation = CapNegotiation(self._sasl)
        self._registered_event = asyncio.Event()
        self._lost = asyncio.Event()
        self._ready_announced = False
        self._mask = None
        self._nick_attempts = 0
        self._roster.clear()
        config = self._config
        factory = conn.factory(config.host, config.port, self._tls_context(), ["CAP LS 302"])
        log.info("irc/%s: connecting to %s:%s%s", self.network, config.host, config.port,
                 " (TLS)" if config.tls else "")
        await asyncio.wait_for(
            conn.connect(
                config.host, config.port, config.nick,
                password=config.password.get_secret_value() if config.password else None,
                username=config.nick, ircname="statusdesk status bot",
                connect_factory=factory,
            ),
            CONNECT_TIMEOUT,
        )
        self._connects += 1
        if not await _first(self._registered_event, self._lost, within=REGISTRATION_TIMEOUT):
            raise TimeoutError("the server did not complete registration")
        if self._lost.is_set():
            return
        self._last_error = None
        keepalive = Keepalive(ping_after=self._ping_after, dead_after=self._dead_after)
        check = min(KEEPALIVE_CHECK, self._ping_after / 3)
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), check)
            if self._lost.is_set():
                break
            self._ask_for_nick()
            verdict = keepalive.check(time.monotonic(), conn.last_received)
            if verdict is Verdict.PING:
                conn.ping(f"statusdesk-{int(time.time())}")
            elif verdict is Verdict.DEAD:
                self._last_error = f"no reply from the server for {self._dead_after:.0f}s"
                log.warning("irc/%s: %s; reconnecting", self.network, self._last_error)
                return

    def _end_session(self, reason: str) -> None:
        was_registered = self._registered
        self._registered = False
        self._lost.set()
        if self._ready_timer is not None:
            self._ready_timer.cancel()
            self._ready_timer = None
        unavailable = f"irc/{self.network} is not connected ({reason})"
        self._output.fail_all(DeliveryUnavailable(unavailable))
        for batch in self._notice_batches.values():
            for queued in batch:
                settle(queued.future, DeliveryUnavailable(unavailable))
        self._notice_batches.clear()
        for waiter in self._topic_waiters.values():
            settle(waiter, DeliveryUnavailable(unavailable))
        self._roster.clear()
        for lookup in self._lookups.values():
            if not lookup.answered.done():
                lookup.answered.cancel()
        self._lookups.clear()
        for state in self._channels.values():
            state.ready.clear()
            state.settled = False
            state.status = "not joined"
            if state.rejoin is not None:
                state.rejoin.cancel()
                state.rejoin = None
        if was_registered:
            level = logging.INFO if self._stopping else logging.WARNING
            log.log(level, "irc/%s: disconnected: %s", self.network, reason)

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self._config.tls:
            return None
        context = ssl.create_default_context()
        if not self._config.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connection(self) -> Connection:
        if self._conn is None:
            raise DeliveryUnavailable(f"irc/{self.network} is not started")
        return self._conn

    # --- output ---------------------------------------------------------------------------

    def _send_soon(self, lines: list[Write]) -> None:
        """Queue lines nobody waits for (JOINs, lookups): paced like everything else."""
        self._output.put(lines)

    def _prefix(self) -> str:
        """Our `nick!user@host` as the server relays it; until we have seen it, the longest
        it could plausibly be, so lines never come out too long."""
        if self._mask:
            return self._mask
        nick = self._conn.get_nickname() if self._conn is not None else self._config.nick
        return f"{nick}!{'u' * 10}@{'h' * 63}"

    def _require_registered(self) -> Connection:
        conn = self._connection()
        if not self._registered:
            raise DeliveryUnavailable(
                f"irc/{self.network} is not connected"
                + (f" ({self._last_error})" if self._last_error else "")
            )
        return conn

    async def _say(self, command: str, target: str, text: str) -> None:
        if not _valid_target(target):
            raise DeliveryRejected(f"invalid IRC target {target!r}")
        conn = self._require_registered()
        if target[:1] in "#&+!":
            state = await self._require_channel(target)
            target = state.name
        method = conn.privmsg if command == "PRIVMSG" else conn.notice
        lines = split_text(text, text_budget(self._prefix(), command, [target]))
        await self._output.send([functools.partial(method, target, line) for line in lines])

    async def _require_channel(self, name: str) -> ChannelState:
        self._require_registered()
        state = self._channel(name)
        if state is None:
            raise DeliveryRejected(f"{name} is not one of the channels of irc/{self.network}")
        if state.ready.is_set():
            return state
        if state.settled:
            raise DeliveryUnavailable(f"not in {state.name} on irc/{self.network}: "
                                      f"{state.status}")
        await _first(state.ready, self._lost, within=JOIN_WAIT)
        if not state.ready.is_set():
            raise DeliveryUnavailable(f"not in {state.name} on irc/{self.network} yet "
                                      f"({state.status})")
        return state

    def _flush_notices(self, key: tuple[str, bool]) -> None:
        batch = self._notice_batches.pop(key, [])
        if not batch:
            return
        text = key[0]
        if not self._registered or self._conn is None:
            for queued in batch:
                settle(queued.future, DeliveryUnavailable(f"irc/{self.network} is not connected"))
            return
        conn = self._conn
        limit = notice_targets(conn.features)
        groups: list[list[_Queued]] = []
        for queued in batch:
            for group in groups:
                names = [q.channel for q in group]
                if (len(group) < limit and queued.channel not in names and text_budget(
                        self._prefix(), "NOTICE", [*names, queued.channel]) >= MIN_BATCH_BUDGET):
                    group.append(queued)
                    break
            else:
                groups.append([queued])
        for group in groups:
            targets = [q.channel for q in group]
            lines = split_text(text, text_budget(self._prefix(), "NOTICE", targets))
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.add_done_callback(functools.partial(_fan_result, [q.future for q in group]))
            hooks = [q.before_write for q in group if q.before_write is not None]
            target = ",".join(targets)
            self._output.put([functools.partial(conn.notice, target, line) for line in lines],
                             done, before_write=_all_of(hooks) if hooks else None)

    # --- channels -------------------------------------------------------------------------

    def _channel(self, name: str | None) -> ChannelState | None:
        return self._channels.get(self._fold(name)) if name else None

    def _join(self, states: Sequence[ChannelState]) -> None:
        conn = self._conn
        if conn is None or not self._registered:
            return
        names: list[str] = []
        calls: list[Write] = []
        for state in states:
            state.status = "joining"
            if names and len(",".join([*names, state.name])) > 400:
                calls.append(functools.partial(conn.join, ",".join(names)))
                names = []
            names.append(state.name)
        if names:
            calls.append(functools.partial(conn.join, ",".join(names)))
        self._send_soon(calls)

    def _schedule_rejoin(self, state: ChannelState) -> None:
        if state.rejoin is not None:
            state.rejoin.cancel()
        delay = jittered_backoff(state.failures, base=REJOIN_BASE, cap=REJOIN_CAP)
        state.failures += 1
        log.info("irc/%s: will try to join %s again in %.0fs", self.network, state.name, delay)
        state.rejoin = asyncio.get_running_loop().call_later(delay, self._rejoin, state)

    def _rejoin(self, state: ChannelState) -> None:
        state.rejoin = None
        if self._registered and not state.ready.is_set():
            self._join([state])

    def _check_ready(self) -> None:
        if self._ready_announced or not self._registered:
            return
        if all(state.settled for state in self._channels.values()):
            self._announce_ready()

    def _announce_ready(self) -> None:
        if self._ready_announced or not self._registered:
            return
        self._ready_announced = True
        if self._ready_timer is not None:
            self._ready_timer.cancel()
            self._ready_timer = None
        joined = sum(1 for s in self._channels.values() if s.ready.is_set())
        log.info("irc/%s: ready in %d of %d channels", self.network, joined,
                 len(self._channels))
        self._notify_ready()

    def _notify_ready(self) -> None:
        try:
            self._on_ready()
        except Exception:
            log.exception("irc/%s: the on_ready hook failed", self.network)

    # --- events from the library ------------------------------------------------------------

    def _ordinary_chatter(self, line: str) -> bool:
        conn = self._conn
        return self._chatter.ordinary(line, conn.get_nickname() if conn is not None else None)

    def _dispatch(self, _conn: Any, event: Any) -> None:
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(event)

    def _is_me(self, nick: str | None) -> bool:
        conn = self._conn
        return bool(nick) and conn is not None and self._fold(nick or "") == self._fold(
            conn.get_nickname() or "")

    def _write_now(self, lines: list[str]) -> None:
        """Registration traffic: not paced (the server expects it at once, and it is short)."""
        conn = self._conn
        if conn is None:
            return
        for line in lines:
            conn.send_raw(line)

    def _on_cap(self, event: Any) -> None:
        self._write_now(self._negotiation.on_cap(list(event.arguments)))
        self._roster.tracks_logins = "account-notify" in self._negotiation.enabled

    def _on_authenticate(self, event: Any) -> None:
        self._write_now(self._negotiation.on_authenticate(event.target or ""))

    def _on_logged_in(self, event: Any) -> None:
        if len(event.arguments) >= 2:
            self._negotiation.on_logged_in(event.arguments[1])

    def _on_sasl_success(self, event: Any) -> None:
        self._write_now(self._negotiation.on_sasl_success())

    def _on_sasl_failure(self, event: Any) -> None:
        reason = _SASL_FAILURES.get(event.type, "SASL authentication failed")
        self._write_now(self._negotiation.on_sasl_failure(reason))

    def _on_unknown_command(self, event: Any) -> None:
        if event.arguments and str(event.arguments[0]).upper() == "CAP":
            self._negotiation.unsupported()

    def _on_features(self, event: Any) -> None:
        features = self._connection().features
        # The library's event drops the target (our nick); add_flags wants the whole line.
        add_flags(features, [event.target, *event.arguments])
        fold = casefold_for(features)
        self._fold = fold
        casemapping = casemapping_of(features)
        if casemapping is not self._roster.casemapping:
            log.log(logging.WARNING if casemapping is CaseMapping.EXACT else logging.INFO,
                    "irc/%s: the server compares names by CASEMAPPING=%s%s", self.network,
                    getattr(features, "casemapping", None) or "rfc1459 (not advertised)",
                    "; unknown to us, so whitelisted nicks, masks and accounts must match "
                    "exactly, case included" if casemapping is CaseMapping.EXACT else "")
        self._roster.remap(casemapping)
        self._channels = {fold(s.name): s for s in self._channels.values()}
        self._chatter.configure(fold, [s.name for s in self._channels.values()])

    def _on_welcome(self, event: Any) -> None:
        conn = self._connection()
        negotiation = self._negotiation
        if not negotiation.finished:
            negotiation.unsupported()
        self._registered = True
        self._registered_event.set()
        nick = conn.get_nickname()
        log.info("irc/%s: connected as %s%s", self.network, nick,
                 f" (capabilities: {' '.join(sorted(negotiation.enabled))})"
                 if negotiation.enabled else "")
        if self._sasl is not None:
            if negotiation.sasl_account:
                log.info("irc/%s: logged in as %s", self.network, negotiation.sasl_account)
            else:
                log.error("irc/%s: SASL login as %s failed: %s", self.network,
                          self._sasl.username, negotiation.sasl_error or "no answer")
        self._join(list(self._channels.values()))
        self._ready_timer = asyncio.get_running_loop().call_later(READY_WAIT,
                                                                  self._announce_ready)
        self._check_ready()

    def _on_nick_refused(self, event: Any) -> None:
        wanted = event.arguments[0] if event.arguments else "?"
        if self._registered:
            log.warning("irc/%s: could not change nick to %s: %s", self.network, wanted,
                        event.type)
            return
        self._nick_attempts += 1
        base = self._config.nick
        attempt = self._nick_attempts
        erroneous = event.type == "erroneusnickname"
        if attempt <= 2 and not erroneous:
            fallback = base + "_" * attempt
        elif erroneous and attempt == 1 and len(base) > RFC1459_NICKLEN:
            # Most often the nick is longer than the server allows; before registration its
            # NICKLEN is unknown, so fit RFC 1459's 9 (ngIRCd's default, too).
            fallback = base[:RFC1459_NICKLEN]
        else:
            fallback = f"{base[:5]}{attempt % 10}{int(time.monotonic() * 1000) % 1000:03d}"
        log.warning("irc/%s: nick %s %s; trying %s", self.network, wanted,
                    "refused as erroneous (too long?)" if erroneous else f"is taken ({event.type})",
                    fallback)
        self._write_now([f"NICK {fallback}"])

    def _ask_for_nick(self) -> None:
        """Under a fallback nick: ISON the configured one now and then (`_on_ison`)."""
        conn = self._conn
        now = time.monotonic()
        if (conn is None or not self._registered or self._is_me(self._config.nick)
                or now - self._nick_asked < NICK_RECLAIM_EVERY):
            return
        longest = nick_length(conn.features)
        if longest is not None and len(self._config.nick) > longest:
            return  # the server will never accept it: keep the fallback, don't ask forever
        self._nick_asked = now
        self._write_now([f"ISON {self._config.nick}"])

    def _on_ison(self, event: Any) -> None:
        online = {self._fold(nick) for arg in event.arguments for nick in arg.split()}
        if self._fold(self._config.nick) not in online:
            self._reclaim_nick(self._config.nick)

    def _reclaim_nick(self, freed: str) -> None:
        """The holder of our configured nick let go of it: take it back."""
        conn = self._conn
        if (conn is not None and self._registered
                and self._fold(freed) == self._fold(self._config.nick)
                and not self._is_me(self._config.nick)):
            log.info("irc/%s: %s is free again; taking it back", self.network, freed)
            self._send_soon([functools.partial(conn.nick, self._config.nick)])

    def _on_join(self, event: Any) -> None:
        source = event.source
        nick = source.nick if source else None
        if self._is_me(nick):
            self._mask = str(source)
            state = self._channel(event.target)
            if state is not None:
                state.status = "joining"
                state.topic = None
                self._roster.we_joined(state.name)
            return
        state = self._channel(event.target)
        if not nick or state is None:
            return
        if "extended-join" in self._negotiation.enabled and event.arguments:
            self._roster.joined(state.name, nick, account=event.arguments[0],
                                with_account=True)
        else:
            self._roster.joined(state.name, nick)

    def _on_names(self, event: Any) -> None:
        # 353: `= #channel :@alice +bob carol` (with multi-prefix `@+bob`, with
        # userhost-in-names `bob!u@h`).
        if len(event.arguments) < 3:
            return
        state = self._channel(event.arguments[1])
        if state is None:
            return
        nicks = (entry.lstrip("~&@%+!").partition("!")[0]
                 for entry in str(event.arguments[2]).split())
        self._roster.names(state.name, (n for n in nicks if n and not self._is_me(n)))

    def _on_current_topic(self, event: Any) -> None:
        if len(event.arguments) >= 2:
            state = self._channel(event.arguments[0])
            if state is not None:
                state.topic = event.arguments[1] or None

    def _on_no_topic(self, event: Any) -> None:
        state = self._channel(event.arguments[0] if event.arguments else None)
        if state is not None:
            state.topic = None

    def _on_end_of_names(self, event: Any) -> None:
        state = self._channel(event.arguments[0] if event.arguments else None)
        if state is None or state.status != "joining":
            return
        state.status = "joined"
        state.settled = True
        state.joined_at = time.monotonic()
        state.ready.set()
        log.info("irc/%s: joined %s", self.network, state.name)
        conn = self._conn
        if conn is not None and self._roster.tracks_logins and has_whox(conn.features):
            # Who is logged in to what, for everyone already there (NAMES does not say;
            # account-notify keeps it true from now on): commands need no lookup.
            self._send_soon([functools.partial(conn.send_items, "WHO", state.name,
                                               f"%tna,{WHOX_TOKEN}")])
        if self._ready_announced:
            # A channel we got back into (after a kick, a ban lifted): what waited for it
            # should go out now rather than at the end of its backoff.
            self._notify_ready()
        else:
            self._check_ready()

    def _on_join_refused(self, event: Any) -> None:
        state = self._channel(event.arguments[0] if event.arguments else None)
        if state is None:
            if event.type == "unavailresource":
                self._on_nick_refused(event)
            return
        reason = REFUSALS[event.type]
        state.status = f"refused: {reason}"
        state.settled = True
        state.ready.clear()
        log.warning("irc/%s: cannot join %s: %s", self.network, state.name, reason)
        self._schedule_rejoin(state)
        self._check_ready()

    def _left(self, state: ChannelState, status: str) -> None:
        state.status = status
        state.ready.clear()
        if state.joined_at is not None and time.monotonic() - state.joined_at > STABLE_AFTER:
            state.failures = 0
        state.joined_at = None
        self._schedule_rejoin(state)

    def _on_kick(self, event: Any) -> None:
        state = self._channel(event.target)
        kicked = event.arguments[0] if event.arguments else ""
        if state is None:
            return
        if not self._is_me(kicked):
            self._roster.parted(state.name, kicked)
            return
        self._roster.we_left(state.name)
        by = event.source.nick if event.source else "?"
        reason = event.arguments[1] if len(event.arguments) > 1 else ""
        log.warning("irc/%s: kicked from %s by %s (%s)", self.network, state.name, by,
                    sanitize(reason)[:200])
        self._left(state, f"kicked by {by}")

    def _on_part(self, event: Any) -> None:
        nick = event.source.nick if event.source else None
        state = self._channel(event.target)
        if state is None:
            return
        if not self._is_me(nick):
            if nick:
                self._roster.parted(state.name, nick)
            return
        self._roster.we_left(state.name)
        self._left(state, "parted")

    def _on_quit(self, event: Any) -> None:
        nick = event.source.nick if event.source else None
        if nick:
            self._roster.quit(nick)
            self._reclaim_nick(nick)

    def _on_nick(self, event: Any) -> None:
        old = event.source.nick if event.source else None
        new = event.target
        if not old or not new:
            return
        if self._is_me(new):
            if self._mask:
                self._mask = new + self._mask[self._mask.index("!"):]
            log.info("irc/%s: now known as %s", self.network, new)
            return
        self._roster.renamed(old, new)
        self._reclaim_nick(old)

    def _on_topic(self, event: Any) -> None:
        state = self._channel(event.target)
        if state is None:
            return
        text = event.arguments[0] if event.arguments else ""
        state.topic = text or None
        setter = event.source.nick if event.source else ""
        ours = self._is_me(setter) or (state.expected_topic is not None
                                       and text == state.expected_topic)
        waiter = self._topic_waiters.get(self._fold(state.name))
        if ours:
            if waiter is not None and text == state.expected_topic:
                settle(waiter, None)
            return
        log.info("irc/%s: %s changed the topic of %s", self.network, setter, state.name)
        if self._topic_sink is not None:
            change = TopicChanged(Channel(self.name, self.network, state.name), text or None,
                                  setter)
            self._spawn(self._report_topic(self._topic_sink, change))

    async def _report_topic(self, sink: TopicSink, change: TopicChanged) -> None:
        try:
            await sink(change)
        except Exception:
            log.exception("irc/%s: could not record the new topic of %s", self.network,
                          change.channel.name)

    def _on_not_operator(self, event: Any) -> None:
        channel = event.arguments[0] if event.arguments else None
        state = self._channel(channel)
        if state is None:
            return
        waiter = self._topic_waiters.get(self._fold(state.name))
        if waiter is not None:
            settle(waiter, DeliveryRejected(
                f"cannot set the topic of {state.name}: not a channel operator "
                "(give the bot +o, or set topic_via: chanserv)"))

    def _on_error(self, event: Any) -> None:
        text = event.target or (event.arguments[-1] if event.arguments else "")
        self._last_error = f"server said: {sanitize(str(text))[:200]}"
        log.log(logging.INFO if self._stopping else logging.WARNING, "irc/%s: %s",
                self.network, self._last_error)

    def _ping(self, token: str) -> None:
        self._connection().ping(token)

    def _on_pong(self, event: Any) -> None:
        for token in [*event.arguments, event.target]:
            if isinstance(token, str) and self._output.confirmed(token):
                return

    def _on_disconnect(self, event: Any) -> None:
        if not self._lost.is_set():
            reason = event.arguments[0] if event.arguments else ""
            if reason and not self._last_error:
                self._last_error = str(reason)
            self._lost.set()

    # --- who is who ----------------------------------------------------------------------

    def _on_account(self, event: Any) -> None:
        nick = event.source.nick if event.source else None
        if nick:
            self._roster.account_changed(nick, event.target)

    def _on_whox(self, event: Any) -> None:
        args = event.arguments
        if len(args) >= 3 and args[0] == WHOX_TOKEN:
            self._learned(args[1], args[2])

    def _on_whois_account(self, event: Any) -> None:
        if len(event.arguments) >= 2:
            self._learned(event.arguments[0], event.arguments[1])

    def _learned(self, nick: str, account: str | None) -> None:
        """The server says who holds `nick` now (a WHOX or WHOIS answer)."""
        self._roster.learned_account(nick, account)
        lookup = self._lookups.get(self._roster.fold(nick))
        if lookup is not None:
            lookup.account = None if account in ("*", "0", "") else account
            lookup.account_seen = True
            lookup.as_of = self._roster.last_change(nick)

    def _on_end_of_lookup(self, event: Any) -> None:
        nick = event.arguments[0] if event.arguments else ""
        lookup = self._lookups.pop(self._roster.fold(nick), None)
        if lookup is None:
            return
        if not lookup.account_seen:
            # WHOIS without a 330 line, WHOX with no reply: not logged in (or gone).
            lookup.account = None
            lookup.as_of = self._roster.last_change(nick)
            self._roster.learned_account(nick, None)
        if not lookup.answered.done():
            lookup.answered.set_result((lookup.account, lookup.as_of))

    def _accounts_visible(self) -> bool:
        """Whether this server can tell us accounts at all: on one without services (no
        account capabilities, no WHOX) a lookup per command would only cost time."""
        conn = self._conn
        offered = self._negotiation.offered
        return any(cap in offered for cap in _ACCOUNT_CAPS) or (
            conn is not None and has_whox(conn.features))

    async def _lookup_account(self, nick: str) -> tuple[str | None, int] | None:
        """Ask the server who holds `nick`: the account, and the roster's number of the
        nick's last change when it answered. None when it did not answer."""
        conn = self._conn
        if conn is None or not self._registered:
            return None
        key = self._roster.fold(nick)
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = self._lookups[key] = _Lookup(asyncio.get_running_loop().create_future())
            if has_whox(conn.features):
                # The library's who() only knows the old `o` flag, not WHOX fields.
                self._send_soon([functools.partial(conn.send_items, "WHO", nick,
                                                   f"%tna,{WHOX_TOKEN}")])
            else:
                self._send_soon([functools.partial(conn.whois, nick)])
        try:
            return await asyncio.wait_for(asyncio.shield(lookup.answered), LOOKUP_TIMEOUT)
        except TimeoutError:
            log.warning("irc/%s: no answer to the account lookup of %s", self.network, nick)
            if self._lookups.get(key) is lookup:
                del self._lookups[key]
            return None
        except asyncio.CancelledError:
            if lookup.answered.cancelled():
                return None  # the connection ended under it
            raise

    async def _account_at_arrival(self, incoming: _Incoming) -> tuple[str | None, str | None]:
        """The services account the sender was logged in to when their line arrived, or
        why that cannot be known: `(account, None)` or `(None, reason)`.

        Facts learned after the arrival count only if the nick has not changed hands (or
        been logged in or out) since; a nick we share no channel with could change hands
        unseen, so no lookup can vouch for it."""
        sighting = incoming.sighting
        if sighting.account_known:
            return sighting.account, None
        if not sighting.visible:
            return None, UNVERIFIED_UNSEEN
        roster = self._roster
        if not roster.changed_since(sighting) and roster.known(sighting.nick):
            return roster.account(sighting.nick), None  # answered for a line before this one
        if roster.changed_since(sighting):
            return None, UNVERIFIED_CHANGED
        answer = await self._lookup_account(sighting.nick)
        if answer is None:
            return None, (UNVERIFIED_NO_ANSWER if self._registered else UNVERIFIED_OFFLINE)
        account, as_of = answer
        if as_of > sighting.serial:
            log.warning("irc/%s: %s changed nick or login while its account was being "
                        "looked up; not trusting the answer", self.network, sighting.nick)
            return None, UNVERIFIED_CHANGED
        return account, None

    # --- incoming messages ------------------------------------------------------------------

    def _on_message(self, event: Any) -> None:
        source = event.source
        if source is None or not source.userhost or self._is_me(source.nick):
            return  # server notices, and our own echo
        if event.type == "privmsg":
            if not self._is_me(event.target):
                return  # a STATUSMSG (`@#channel`) or other oddity, not a private message
            channel = None
        else:
            state = self._channel(event.target)
            if state is None:
                return
            channel = state.name
        tags = {t["key"]: t["value"] for t in (event.tags or []) if t.get("key")}
        account_tag = "account-tag" in self._negotiation.enabled
        account = tags.get("account") if account_tag else None
        if account_tag:
            self._roster.learned_account(source.nick, account)
        # Whatever we believe about the sender must be what was true now, as the line
        # arrives: it may wait in the queue while the nick changes hands.
        text = event.arguments[0] if event.arguments else ""
        command = self._may_be_command(text, channel is None)
        event_id = tags.get("msgid") or (
            f"arrival:{self._arrival_prefix}:{next(self._arrivals)}" if command else None)
        incoming = _Incoming(source, text, channel, tags, self._roster.sight(source.nick),
                             event_id, account, account_tag)
        if not self._incoming.put(incoming, command=command):
            dropped = self._incoming.dropped
            if dropped % 100 == 1:
                log.warning("irc/%s: incoming messages arrive faster than they are handled; "
                            "dropped %d so far (%d chatter, %d commands)", self.network,
                            dropped, self._incoming.dropped_chatter,
                            self._incoming.dropped_commands)

    async def _read_loop(self) -> None:
        while True:
            incoming = await self._incoming.get()
            try:
                message = await self._to_message(incoming)
                if self._sink is not None:
                    await self._sink(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("irc/%s: could not handle a message from %s", self.network,
                              incoming.source.nick)

    async def _to_message(self, incoming: _Incoming) -> Message:
        nick = incoming.source.nick
        private = incoming.channel is None
        account, unverified = incoming.account, None
        if not incoming.account_known and self._accounts_visible() and self._may_be_command(
                incoming.text, private):
            account, unverified = await self._account_at_arrival(incoming)
        elif not incoming.account_known and incoming.sighting.account_known:
            account = incoming.sighting.account
        identity = Identity(transport=self.name, nick=nick, network=self.network,
                            account=account, host_mask=str(incoming.source),
                            casemapping=self._roster.casemapping, unverified=unverified)
        return Message(
            transport=self.name,
            network=self.network,
            target=incoming.channel or nick,
            sender=nick,
            identity=identity,
            text=self._readdress(incoming.text),
            event_id=incoming.event_id,
            private=private,
            addressed=private,
        )

    def _may_be_command(self, text: str, private: bool) -> bool:
        if private or text.startswith(("#", "@")):
            return True
        conn = self._conn
        nick = conn.get_nickname() if conn is not None else self._config.nick
        return any(self._fold(text[:len(n)]) == self._fold(n)
                   for n in (nick, self._address_as) if n)

    def _readdress(self, text: str) -> str:
        """`statusdesk_: #status ...` (we got a fallback nick) as the desk knows us."""
        conn = self._conn
        nick = conn.get_nickname() if conn is not None else None
        if not nick or self._fold(nick) == self._fold(self._address_as):
            return text
        start = 1 if text.startswith("@") else 0
        end = start + len(nick)
        if self._fold(text[start:end]) == self._fold(nick) and (
                end == len(text) or text[end] in ":, \t"):
            return text[:start] + self._address_as + text[end:]
        return text

    def _on_ctcp(self, event: Any) -> None:
        source = event.source
        conn = self._conn
        if (conn is None or source is None or not self._registered
                or not self._is_me(event.target) or not event.arguments):
            return
        command = str(event.arguments[0]).upper()
        if command == "VERSION":
            reply = f"VERSION statusdesk {_version()}"
        elif command == "PING":
            reply = "PING " + sanitize(" ".join(event.arguments[1:]))[:64]
        else:
            return
        # Only with a token to spare: a CTCP flood must not delay real output.
        if self._bucket.try_take():
            conn.ctcp_reply(source.nick, reply)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _first(*events: asyncio.Event, within: float) -> bool:
    """Wait until one of `events` is set; False on timeout."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=within,
                                     return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _fan_result(futures: list[asyncio.Future[None]], done: asyncio.Future[None]) -> None:
    error = None if done.cancelled() else done.exception()
    for future in futures:
        settle(future, error if error is not None else None)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return str(error) or "timed out"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {error.verify_message}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
