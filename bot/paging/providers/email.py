"""E-mail over SMTP (aiosmtplib): STARTTLS and login when configured.

Only pages are mailed (a mail saying "resolved" would wake nobody up usefully). The
`Message-ID` is derived from the page step's dedup key, so if a retry does deliver a second
copy, mail clients and most servers fold the duplicate away.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

import aiosmtplib
from pydantic import Field, SecretStr, StrictBool

from bot.config.fields import ConfigModel, Host, NonEmptyStr, Port
from bot.config.fields import Email as EmailAddress
from bot.config.models import Contacts
from bot.core.ports import DeliveryRejected, DeliveryUnavailable
from bot.observability.redaction import login_forms, redact
from bot.paging.delivery import TRIGGER, PageEvent

if TYPE_CHECKING:
    from bot.paging.plugin import PagingProviderPlugin, ProviderContext

TIMEOUT = 30.0
MAX_SUBJECT = 200


class EmailProvider(ConfigModel):
    """`paging.providers.email`: SMTP."""

    host: Host
    port: Port = 587
    starttls: StrictBool = True
    username: NonEmptyStr | None = None
    password: SecretStr | None = None
    from_: EmailAddress = Field(alias="from")


class Email:
    name = "email"
    actions = frozenset({TRIGGER})
    CONFIG_SCHEMA = EmailProvider
    order = 40
    contacts = ("email",)

    def __init__(self, config: EmailProvider, *, tls_context: ssl.SSLContext | None = None
                 ) -> None:
        self._config = config
        self._tls_context = tls_context

    @classmethod
    def from_config(cls, config: EmailProvider, context: ProviderContext) -> Email:
        return cls(config)

    def reaches(self, contacts: Contacts) -> bool:
        return contacts.email is not None

    def message(self, event: PageEvent) -> EmailMessage:
        to = event.manager.contacts.email
        assert to is not None
        message = EmailMessage()
        message["From"] = self._config.from_
        message["To"] = to
        subject = f"[statusdesk] PAGE {event.summary}"
        message["Subject"] = subject if len(subject) <= MAX_SUBJECT else \
            subject[: MAX_SUBJECT - 1] + "…"
        message["Date"] = formatdate(event.at.timestamp(), usegmt=True)
        message["Message-ID"] = f"<{event.dedup_key}@statusdesk>"
        message["X-Statusdesk-Incident"] = str(event.incident_id)
        lines = [
            f"{event.manager.name}, you are paged as escalation manager for incident "
            f"#{event.incident_id} (step {event.step} of {event.steps}).",
            "",
            f"Incident:  #{event.incident_id} {event.title}",
            f"Severity:  sev{event.severity}",
            f"Paged by:  {event.paged_by}",
        ]
        if event.text:
            lines.append(f"Message:   {event.text}")
        if event.incident_url:
            lines.append(f"Status:    {event.incident_url}")
        lines += ["", f"Acknowledge with  #ack {event.incident_id}  in the incident channel; "
                  "until then the page escalates to the next manager."]
        message.set_content("\n".join(lines) + "\n")
        return message

    async def send(self, event: PageEvent) -> None:
        config = self._config
        try:
            await aiosmtplib.send(
                self.message(event),
                hostname=config.host,
                port=config.port,
                start_tls=config.starttls,
                username=config.username,
                password=config.password.get_secret_value() if config.password else None,
                tls_context=self._tls_context,
                timeout=TIMEOUT,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            reason = self._clean("; ".join(f"{r.code} {r.message}" for r in error.recipients))
            if all(code >= 500 for code in codes):
                raise DeliveryRejected(f"SMTP server refused the recipient: {reason}") from None
            raise DeliveryUnavailable(f"SMTP server deferred the recipient: {reason}") from None
        except aiosmtplib.SMTPResponseException as error:
            # A server may quote the AUTH line it refused: the password, base64-encoded.
            reason = self._clean(f"SMTP server answered {error.code} {error.message}")
            if error.code >= 500:
                raise DeliveryRejected(reason) from None
            raise DeliveryUnavailable(reason) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise DeliveryUnavailable(self._clean(
                f"SMTP server {config.host}:{config.port} unreachable: "
                f"{type(error).__name__}: {error}")) from None

    def _clean(self, text: str) -> str:
        password = self._config.password
        if password is None:
            return text
        return redact(text, login_forms(self._config.username, password.get_secret_value()))


if TYPE_CHECKING:
    _plugin: PagingProviderPlugin = Email  # the entry point's object fits the protocol
