"""Sending subscribers' mail: one SMTP connection per batch, at most `per_minute` mails a
minute across all batches, so a burst to thousands of subscribers does not hammer the
server (or get us throttled as a spammer)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.message import Message

import aiosmtplib

from bot.config.models import SubscriberEmail
from bot.core.ports import DeliveryRejected, DeliveryUnavailable
from bot.observability.redaction import login_forms, redact
from bot.subscribers.mail import wire_bytes

TIMEOUT = 30.0


class Pacer:
    """Spaces events `60 / per_minute` seconds apart (a burst of one)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._next > now:
                await asyncio.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


class MailSender:
    def __init__(self, config: SubscriberEmail, *,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._tls_context = tls_context
        self.pacer = Pacer(config.per_minute)
        self._secrets = (login_forms(config.username, config.password.get_secret_value())
                         if config.password is not None else [])

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """One SMTP session (STARTTLS and login when configured) for a batch of mails."""
        config = self.config
        client = aiosmtplib.SMTP(hostname=config.host, port=config.port,
                                 start_tls=config.starttls, tls_context=self._tls_context,
                                 timeout=TIMEOUT)
        try:
            await client.connect()
            if config.username and config.password is not None:
                await client.login(config.username, config.password.get_secret_value())
        except Exception as error:
            raise self.failure(error) from None
        try:
            yield Connection(self, client)
        finally:
            try:
                await client.quit()
            except Exception:
                client.close()

    def failure(self, error: BaseException, hide: tuple[str, ...] = ()) -> Exception:
        """What a failed SMTP exchange means for the delivery: retry later or give up.
        Never the password (a server may quote the AUTH line it refused), never the
        recipient's address (it must not reach a log line)."""
        if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in error.recipients]
            if codes and all(code >= 500 for code in codes):
                return DeliveryRejected(f"SMTP server refused the recipient ({codes[0]})")
            return DeliveryUnavailable("SMTP server deferred the recipient")
        if isinstance(error, aiosmtplib.SMTPResponseException):
            reason = self._clean(f"SMTP server answered {error.code} {error.message}", hide)
            if error.code >= 500:
                return DeliveryRejected(reason)
            return DeliveryUnavailable(reason)
        return DeliveryUnavailable(self._clean(
            f"SMTP server {self.config.host}:{self.config.port} unreachable: "
            f"{type(error).__name__}: {error}", hide))

    def _clean(self, text: str, hide: tuple[str, ...] = ()) -> str:
        return redact(text, [*self._secrets, *hide])[:300]


class Connection:
    def __init__(self, sender: MailSender, client: aiosmtplib.SMTP) -> None:
        self._sender = sender
        self._client = client

    async def send(self, message: Message) -> None:
        """One mail, when the pace allows it; raises DeliveryUnavailable/DeliveryRejected."""
        await self.pace()
        await self.transmit(message)

    async def pace(self) -> None:
        await self._sender.pacer.wait()

    async def transmit(self, message: Message) -> None:
        try:
            await self._client.sendmail(str(message["From"]), [str(message["To"])],
                                        wire_bytes(message))
        except Exception as error:
            raise self._sender.failure(error, hide=(str(message["To"]),)) from None
