"""Notices to subscribers through the real outbox worker and a real mail server (aiosmtpd),
on SQLite and PostgreSQL: the components filter, batches over one connection each, the pace,
retries that repeat nothing, STARTTLS with login, and exactly once across a stop mid-batch."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.config.models import SubscribersConfig
from bot.delivery.outbox import OutboxWorker
from bot.subscribers.assembly import Subscribers
from bot.subscribers.delivery import NOTICE, NOTICE_LANE
from bot.subscribers.notices import Notice
from bot.subscribers.tokens import digest, new_nonce
from storage.models import utcnow
from storage.unit_of_work import Store
from tests import secrets
from tests.console_bot import Bot, wait_for_http, write_console_config
from tests.harness import eventually, opened_store, run_app
from tests.servers.smtp import PASSWORD, USER, SmtpServer, plain_smtp_server, smtp_server

PAGE = "https://status.example.org"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with plain_smtp_server() as server:
        yield server


def _config(smtp: SmtpServer, per_minute: int = 60000, **extra: Any) -> SubscribersConfig:
    return SubscribersConfig.model_validate({
        "email": {"host": smtp.host, "port": smtp.port, "starttls": False,
                  "from": "status@example.org", "per_minute": per_minute},
        **extra})


async def _add(store: Store, count: int, components: list[str] | None = None,
               start: int = 0, also: tuple[str, ...] = ()) -> list[str]:
    """`count` confirmed subscribers (straight into the database: subscribing is tested
    elsewhere), and `also`; their addresses."""
    addresses = [f"s{n}@example.net" for n in range(start, start + count)] + list(also)
    now = utcnow()
    async with store.transaction() as tx:
        for address in addresses:
            row = await tx.subscribers.add(address, components or [], at=now,
                                           created_from=None,
                                           unsubscribe_hash=digest(new_nonce()),
                                           nonce=new_nonce())
            row.confirmed_at = now
    return addresses


async def _rig(store: Store, config: SubscribersConfig) -> tuple[Subscribers, OutboxWorker]:
    subscribers = Subscribers(config, store, title="Example Status", page_url=PAGE)
    await subscribers.load_key()
    worker = OutboxWorker(store, [subscribers.deliverer])
    return subscribers, worker


async def _notify(store: Store, notice: Notice) -> None:
    async with store.transaction() as tx:
        await tx.outbox.add(NOTICE, NOTICE_LANE, notice.payload(), f"subscribers:{notice.key}",
                            utcnow())


async def _drain(worker: OutboxWorker) -> None:
    while await worker.deliver_due():
        pass


def _notice(key: str = "k1", components: tuple[str, ...] = ()) -> Notice:
    return Notice("incident.updated", key, utcnow(), None, title="Gerrit is slow",
                  text="looking", components=components)


def _recipients(smtp: SmtpServer) -> Counter[str]:
    return Counter(envelope.rcpt_tos[0] for envelope, _ in smtp.mailbox.messages)


async def test_components_filter(store: Store, smtp: SmtpServer) -> None:
    everything = await _add(store, 1)
    gerrit = await _add(store, 1, ["gerrit"], start=1)
    zuul = await _add(store, 1, ["zuul", "nodepool"], start=2)
    subscribers, worker = await _rig(store, _config(smtp))
    try:
        await _notify(store, _notice("gerrit-only", ("gerrit",)))
        await _drain(worker)
        assert _recipients(smtp) == Counter(everything + gerrit)
        await _notify(store, _notice("for-everyone"))
        await _drain(worker)
        assert _recipients(smtp) == Counter(everything * 2 + gerrit * 2 + zuul)
    finally:
        await subscribers.close()


async def test_batches_each_over_one_connection_and_nothing_twice(
        store: Store, smtp: SmtpServer) -> None:
    addresses = await _add(store, 7)
    subscribers, worker = await _rig(store, _config(smtp, per_minute=3))  # batches of 3
    subscribers.deliverer.sender.pacer.interval = 0.0  # type: ignore[union-attr]
    try:
        await _notify(store, _notice())
        await _drain(worker)
        assert _recipients(smtp) == Counter(addresses)
        assert len(smtp.mailbox.peers) == 3
        ids = {message["Message-ID"] for _, message in smtp.mailbox.messages}
        assert len(ids) == 7
        # The fan-out delivered again (a crash before the outbox recorded it): nothing more.
        await subscribers.deliverer.deliver(NOTICE, _notice().payload())
        await _drain(worker)
        assert len(smtp.mailbox.messages) == 7
        async with store.reading() as tx:
            assert await tx.subscribers.sent_count("k1") == 7
            assert await tx.outbox.pending_count() == 0
    finally:
        await subscribers.close()


async def test_the_pace(sqlite_url: str, smtp: SmtpServer) -> None:
    async with opened_store(sqlite_url) as store:
        from storage.db import upgrade
        await upgrade(store.engine)
        await _add(store, 6)
        subscribers, worker = await _rig(store, _config(smtp, per_minute=600))  # 0.1 s apart
        try:
            await _notify(store, _notice())
            started = time.monotonic()
            await _drain(worker)
            assert len(smtp.mailbox.messages) == 6
            assert time.monotonic() - started >= 0.5
        finally:
            await subscribers.close()


class Deferring:
    """A mail server that defers (451) the 4th recipient it sees, once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        self.seen += 1
        if self.seen == 4:
            return "451 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return str(await self.inner.handle_DATA(server, session, envelope))


async def test_a_deferred_batch_is_retried_without_repeating_a_mail(store: Store) -> None:
    from aiosmtpd.controller import Controller

    from tests.servers.ports import free_port
    from tests.servers.smtp import Mailbox
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(Deferring(mailbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        server = SmtpServer("127.0.0.1", port, mailbox, None)  # type: ignore[arg-type]
        addresses = await _add(store, 6)
        subscribers, worker = await _rig(store, _config(server))
        try:
            await _notify(store, _notice())
            await _drain(worker)
            assert len(mailbox.messages) == 3  # the 4th was deferred: the batch waits
            async with store.transaction() as tx:  # its backoff, made due now
                await tx.outbox.retry_now("subscribers/", utcnow())
            await _drain(worker)
            assert Counter(e.rcpt_tos[0] for e, _ in mailbox.messages) == Counter(addresses)
        finally:
            await subscribers.close()
    finally:
        controller.stop()


async def test_starttls_and_login(store: Store) -> None:
    with smtp_server() as server:
        config = SubscribersConfig.model_validate({"email": {
            "host": server.host, "port": server.port, "starttls": True, "username": USER,
            "password": PASSWORD, "from": "status@example.org"}})
        addresses = await _add(store, 2)
        subscribers, worker = await _rig(store, config)
        sender = subscribers.deliverer.sender
        assert sender is not None
        sender._tls_context = server.client_context  # the test CA
        try:
            await _notify(store, _notice())
            await _drain(worker)
        finally:
            await subscribers.close()
        assert _recipients(server) == Counter(addresses)
        assert server.mailbox.tls_sessions == 2 and server.mailbox.logins == [USER]


async def test_exactly_once_across_a_stop_mid_batch(db_url: str, tmp_path: Path,
                                                    smtp: SmtpServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The app stops while a burst goes out at 20 mails a second; after the restart the
    rest goes out: every subscriber gets the notice once, none twice, none never."""
    # The app keeps delivering for a while as it stops: shorter, so the stop cuts the burst.
    monkeypatch.setattr("bot.app.SHUTDOWN_DRAIN_SECONDS", 1.0)
    yaml = ("subscribers:\n"
            f"  email: {{host: 127.0.0.1, port: {smtp.port}, starttls: false,"
            " from: status@example.org, per_minute: 1200}\n")
    async with opened_store(db_url) as store:
        from storage.db import upgrade
        await upgrade(store.engine)
        addresses = await _add(store, 100)
    async with run_app(db_url, tmp_path, yaml) as running:
        await running.say("#incident open sev2 Gerrit is slow")
        await eventually(lambda: len(smtp.mailbox.messages) >= 10, what="ten mails")
    stopped_at = len(smtp.mailbox.messages)
    assert stopped_at < 100, "the burst was over before the stop"
    async with run_app(db_url, tmp_path, yaml):
        await eventually(lambda: len(smtp.mailbox.messages) >= 100, within=30,
                         what="the rest of the burst")
        await asyncio.sleep(0.5)
    assert _recipients(smtp) == Counter(addresses)


async def test_sigkill_mid_batch(tmp_path: Path, smtp: SmtpServer) -> None:
    """`statusdesk run` killed (SIGKILL) during a burst, then started again: nobody is
    missed. The one mail that may have been under way when the process died (accepted by
    the server, not yet recorded) goes again with the same Message-ID, which mail clients
    fold into one; no other mail is repeated."""
    db_url = f"sqlite+aiosqlite:///{tmp_path}/desk.db"
    async with opened_store(db_url) as store:
        from storage.db import upgrade
        await upgrade(store.engine)
        # The bot's log (scanned) must not name the one the secret scan looks for.
        addresses = await _add(store, 59, also=(secrets.SUBSCRIBER_ADDRESS,))
    yaml = ("subscribers:\n"
            f"  email: {{host: 127.0.0.1, port: {smtp.port}, starttls: false,"
            " from: status@example.org, per_minute: 1200}\n")
    config, port = write_console_config(tmp_path, db_url, extra=yaml)
    first = Bot(config, tmp_path)
    try:
        await asyncio.to_thread(wait_for_http, port)
        first.type("#incident open sev2 Gerrit is slow")
        await eventually(lambda: len(smtp.mailbox.messages) >= 10, what="ten mails")
    finally:
        first.kill()
    assert len(smtp.mailbox.messages) < 60, "the burst was over before the kill"
    second = Bot(config, tmp_path)
    try:
        await eventually(lambda: set(_recipients(smtp)) == set(addresses), within=30,
                         what="every subscriber mailed")
        await asyncio.sleep(0.5)
        code, stderr = await asyncio.to_thread(second.close)
        assert code == 0, stderr
    finally:
        if second.process.poll() is None:
            second.process.kill()
    counts = _recipients(smtp)
    repeated = [address for address, count in counts.items() if count > 1]
    assert len(repeated) <= 1 and all(counts[a] == 2 for a in repeated)
    for address in repeated:
        ids = {m["Message-ID"] for e, m in smtp.mailbox.messages if e.rcpt_tos == [address]}
        assert len(ids) == 1


async def test_the_migration_rolls_back_and_forward(db_url: str) -> None:
    from alembic import command as alembic_command
    from sqlalchemy import Connection, inspect

    from storage.db import _alembic_config, upgrade

    def downgrade(connection: Connection) -> list[str]:
        # Back to whatever 0010_subscribers is chained onto (later migrations go too).
        from alembic.script import ScriptDirectory

        config = _alembic_config(connection)
        before = ScriptDirectory.from_config(config).get_revision("0010_subscribers")
        assert isinstance(before.down_revision, str)
        alembic_command.downgrade(config, before.down_revision)
        return inspect(connection).get_table_names()

    async with opened_store(db_url) as store:
        await upgrade(store.engine)
        await _add(store, 2)
        async with store.engine.begin() as connection:
            tables = await connection.run_sync(downgrade)
        assert "subscribers" not in tables and "subscriber_notices" not in tables
        assert "outbox" in tables
        await upgrade(store.engine)
        assert await _add(store, 1) == ["s0@example.net"]


async def test_the_sweep_forgets_old_notice_rows(store: Store, smtp: SmtpServer) -> None:
    await _add(store, 3)
    subscribers, worker = await _rig(store, _config(smtp))
    try:
        await _notify(store, _notice())
        await _drain(worker)
        assert await subscribers.sweep() == 0
        async with store.reading() as tx:
            assert await tx.subscribers.sent_count("k1") == 3  # two days' grace
        from sqlalchemy import update

        from storage.models import SubscriberNotice
        async with store.transaction() as tx:
            await tx.session.execute(update(SubscriberNotice).values(
                created_at=utcnow() - timedelta(days=3)))
        await subscribers.sweep()
        async with store.reading() as tx:
            assert await tx.subscribers.sent_count("k1") == 0
            assert await tx.subscribers.count(confirmed=True) == 3
    finally:
        await subscribers.close()
