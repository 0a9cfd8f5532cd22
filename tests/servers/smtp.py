"""A real SMTP server (aiosmtpd) on loopback that insists on STARTTLS and login, with a
certificate from a throwaway CA (trustme): what a mail relay at a company looks like."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests import secrets
from tests.servers.ports import free_port

USER = "statusdesk"
PASSWORD = secrets.SMTP_PASSWORD


@dataclass
class Mailbox:
    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls_sessions: int = 0
    peers: set[Any] = field(default_factory=set)
    """The client end of every connection that delivered mail: one per SMTP session."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if session.ssl is not None:
            self.tls_sessions += 1
        self.peers.add(session.peer)
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append((envelope, message_from_bytes(content, policy=policy.default)))
        return "250 OK"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                     mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and data.login.decode() == USER \
                and data.password.decode() == PASSWORD:
            self.logins.append(USER)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox
    client_context: ssl.SSLContext


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port,
        tls_context=server_context, require_starttls=True, auth_required=True,
        auth_require_tls=True, authenticator=mailbox.authenticate,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox, client_context)
    finally:
        controller.stop()


@contextmanager
def plain_smtp_server() -> Iterator[SmtpServer]:
    """A loopback SMTP server without TLS or login (`python -m aiosmtpd -n`, as the README's
    walkthrough runs): for tests of what is mailed rather than how."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox, ssl.create_default_context())
    finally:
        controller.stop()
