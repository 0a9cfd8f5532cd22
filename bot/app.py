"""Wiring: builds the store, desk, transports, outbox and web server from a Config and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import signal
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from bot.api.command_route import LEADER_KEY, LEADER_SCOPE, CommandRoute
from bot.api.console_gate import TokenConsoleGate
from bot.components.board import ComponentBoard
from bot.components.extension import ComponentsExtension
from bot.components.sync import sync_components
from bot.config import Config, ConfigError, plugins
from bot.core.desk import Desk
from bot.core.events import DeskEvent
from bot.core.extension import Reply
from bot.core.ports import (
    DeliveryRejected,
    DeliveryUnavailable,
    Message,
    OperatorInput,
    OperatorSession,
    Transport,
    TransportPlugin,
    TransportSetup,
)
from bot.core.transport_state import StoredTransportState
from bot.delivery.answer_queue import AnswerQueue
from bot.delivery.outbox import OutboxWorker
from bot.followup.direct import DirectMessages
from bot.followup.em_prompt import EmPromptScheduler, nobody_on_call, on_call_from_paging
from bot.followup.extension import FollowUpExtension
from bot.ha.change_relay import ChangeRelay
from bot.ha.leadership import (
    Leadership,
    asyncpg_dsn,
    instance_id,
    leadership_for,
    session_settings,
)
from bot.ha.write_probe import WriteProbe
from bot.incidents.milestone_tally import TallyReader
from bot.incidents.reminders import ReminderScheduler
from bot.maintenance.assembly import Maintenance
from bot.maintenance.holds import BoardHolds
from bot.maintenance.rules import known_components
from bot.observability.gc_pauses import freeze_startup_heap, spread_full_collections
from bot.observability.loop_lag import LoopLagMonitor
from bot.paging.assembly import Paging
from bot.playbooks.runtime import Playbooks
from bot.retention import Pruner
from bot.service.notify import ServiceNotifier
from bot.service.reload import ReloadPlan, plan_reload
from bot.subscribers.assembly import Subscribers
from bot.tickets.runtime import Tickets
from bot.transports.registry import Transports
from bot.web.app import ANSWER_OBSERVERS, create_web_app, serve_document
from bot.web.connection_budget import (
    LISTEN_BACKLOG,
    current_open_file_limit,
    raise_open_file_limit,
)
from bot.web.connection_guard import GuardedSite
from bot.web.console import Console
from bot.web.console_sessions import ConsoleSessions
from bot.web.export import StaticExport
from bot.web.hot_path import HotPath
from bot.web.http_limits import LINGERING_SECONDS, HttpLimits
from bot.web.maintenances import OverrunTicker
from bot.web.metrics import MetricSources, pool_connections
from bot.web.snapshot import Snapshot
from bot.web.sse import EventStream
from bot.wiring import build_core
from commands.auth import Principal, Whitelist
from commands.grammar import may_be_for_bot
from commands.rate_limit import Allowance, CommandRateLimit
from commands.replies import posted_while_away
from storage.db import open_store, upgrade
from storage.leases import FENCING_TERM, LeaseLost
from storage.unit_of_work import Store
from storage.write_refusals import write_refusal

log = logging.getLogger("statusdesk.app")

SHUTDOWN_DRAIN_SECONDS = 5.0
"""At shutdown, how long to keep delivering what is already queued before leaving it for
the next start (nothing is lost either way: it stays in the outbox)."""


ANSWER_PATIENCE = 60.0
"""How long an answer waits for this instance to lead again when it stepped down while the
command was being applied."""


LEASE_RECHECK_SECONDS = 0.2
"""How often a command refused by the fence looks whether its term leads again."""


STANDBY_READY_SECONDS = 2.0
"""A service manager waits for readiness (`READY=1`): an instance that has not become leader
this long after its page serves is ready as a standby (the page is its whole job then)."""

INPUT_END_GRACE_SECONDS = 2.0
"""After the console's stdin ends, how long an instance that does not lead yet may take to
lead (and apply what was typed, as `printf '#status ok\\n' | statusdesk run` wants) before it
stops as a standby."""


def whitelist_from(config: Config) -> Whitelist:
    principals = []
    for user in config.users:
        irc = user.irc
        principals.append(
            Principal(
                name=user.name,
                roles=user.role_set,
                irc_account=irc.account if irc else None,
                irc_nick=irc.nick if irc else None,
                irc_mask=irc.mask if irc else None,
                matrix_user=user.matrix,
            )
        )
    return Whitelist(principals)


def rate_limit_from(config: Config) -> CommandRateLimit | None:
    limit = config.commands.rate_limit
    if limit is None:
        return None
    whitelisted = limit.whitelisted
    return CommandRateLimit(
        Allowance(limit.burst, limit.per_second),
        Allowance(whitelisted.burst, whitelisted.per_second) if whitelisted else None,
    )


def own_url(config: Config, port: int | None) -> str:
    """This instance's own HTTP address (not the public one, which may be a load balancer):
    its listen address, a wildcard one named by the host's name."""
    host = config.status_page.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port or config.status_page.port}"


def page_url_of(config: Config) -> str:
    if config.status_page.public_url:
        return str(config.status_page.public_url).rstrip("/")
    host = config.status_page.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.status_page.port}"


class App:
    """One running statusdesk: `await App(config).run()` until stdin closes or a signal."""

    def __init__(
        self,
        config: Config,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        leadership: Leadership | None = None,
        own_process: bool = False,
        service: ServiceNotifier | None = None,
        reload_config: Callable[[], Config] | None = None,
        config_source: str = "the configuration",
    ) -> None:
        """`service`: the service manager to notify (systemd, bot/service/notify.py);
        `reload_config`: reads the configuration again for SIGHUP (None: nothing to reload);
        `config_source`: what it reads (a file name), for the log."""
        self.config = config
        self._service = service if service is not None else ServiceNotifier(None)
        self._reload_config = reload_config
        self._config_source = config_source
        self._reloading = asyncio.Lock()
        self._reload_tasks: set[asyncio.Task[bool]] = set()
        self._reload_pending: bool | None = None
        """None until the desk runs (a SIGHUP then only sets it True: reloaded once it
        runs); False from then on."""
        self._status = "starting"
        """What the service manager last heard (STATUS=), said again after a reload."""
        self._own_process = own_process
        """The process is this bot alone (`statusdesk run`): it may tune the process-wide
        garbage collector (bot/observability/gc_pauses.py)."""
        self._leadership = leadership
        self._transport_plugins = transport_plugins(config)
        self.paging: Paging | None = None
        self.console: Console | None = None
        self.bot_nick = "statusdesk"
        self.chat_started = asyncio.Event()
        """Set while this instance leads and its transports have started."""
        self._stdin = stdin
        self._stdout = stdout
        self._stop = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.answers = AnswerQueue()
        """Answers waiting to be written, so a network's reader never waits on output."""
        self.store: Store | None = None
        self.transports = Transports()
        self.web_port: int | None = None
        self.playbooks: Playbooks | None = None
        self.tickets: Tickets | None = None
        self.outbox: OutboxWorker | None = None
        self.tally_reader = TallyReader()
        """/metrics' incident figures; the leader warms it up at the start of each term."""
        self.component_board: ComponentBoard | None = None
        """Changes components inside a transaction (set once running); what holds
        components besides chat (maintenance windows) goes through it too."""
        self.subscribers: Subscribers | None = None

    def request_stop(self) -> None:
        self._service.stopping()
        self._stop.set()

    async def run(self) -> int:
        config = self.config
        # Pinging from the start: a migration that hangs the loop is a hung service too.
        self._service.start_watchdog()
        # SIGHUP's default is to end the process: from the first moment to the last it
        # means "reload" (deferred until the desk runs).
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self._tell_status("upgrading the database")
        self.instance = instance_id()
        store = self.store = open_store(config.database.url,
                                        **session_settings(config.database.url, self.instance))
        try:
            await upgrade(store.engine)
            log.info("database ready (%s)", store.dialect)
            return await self._serve(store)
        finally:
            self._service.stopping()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
            await store.close()
            await self._service.stop_watchdog()
            self._service.close()

    def _tell_status(self, text: str) -> None:
        self._status = text
        self._service.status(text)

    def _ready(self, text: str) -> None:
        self._status = text
        self._service.ready(text)

    async def _ready_as_standby(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.chat_started.wait(), STANDBY_READY_SECONDS)
            return
        self._ready(f"status page on port {self.web_port}; "
                    + ("starting the chat side" if self.leadership.is_leader
                       else "standing by: another instance leads"))

    def request_reload(self) -> None:
        """SIGHUP: read the configuration again and apply what can change while running
        (once the desk runs: while starting, the request waits; while stopping, it is moot)."""
        if self._reload_pending is not False:
            if self._reload_pending is None:
                log.info("SIGHUP while starting: the configuration is read again once running")
            self._reload_pending = True
            return
        if self._stop.is_set():
            log.info("SIGHUP while stopping: nothing to reload")
            return
        task = asyncio.create_task(self.reload(), name="reload")
        self._reload_tasks.add(task)
        task.add_done_callback(self._reload_tasks.discard)

    async def reload(self) -> bool:
        """Apply a new configuration's users, incident roles, components, rotation and
        escalation managers all at once, and re-read the playbooks; True when applied. A
        configuration that does not load is refused (each problem logged as `PATH:
        message`) and the running one stays; changed keys that need a restart are named in
        a warning, the rest applied."""
        if self._reload_config is None:
            log.warning("reload: running on the built-in default configuration, there is no "
                        "file to read again")
            return False
        async with self._reloading:
            self._service.reloading()
            try:
                try:
                    new = self._reload_config()
                except ConfigError as error:
                    log.error("configuration reload refused (%s), the running configuration "
                              "stays:", self._config_source)
                    for problem in error.problems:
                        log.error("%s", problem)
                    return False
                except Exception as error:
                    log.error("configuration reload refused (%s), the running configuration "
                              "stays: %s", self._config_source, error)
                    return False
                plan = plan_reload(self.config, new)
                if plan.kept:
                    log.warning("reload: %s changed but cannot be changed while running "
                                "(restart to apply); the rest is applied",
                                ", ".join(plan.kept))
                try:
                    await self._apply_reload(plan)
                except Exception:
                    log.exception("configuration reload failed, the running configuration "
                                  "stays")
                    return False
                log.info("configuration reloaded from %s: %s", self._config_source,
                         ", ".join(plan.applied) if plan.applied else "no reloadable change")
                return True
            finally:
                self._service.reloaded(self._status)

    async def _apply_reload(self, plan: ReloadPlan) -> None:
        config = plan.config
        whitelist = whitelist_from(config)  # built before anything changes
        components = any(key.startswith("components") for key in plan.applied)
        if components and self.store is not None:
            # Its own transaction: if it fails, nothing of the reload is applied.
            await sync_components(self.store, config.components)
        # From here on no await: a command sees all of the old configuration or all of the
        # new one. The pager goes first: it builds the new rotation before it swaps, so if
        # that fails nothing has changed.
        if self.paging is not None and any(key.startswith("paging.") for key in plan.applied):
            self.paging.reconfigure(config.paging)
        self.desk.replace_whitelist(whitelist)
        self.follow_up.replace_roles(config.incidents.roles)
        self.config = config
        if self.playbooks is not None:
            self.playbooks.store.refresh(force=True)
        if components:
            self.snapshot.refresh()

    async def _serve(self, store: Store) -> int:
        """Every instance serves the status page; the leader also runs the chat side."""
        config = self.config
        leadership = self.leadership = (
            self._leadership if self._leadership is not None
            else leadership_for(config.database.url, holder=self.instance,
                                lease_seconds=config.database.lease.total_seconds())
        )
        # What people address the bot by (`statusdesk: #status ...`): its IRC nick when it has
        # one; a network where that nick was taken has its transport translate.
        bot_nick = self.bot_nick = config.irc[0].nick if config.irc else "statusdesk"
        paging = self.paging = Paging.start(config.paging, store, self.transports,
                                            bot_nick=bot_nick, page_url=page_url_of(config))
        subscribers = self.subscribers = await Subscribers.start(
            config.subscribers, store, title=config.status_page.title,
            page_url=page_url_of(config), components=component_choices(config))
        tickets = self.tickets = Tickets.from_config(config, store, self.transports.channels,
                                                     bot_nick=bot_nick,
                                                     page_url=page_url_of(config))
        core = build_core(
            store, self.transports, whitelist_from(config),
            bot_nick=bot_nick,
            page_url=page_url_of(config),
            log_api=bool(config.status_page.api_token
                         and config.status_page.api_token.get_secret_value()),
            capture=config.incidents.capture or (),
            extensions=([paging.extension] if paging is not None else [])
            + ([subscribers.extension] if subscribers is not None else [])
            + ([tickets.extension] if tickets is not None else []),
            deliverers=([paging.deliverer] if paging is not None else [])
            + ([subscribers.deliverer] if subscribers is not None else [])
            + [DirectMessages(self.transports)]
            + ([tickets.deliverer] if tickets is not None else []),
            rate_limit=rate_limit_from(config),
            owner=self.instance,
            may_send=leadership.holds,
        )
        bus, self.desk, outbox = core.bus, core.desk, core.outbox
        self._topics = core.topics
        self.outbox = outbox
        if paging is not None:
            paging.connect(outbox.wake)
        if subscribers is not None:
            subscribers.connect(outbox.wake)
            # Events committed outside the desk's commands (timers) reach subscribers too.
            bus.subscribe(subscribers.extension.after_commit)
        if tickets is not None:
            tickets.deliverer.on_queued = outbox.wake
        playbooks = self.playbooks = Playbooks.from_config(config.playbooks, store,
                                                                 bot_nick=bot_nick)
        if playbooks is not None:
            self.desk.add_extension(playbooks.extension)
        await sync_components(store, config.components)
        board = self.component_board = ComponentBoard(self.transports.channels)
        self.desk.add_extension(ComponentsExtension(board))
        self.follow_up = FollowUpExtension(
            config.incidents.roles, file_actions_in=config.postmortem.file_actions_in,
            can_file=tickets is not None)
        """Five Whys, action items, roles; what files tickets sets `follow_up.can_file`."""
        self.desk.add_extension(self.follow_up)
        maintenance = self.maintenance = Maintenance(
            config.maintenance, store, bus, self.transports.channels, bot_nick=bot_nick,
            components=lambda: known_components(_configured_components(self.config)),
            holds=BoardHolds(board))
        maintenance.connect(outbox.wake)
        self.desk.add_extension(maintenance.extension)
        page = config.status_page
        http = self.http_limits = HttpLimits.from_config(
            page.limits,
            raise_open_file_limit() if self._own_process else current_open_file_limit())
        export = StaticExport(Path(page.export_dir)) if page.export_dir else None
        snapshot = self.snapshot = Snapshot(store, title=page.title, url=page_url_of(config),
                                            export=export, stream=EventStream(http.live,
                                                               http.guard.when_lost),
                                            annotate=playbooks.pages.annotate if playbooks
                                            else None,
                                            subscribe=config.subscribers.email is not None)
        bus.subscribe(snapshot.on_event)
        # The page's event first, then the chat: both are the same change's, the page's is
        # the one measured in milliseconds (issue 21), and beside the outbox's transactions
        # its reads took twice as long.
        outbox.goes_first = snapshot.announced
        self.desk.on_unannounced_change = snapshot.refresh
        await snapshot.start()
        overruns = OverrunTicker(lambda: snapshot.state, snapshot.refresh)
        overruns.start()
        relay: ChangeRelay | None = None
        if store.dialect == "postgresql":
            relay = self.relay = ChangeRelay(
                asyncpg_dsn(config.database.url), self.instance,
                on_remote=functools.partial(_remote_change, self.desk, snapshot, outbox),
                on_gap=lambda: None if leadership.is_leader else snapshot.refresh(),
            )
            bus.subscribe(relay.publish)
            await relay.start()
        loop_lag = self.loop_lag = LoopLagMonitor()
        sources = MetricSources(
            tally_reader=self.tally_reader,
            commands=lambda: self.desk.outcomes,
            delivered=lambda: outbox.delivered,
            delivery_failures=lambda: outbox.failed,
            renders=lambda: snapshot.renders,
            render_seconds=lambda: snapshot.last_render_seconds,
            sse_clients=lambda: snapshot.stream.client_count,
            sse_dropped=lambda: snapshot.stream.dropped_total,
            transports_connected=lambda: {
                f"{t.name}/{t.network}": bool(t.health().get("connected"))
                for t in self.transports
            },
            role=lambda: "leader" if leadership.is_leader else "standby",
            lease=leadership.detail,
            loop_lag=loop_lag,
            asyncio_tasks=lambda: len(asyncio.all_tasks()),
            db_connections=lambda: pool_connections(store.engine.pool),
            connections=http.guard,
            live_clients=http.live,
            body_deadline=http.body,
            open_files_limit=http.budget.open_files,
            database_writes_refused=lambda: store.writes.refused_total,
            database_writable=lambda: store.writes.unwritable is None,
        )
        runner = web.AppRunner(
            create_web_app(
                snapshot, store, self._transport_health, sources,
                api_token=page.api_token.get_secret_value() if page.api_token else None,
                playbooks=playbooks.pages if playbooks else None,
                hooks=paging.web_hooks() if paging is not None else None,
                middlewares=http.middlewares(),
                postmortem_template=config.postmortem.template,
                routes=[*(subscribers.routes() if subscribers is not None else ()),
                        *CommandRoute(store, self.desk.handle_command,
                                      applies_here=self.chat_started.is_set,
                                      leader_url=self._leader_url).routes(),
                        *self._console(store).routes()],
            ),
            access_log=None,
            lingering_time=LINGERING_SECONDS,
        )
        await runner.setup()
        # The herd's GETs (the hot documents, the live-update stream) are answered below
        # aiohttp, with the same bytes (bot/web/hot_path.py).
        http.guard.hot_path = HotPath(snapshot, runner.app, serve_document, ANSWER_OBSERVERS)
        site = GuardedSite(runner, config.status_page.host, config.status_page.port,
                           http.guard, backlog=LISTEN_BACKLOG)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            if relay is not None:
                await relay.stop()
            await snapshot.stop()
            raise RuntimeError(
                f"status_page.listen: cannot listen on {config.status_page.listen}: "
                f"{error.strerror or error}"
            ) from error
        addresses = runner.addresses
        self.web_port = int(addresses[0][1]) if addresses else config.status_page.port
        log.info("status page on http://%s:%s", config.status_page.host, self.web_port)
        self._tell_status(f"status page on port {self.web_port}")
        standby_ready = asyncio.create_task(self._ready_as_standby(), name="standby ready")
        input_ended = self._watch_operator_input()
        standby_input = (asyncio.create_task(self._stop_standby_at_end_of_input(input_ended),
                                             name="standby stdin")
                         if input_ended is not None else None)
        http.guard.start()
        if self._own_process:
            freeze_startup_heap()
            spread_full_collections()
        loop_lag.start()
        probe = asyncio.create_task(WriteProbe(store).run(), name="write-probe")

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_stop)
        pending, self._reload_pending = self._reload_pending, False
        if pending:
            self.request_reload()
        try:
            while not self._stop.is_set():
                if not await self._until_stopped(leadership.acquire()):
                    break
                await self._lead(store, outbox)
        finally:
            self._service.stopping()
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)
            standby_ready.cancel()
            if standby_input is not None:
                standby_input.cancel()
            for reload_task in list(self._reload_tasks):
                reload_task.cancel()
            await leadership.release()
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            await loop_lag.stop()
            if relay is not None:
                await relay.stop()
            await overruns.stop()
            await snapshot.stop()
            await http.guard.stop()
            await runner.cleanup()
            if playbooks is not None:
                await playbooks.close()
            if paging is not None:
                await paging.close()
            if subscribers is not None:
                await subscribers.close()
            if tickets is not None:
                await tickets.close()
        return 0

    def _watch_operator_input(self) -> asyncio.Event | None:
        """The end of the operator's input (the console's stdin), watched from the start;
        None without a console."""
        for key, plugin in self._transport_plugins.items():
            if getattr(self.config, key, None) and isinstance(plugin, OperatorInput):
                return plugin.watch_input(self._stdin)
        return None

    async def _stop_standby_at_end_of_input(self, ended: asyncio.Event) -> None:
        """Ctrl-D stops a standby as it stops a leader (README: a console bot stops when its
        stdin closes). A leader's console reads what was typed to the end first, then stops
        the app itself; a standby never reads it, and says so."""
        await ended.wait()
        await asyncio.sleep(INPUT_END_GRACE_SECONDS)
        if not self.leadership.is_leader and not self._stop.is_set():
            log.warning("stdin closed while another instance leads: stopping; commands typed "
                        "here were not applied")
            self.request_stop()

    async def _until_stopped(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run `work` unless a stop comes first; True when `work` finished."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.create_task(self._stop.wait())
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    def _build_transports(self, store: Store) -> OperatorSession | None:
        """This term's chat connections, fresh each time this instance becomes leader (but
        for the console, which owns the process's stdin); the operator's session, if any."""
        config = self.config
        self.transports.clear()
        setup = TransportSetup(
            bot_nick=self.bot_nick,
            database_url=config.database.url,
            state=lambda scope: StoredTransportState(store, scope),
            on_topic=self._topics.topic_changed,
            on_ready=self._transport_ready,
            may_write=self.leadership.holds,
            stdin=self._stdin,
            stdout=self._stdout,
            keep_chatter=tuple(config.incidents.capture or ()),
        )
        session: OperatorSession | None = None
        for key, plugin in self._transport_plugins.items():
            for transport in plugin.build(getattr(config, key, None), setup):
                self.transports.add(transport)
                if isinstance(transport, OperatorSession):
                    session = transport
        if not self.transports:
            log.warning("no chat transport is running (set console: true to try the bot "
                        "from this terminal); serving the status page only")
        return session

    async def _lead(self, store: Store, outbox: OutboxWorker) -> None:
        """One term as leader: the chat side runs until a stop or the loss of leadership."""
        leadership = self.leadership
        # Everything this term starts (transports' readers, the outbox worker, reminders,
        # escalations, the tasks they spawn) inherits the term: their transactions commit
        # only while it holds the lease (storage/leases.py).
        fencing = FENCING_TERM.set(leadership.term)
        try:
            await self._lead_term(store, outbox, leadership)
        finally:
            FENCING_TERM.reset(fencing)

    async def _lead_term(self, store: Store, outbox: OutboxWorker,
                         leadership: Leadership) -> None:
        config = self.config
        console = self._build_transports(store)
        # Another instance may have led meanwhile: what is open is read afresh.
        self.desk.forget_open_incidents()
        try:
            await outbox.take_over()
        except Exception as error:
            # A database that takes no writes (disk full, read-only) still lets the bot
            # answer questions; the claims are freed at the next term, or run out.
            if write_refusal(error) is None:
                raise
        worker = asyncio.create_task(outbox.run(), name="outbox")
        scheduler = ReminderScheduler(store, config.incidents, bot_nick=self.bot_nick,
                                      on_queued=outbox.wake,
                                      fallback=self.transports.channels)
        reminders = asyncio.create_task(scheduler.run(), name="reminders")
        em_prompts = asyncio.create_task(self._em_prompts(store, outbox).run(),
                                         name="em-prompts")
        escalations = (asyncio.create_task(self.paging.scheduler.run(), name="escalations")
                       if self.paging is not None else None)
        maintenance_timers = asyncio.create_task(self.maintenance.timers.run(),
                                                 name="maintenance timers")
        ticket_states = (asyncio.create_task(self.tickets.refresher.run(), name="ticket states")
                         if self.tickets is not None else None)
        retention = asyncio.create_task(Pruner(store, config.retention).run(), name="retention")
        # /metrics' incident figures: read every incident once now, in the background, not
        # in the first scrape (which may not take as long as that takes).
        tally_warm = asyncio.create_task(self.tally_reader.warm(store), name="metrics warm-up")
        lost = False
        try:
            for transport in self.transports:
                await transport.start(self._on_message)
            log.info("statusdesk running with %d transport(s)", len(self.transports))
            await self._record_leader_url(store)
            self.chat_started.set()
            self._ready(f"leading with {len(self.transports)} chat transport(s); "
                        f"status page on port {self.web_port}")
            waiters: list[asyncio.Task[Any]] = [asyncio.create_task(self._stop.wait())]
            lost_waiter = asyncio.create_task(leadership.lost())
            waiters.append(lost_waiter)
            if console is not None:
                waiters.append(asyncio.create_task(console.closed.wait()))
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            lost = lost_waiter.done() and not self._stop.is_set()
            for waiter in waiters:
                waiter.cancel()
            if console is not None and console.closed.is_set():
                self._stop.set()
            log.info("lost leadership: stopping the chat side" if lost else "shutting down")
            if lost:
                self._tell_status(f"status page on port {self.web_port}; lost the leader "
                                  "lease: standing by")
            else:
                self._service.stopping()
        finally:
            self.chat_started.clear()
            if lost:
                # Someone else may be leader already: not one more line from us.
                await self.answers.clear()
                await self._stop_transports()
            # Commands already being applied finish (an accepted command is never lost),
            # then whatever they queued gets a last chance to go out before we disconnect.
            if self._in_flight:
                await asyncio.wait(set(self._in_flight), timeout=SHUTDOWN_DRAIN_SECONDS)
            await self._keep_captured()
            if not lost:
                # After a lost term, answers queued from here on wait for the next term
                # (`_transport_to_answer`); draining now would cancel them.
                await self.answers.drain(SHUTDOWN_DRAIN_SECONDS)
            await _cancel_and_wait(reminders, em_prompts, escalations, maintenance_timers,
                                   ticket_states, retention, tally_warm)
            outbox.stop()
            await asyncio.wait([worker], timeout=SHUTDOWN_DRAIN_SECONDS)
            if not worker.done():
                worker.cancel()
                # Cancelled deliveries may finish what cannot be cut short (a mail being
                # accepted by the server) and record it: before the store closes.
                await asyncio.wait([worker])
            if not lost:
                await outbox.drain(SHUTDOWN_DRAIN_SECONDS)
                await self._stop_transports()
            outbox.resume()

    def _console(self, store: Store) -> Console:
        """`/console` (DESIGN §1.8): sessions in this instance's memory (README)."""
        paging = self.paging
        gate = TokenConsoleGate(store, self.desk.handle_command,
                                applies_here=self.chat_started.is_set,
                                leader_url=self._leader_url,
                                on_call=(on_call_from_paging(paging.pager, self.transports)
                                         if paging is not None else nobody_on_call))
        self.console = Console(gate, ConsoleSessions(), lambda: self.snapshot.state,
                               public_url=page_url_of(self.config),
                               settled=lambda: self.snapshot.idle)
        return self.console

    async def _record_leader_url(self, store: Store) -> None:
        """Where this leader's HTTP side listens, for standbys to forward API commands to
        (committed only while this term holds the lease)."""
        try:
            await StoredTransportState(store, LEADER_SCOPE).save(
                {LEADER_KEY: own_url(self.config, self.web_port)})
        except Exception as error:
            log.warning("could not record this leader's address for API forwarding: %s",
                        error)

    async def _leader_url(self) -> str | None:
        if self.store is None:
            return None
        try:
            return (await StoredTransportState(self.store, LEADER_SCOPE).load()).get(LEADER_KEY)
        except Exception:
            return None

    def _em_prompts(self, store: Store, outbox: OutboxWorker) -> EmPromptScheduler:
        """Sev1-2 incidents with no escalation manager after `paging.ack_timeout` are
        announced, and told to whoever is on call (DESIGN §1.7)."""
        paging = self.paging
        return EmPromptScheduler(
            store, self.config.paging.ack_timeout, bot_nick=self.bot_nick,
            channels=self.transports.channels, on_queued=outbox.wake,
            on_call=(on_call_from_paging(paging.pager, self.transports)
                     if paging is not None else nobody_on_call))

    async def _keep_captured(self) -> None:
        """The captured chat still waiting for its batch goes into the database."""
        try:
            await asyncio.wait_for(self.desk.flush_captured(), SHUTDOWN_DRAIN_SECONDS)
        except Exception:
            log.exception("could not keep the last captured chat lines")

    async def _stop_transports(self) -> None:
        for transport in self.transports:
            try:
                await transport.stop()
            except Exception:
                log.exception("stopping %s/%s failed", transport.name, transport.network)
        self.transports.clear()

    def _transport_ready(self, name: str, network: str) -> None:
        """A transport (re)connected: deliver what waited for it now, not at its backoff."""
        if self.outbox is not None:
            self.outbox.retry_now(f"{name}/{network}/")

    async def _on_message(self, message: Message) -> None:
        if not may_be_for_bot(message.text, self.bot_nick, addressed=message.addressed):
            # Chatter (kept at most, for the capture): no command to protect, so no task of
            # its own, which would cost more than the rest of its handling.
            await self.desk.handle(message)
            return
        # Shielded: a shutdown or a transport dropping its reader must not cancel a command
        # half-way through its transaction.
        task = asyncio.create_task(self._answer(message))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        await asyncio.shield(task)

    async def _answer(self, message: Message) -> None:
        replies: list[Reply] = []
        while True:
            try:
                replies = await self.desk.handle(message)
                break
            except LeaseLost as error:
                if await self._leads_again_in(error.term):
                    continue  # nobody else led meanwhile (the database restarted, say)
                # Read by a leader that has lost the lease to another instance (it was
                # stopped, say, with the line in its socket): the new leader's own
                # connection got the line too, and it alone applies it.
                log.warning("not applying a command from %s on %s/%s: %s", message.sender,
                            message.transport, message.network, error)
                return
        if message.posted_at is not None and replies:
            # Read late (posted while the bot was away): the first answer says so, once.
            first = replies[0]
            replies = [dataclasses.replace(
                first, text=posted_while_away(first.text, message.posted_at)), *replies[1:]]
        self._queue_answer(message, replies)
        for reply in replies:
            if reply.follow_up is not None:
                # Not awaited here: the network's reader waits for this method, and the
                # lookup behind a follow-up may take seconds (a tracker that is down).
                task = asyncio.create_task(self._follow_up(message, reply),
                                           name=f"follow-up {message.transport}/"
                                                f"{message.network}")
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _leads_again_in(self, term: int) -> bool:
        """Wait (for a while) until this instance leads again: True if in `term` still, the
        same holder having taken its lease back with nobody in between."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + ANSWER_PATIENCE
        while loop.time() < give_up and not self._stop.is_set():
            await asyncio.sleep(LEASE_RECHECK_SECONDS)
            current = self.leadership.term
            if current is not None and current != term:
                return False
            if current == term and self.leadership.holds() and self.chat_started.is_set():
                return True
        return False

    async def _follow_up(self, message: Message, reply: Reply) -> None:
        assert reply.follow_up is not None
        try:
            lines = await reply.follow_up()
        except Exception:
            log.exception("the rest of the answer to %s could not be put together",
                          message.sender)
            return
        self._queue_answer(message, [Reply(line, reply.private) for line in lines])

    def _queue_answer(self, message: Message, replies: list[Reply]) -> None:
        if not replies:
            return

        async def send() -> None:
            transport = await self._transport_to_answer(message)
            if transport is None:
                return
            for reply in replies:
                await self._send_reply(transport, message, reply)

        self.answers.put(f"{message.transport}/{message.network}", send)

    async def _transport_to_answer(self, message: Message) -> Transport | None:
        """Where to answer. A command still being applied when this instance stepped down
        (its database went away for a moment) is answered once it leads again, so the
        sender learns the outcome; if another instance leads meanwhile, we keep quiet."""
        try:
            return self.transports.get(message.transport, message.network)
        except DeliveryRejected:
            pass
        try:
            await asyncio.wait_for(self.chat_started.wait(), ANSWER_PATIENCE)
            return self.transports.get(message.transport, message.network)
        except (TimeoutError, DeliveryRejected):
            log.warning("could not answer %s on %s/%s: this instance no longer leads",
                        message.sender, message.transport, message.network)
            return None

    async def _send_reply(self, transport: Transport, message: Message, reply: Reply) -> None:
        if not self.leadership.holds():
            log.warning("not answering %s on %s/%s: this instance no longer holds the "
                        "leader lease", message.sender, transport.name, transport.network)
            return
        try:
            if reply.private or message.private:
                await transport.direct(message.sender, reply.text)
            else:
                await transport.send(message.target, f"{message.sender}: {reply.text}")
        except (DeliveryUnavailable, DeliveryRejected) as error:
            log.warning("could not answer %s on %s/%s: %s", message.sender, transport.name,
                        transport.network, error)

    def _transport_health(self) -> dict[str, Any]:
        return {f"{t.name}/{t.network}": t.health() for t in self.transports}


def _configured_components(config: Config) -> list[tuple[str, str]] | None:
    """(id, name) of every configured component; None when there are none (then a window's
    components are kept as typed)."""
    return [(c.id, c.name) for c in config.components] or None


def _remote_change(desk: Desk, snapshot: Snapshot, outbox: OutboxWorker,
                   event: DeskEvent) -> None:
    """Another instance changed something: our page shows it, and if we lead later, what is
    open is read afresh. A command applied on a standby (POST /api/v1/commands) queued its
    effects: the leader's outbox looks now rather than at its next idle poll."""
    desk.forget_open_incidents()
    snapshot.on_event(event)
    outbox.wake()


def component_choices(config: Config) -> list[tuple[str, str]]:
    """(id, name) of the configured components subscribers may choose from."""
    return [(component.id, component.name) for component in config.components]


def transport_plugins(config: Config) -> dict[str, TransportPlugin]:
    """One instance of every installed kind of transport, by its configuration key. A kind
    the configuration uses but that cannot be loaded is an error naming its entry point."""
    found: dict[str, TransportPlugin] = {}
    for key, plugin in plugins.plugins(plugins.TRANSPORTS).items():
        if plugin.error is not None:
            if getattr(config, key, None):
                raise plugins.PluginFailed(f"{key}: {plugin.error}")
            continue
        try:
            found[key] = plugin.obj()
        except Exception as exc:
            raise plugins.building(plugins.TRANSPORTS, key, exc) from exc
    return found


async def _cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the leader's background loops (None: a loop this configuration has not) and
    wait until each has stopped."""
    for task in tasks:
        if task is None:
            continue
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
