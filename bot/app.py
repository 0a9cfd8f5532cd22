"""Wiring: builds the store, desk, transports, outbox and web server from a Config and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from bot.broadcaster import Broadcaster
from bot.config import Config
from bot.desk import Desk, Reply
from bot.events import EventBus
from bot.outbox import OutboxWorker
from bot.reminders import ReminderScheduler
from bot.topic_keeper import TopicKeeper
from bot.transports.base import DeliveryRejected, DeliveryUnavailable, Message, Transport
from bot.transports.console import ConsoleTransport
from bot.transports.irc import IrcTransport
from bot.transports.registry import Transports
from bot.web.app import create_web_app
from bot.web.export import StaticExport
from bot.web.metrics import MetricSources
from bot.web.snapshot import Snapshot
from commands.auth import Principal, Whitelist
from storage.db import open_store, upgrade
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.app")

SHUTDOWN_DRAIN_SECONDS = 5.0
"""At shutdown, how long to keep delivering what is already queued before leaving it for
the next start (nothing is lost either way: it stays in the outbox)."""


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


def page_url_of(config: Config) -> str:
    if config.status_page.public_url:
        return str(config.status_page.public_url).rstrip("/")
    host = config.status_page.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.status_page.port}"


class App:
    """One running statusdesk: `await App(config).run()` until stdin closes or a signal."""

    def __init__(
        self, config: Config, *, stdin: TextIO | None = None, stdout: TextIO | None = None
    ) -> None:
        self.config = config
        self._stdin = stdin
        self._stdout = stdout
        self._stop = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.store: Store | None = None
        self.transports = Transports()
        self.web_port: int | None = None

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        config = self.config
        store = self.store = open_store(config.database.url)
        try:
            await upgrade(store.engine)
            log.info("database ready (%s)", store.dialect)
            return await self._serve(store)
        finally:
            await store.close()

    async def _serve(self, store: Store) -> int:
        config = self.config
        console: ConsoleTransport | None = None
        if config.console:
            console = ConsoleTransport(store, stdin=self._stdin, stdout=self._stdout)
            self.transports.add(console)

        for section, present in (("matrix", config.matrix is not None),):
            if present:
                log.warning("%s: configured, but this version has no %s transport yet; "
                            "the section is validated and otherwise ignored", section, section)
        if not self.transports and not config.irc:
            log.warning("no chat transport is running (set console: true to try the bot "
                        "from this terminal); serving the status page only")

        bus = EventBus()
        # What people address the bot by (`statusdesk: #status ...`): its IRC nick when it has
        # one; a network where that nick was taken has its transport translate.
        bot_nick = config.irc[0].nick if config.irc else "statusdesk"
        outbox = OutboxWorker(
            store, [Broadcaster(self.transports),
                    TopicKeeper(store, self.transports, bot_nick=bot_nick)]
        )
        for network in config.irc:
            self.transports.add(IrcTransport(
                network, store, address_as=bot_nick,
                on_ready=functools.partial(outbox.retry_now, f"irc/{network.name}/"),
            ))
        self.desk = Desk(
            store,
            bus,
            whitelist_from(config),
            self.transports.channels,
            bot_nick=bot_nick,
            page_url=page_url_of(config),
            on_queued=outbox.wake,
            capture=config.incidents.capture or (),
        )
        page = config.status_page
        export = StaticExport(Path(page.export_dir)) if page.export_dir else None
        snapshot = self.snapshot = Snapshot(store, title=page.title, url=page_url_of(config),
                                            export=export)
        bus.subscribe(snapshot.on_event)
        await snapshot.start()
        sources = MetricSources(
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
        )
        runner = web.AppRunner(
            create_web_app(
                snapshot, store, self._transport_health, sources,
                api_token=page.api_token.get_secret_value() if page.api_token else None,
            ),
            access_log=None,
        )
        await runner.setup()
        site = web.TCPSite(runner, config.status_page.host, config.status_page.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            await snapshot.stop()
            raise RuntimeError(
                f"status_page.listen: cannot listen on {config.status_page.listen}: "
                f"{error.strerror or error}"
            ) from error
        addresses = runner.addresses
        self.web_port = int(addresses[0][1]) if addresses else config.status_page.port
        log.info("status page on http://%s:%s", config.status_page.host, self.web_port)

        worker = asyncio.create_task(outbox.run(), name="outbox")
        scheduler = ReminderScheduler(store, config.incidents, on_queued=outbox.wake,
                                      fallback=self.transports.channels)
        reminders = asyncio.create_task(scheduler.run(), name="reminders")
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_stop)
        try:
            for transport in self.transports:
                await transport.start(self._on_message)
            log.info("statusdesk running with %d transport(s)", len(self.transports))
            waiters = [asyncio.create_task(self._stop.wait())]
            if console is not None:
                waiters.append(asyncio.create_task(console.closed.wait()))
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            log.info("shutting down")
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)
            # Commands already being applied finish (an accepted command is never lost),
            # then whatever they queued gets a last chance to go out before we disconnect.
            if self._in_flight:
                await asyncio.wait(set(self._in_flight), timeout=SHUTDOWN_DRAIN_SECONDS)
            reminders.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reminders
            outbox.stop()
            await asyncio.wait([worker], timeout=SHUTDOWN_DRAIN_SECONDS)
            if not worker.done():
                worker.cancel()
            await outbox.drain(SHUTDOWN_DRAIN_SECONDS)
            for transport in self.transports:
                try:
                    await transport.stop()
                except Exception:
                    log.exception("stopping %s/%s failed", transport.name, transport.network)
            await snapshot.stop()
            await runner.cleanup()
        return 0

    async def _on_message(self, message: Message) -> None:
        # Shielded: a shutdown or a transport dropping its reader must not cancel a command
        # half-way through its transaction.
        task = asyncio.create_task(self._answer(message))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        await asyncio.shield(task)

    async def _answer(self, message: Message) -> None:
        replies = await self.desk.handle(message)
        if not replies:
            return
        transport = self.transports.get(message.transport, message.network)
        for reply in replies:
            await self._send_reply(transport, message, reply)

    async def _send_reply(self, transport: Transport, message: Message, reply: Reply) -> None:
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
