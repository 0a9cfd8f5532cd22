"""The whole statusdesk app connected to a test IRC server, run in-process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.app import App
from bot.config import load_config_text
from bot.core.ports import DeliveryRejected, Identity, Message
from bot.transports.irc import IrcTransport
from storage.models import AuditRecord
from tests.harness import reply_lines, started_app
from tests.servers.ports import free_port

NETWORK = "testnet"
OPERATOR = Identity(transport="console", nick="op", network="console", local_operator=True)


async def audit_rows(bot: Bot) -> list[AuditRecord]:
    """Every audit row the bot wrote, oldest first."""
    store = bot.app.store
    assert store is not None
    async with store.reading() as tx:
        return list((await tx.session.execute(
            select(AuditRecord).order_by(AuditRecord.id))).scalars().all())


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


@dataclass
class Bot:
    app: App
    nick: str

    @property
    def irc(self) -> IrcTransport:
        transport = self.app.transports.get("irc", NETWORK)
        assert isinstance(transport, IrcTransport)
        return transport

    async def joined(self, within: float = 30.0) -> None:
        """Wait until the bot is in every channel."""
        health: dict[str, Any] = {}
        for _ in range(int(within / 0.05)):
            try:
                health = self.irc.health()
            except DeliveryRejected:
                # Not leading yet: transports start a moment after the status page does.
                await asyncio.sleep(0.05)
                continue
            if health["connected"] and all(v == "joined" for v in health["channels"].values()):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the bot never joined every channel: {health}")

    async def console(self, text: str) -> list[str]:
        """A command from the console operator (every role), straight to the desk."""
        message = Message("console", "console", "console", "op", OPERATOR, text,
                          addressed=True)
        return await reply_lines(await self.app.desk.handle(message))


@asynccontextmanager
async def running_bot(db_url: str, port: int, channels: list[str], *, nick: str,
                      users: str = "", network_extra: str = "",
                      host: str = "127.0.0.1",
                      rate: str = "{burst: 10, per_second: 5.0}",
                      extra: str = "") -> AsyncIterator[Bot]:
    """`extra`: more top-level configuration (YAML lines)."""
    chans = ", ".join(f"'{c}'" for c in channels)
    config = load_config_text(
        f"database: {{url: '{db_url}'}}\n"
        f"status_page: {{listen: '127.0.0.1:{free_port()}'}}\n"
        "irc:\n"
        f"  - {{name: {NETWORK}, host: '{host}', port: {port}, tls: false, nick: {nick},\n"
        f"     channels: [{chans}], rate: {rate}{network_extra}}}\n"
        + (f"users:\n{users}" if users else "")
        + extra
    )
    async with started_app(config) as app:
        yield Bot(app, nick)
