"""Each paging provider against a local server speaking its protocol, through the desk and
the outbox, on SQLite and PostgreSQL: Opsgenie, a signed webhook, SMTP with STARTTLS and
login (aiosmtpd), and a direct chat message."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from bot.delivery.signing import signature
from bot.paging.providers.chat import Chat
from bot.paging.providers.email import Email
from bot.paging.providers.opsgenie import Opsgenie
from bot.transports.registry import Transports
from storage.unit_of_work import Store
from tests import secrets
from tests.integration.paging_rig import PagingRig, make_rig, paging_config
from tests.servers.fake_http import Scripted
from tests.servers.fake_opsgenie import FakeOpsgenie
from tests.servers.smtp import PASSWORD, USER, SmtpServer, smtp_server
from tests.servers.webhook_receiver import WebhookReceiver

GENIE_KEY = secrets.OPSGENIE_KEY
HOOK_SECRET = secrets.WEBHOOK_SECRET
KEY1 = "statusdesk-incident-1-page-1-step-1"
KEY2 = "statusdesk-incident-1-page-1-step-2"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# --- Opsgenie ------------------------------------------------------------------------------------


@pytest.fixture
async def opsgenie() -> AsyncIterator[FakeOpsgenie]:
    async with FakeOpsgenie(GENIE_KEY) as server:
        yield server


def _opsgenie_config(server: FakeOpsgenie, key: str = GENIE_KEY) -> dict[str, object]:
    return {
        "escalation_managers": [
            {"name": "bob", "contacts": {"opsgenie": "bob@example.org", "irc": "bob"}},
            {"name": "carol", "contacts": {"opsgenie": "carol@example.org"}},
        ],
        "providers": {"opsgenie": {"url": server.url, "api_key": key}},
    }


async def _opsgenie_rig(store: Store, server: FakeOpsgenie, http: aiohttp.ClientSession,
                        key: str = GENIE_KEY) -> PagingRig:
    config = paging_config(**_opsgenie_config(server, key))
    assert config.providers.opsgenie is not None
    provider = Opsgenie(config.providers.opsgenie, http, poll_every=0.01)
    return await make_rig(store, config, providers=[provider])


async def test_opsgenie_page_escalate_ack_and_close(
    store: Store, opsgenie: FakeOpsgenie, http: aiohttp.ClientSession
) -> None:
    rig = await _opsgenie_rig(store, opsgenie, http)
    await rig.say("#incident open sev2 Database down")
    assert await rig.say("#page 1 primary gone") == [
        "Paging bob for incident #1 (step 1 of 2 via opsgenie: primary gone)."]
    await rig.deliver()
    alert = opsgenie.alert(KEY1)
    assert alert.message == "[sev2] #1 Database down — primary gone"
    assert alert.body["responders"] == [{"type": "user", "username": "bob@example.org"}]
    assert alert.body["priority"] == "P2"
    assert alert.body["details"]["url"] == "https://status.test/incidents/1"
    # Every write was followed up on its request status, until processed.
    statuses = [path for method, path, _ in opsgenie.requests if method == "GET"]
    assert len(statuses) == 2 and statuses[0].startswith("/v2/alerts/requests/")

    rig.clock.advance(minutes=10)
    assert await rig.escalate() == 1
    await rig.deliver()
    assert opsgenie.alert(KEY2).body["responders"][0]["username"] == "carol@example.org"
    await rig.say("#ack", nick="bob")
    await rig.deliver()
    assert opsgenie.alert(KEY1).acknowledged and opsgenie.alert(KEY2).acknowledged
    acks = [path for method, path, _ in opsgenie.requests if "acknowledge" in path]
    assert acks == [f"/v2/alerts/{KEY1}/acknowledge?identifierType=alias",
                    f"/v2/alerts/{KEY2}/acknowledge?identifierType=alias"]
    await rig.say("#incident 1 resolved")
    await rig.deliver()
    assert [a.status for a in opsgenie.alerts] == ["closed", "closed"]
    assert opsgenie.alerts[0].notes == ["Acknowledged in statusdesk by bob",
                                        "Resolved in statusdesk by alice"]


async def test_opsgenie_retry_keeps_one_alert_per_alias(
    store: Store, opsgenie: FakeOpsgenie, http: aiohttp.ClientSession
) -> None:
    opsgenie.script = [Scripted(503), Scripted(429, {"Retry-After": "30"})]
    rig = await _opsgenie_rig(store, opsgenie, http)
    await rig.say("#incident open sev1 Everything down")
    await rig.deliver()
    rig.clock.advance(minutes=5)
    await rig.deliver()
    rig.clock.advance(seconds=30)
    await rig.deliver()
    assert len(opsgenie.alerts) == 1 and opsgenie.alerts[0].count == 1


async def test_opsgenie_refusals_are_reported_in_the_channel(
    store: Store, opsgenie: FakeOpsgenie, http: aiohttp.ClientSession
) -> None:
    rig = await _opsgenie_rig(store, opsgenie, http, key="wrong-key")
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    assert await rig.deliver() == [
        "-statusdesk- Could not send the page for incident #1 to bob via opsgenie: Opsgenie "
        "answered 401: Could not authenticate — no way left to reach bob: escalating now."]
    assert opsgenie.alerts == []


async def test_opsgenie_failed_processing_is_a_refusal(
    store: Store, opsgenie: FakeOpsgenie, http: aiohttp.ClientSession
) -> None:
    """Opsgenie accepts (202) an acknowledge for an alert it then cannot find."""
    rig = await _opsgenie_rig(store, opsgenie, http)
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    await rig.deliver()
    opsgenie.alerts.clear()  # closed and deleted in Opsgenie meanwhile
    await rig.say("#ack", nick="bob")
    assert await rig.deliver() == [
        "-statusdesk- Could not send the acknowledgement for incident #1 to bob via opsgenie: "
        "Opsgenie could not process the request: Alert does not exist."]


# --- webhook -------------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(HOOK_SECRET) as server:
        yield server


async def _webhook_rig(store: Store, receiver: WebhookReceiver, http: aiohttp.ClientSession,
                       secret: str = HOOK_SECRET) -> PagingRig:
    config = paging_config(
        escalation_managers=[{"name": "bob", "contacts": {"webhook": "team-db"}}],
        providers={"webhook": {"url": receiver.hook_url, "secret": secret}},
    )
    return await make_rig(store, config, http=http)


async def test_webhook_is_signed_and_verified_by_the_receiver(
    store: Store, receiver: WebhookReceiver, http: aiohttp.ClientSession
) -> None:
    receiver.script = [Scripted(500)]
    rig = await _webhook_rig(store, receiver, http)
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page 1 call the DBA")
    await rig.deliver()
    rig.clock.advance(minutes=5)
    await rig.deliver()
    await rig.say("#ack 1", nick="root")
    await rig.say("#incident 1 resolved")
    await rig.deliver()
    assert receiver.refused == []
    assert [d["event"] for d in receiver.documents] == [
        "page.triggered", "page.acknowledged", "page.resolved"]
    first = receiver.documents[0]
    assert first["version"] == 1 and first["dedup_key"] == KEY1
    assert first["delivery"] == f"{KEY1}:trigger"
    assert first["incident"] == {"id": "1", "title": "Database down", "severity": 2,
                                 "url": "https://status.test/incidents/1"}
    assert first["page"] == {"round": 1, "step": 1, "steps": 1, "manager": "bob",
                             "contact": "team-db", "paged_by": "alice", "text": "call the DBA"}
    assert receiver.documents[1]["actor"] == "root"


async def test_a_webhook_with_the_wrong_secret_is_refused_and_reported(
    store: Store, receiver: WebhookReceiver, http: aiohttp.ClientSession
) -> None:
    rig = await _webhook_rig(store, receiver, http, secret="not-the-secret")
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    lines = await rig.deliver()
    assert receiver.refused == ["bad signature"] and receiver.documents == []
    assert lines == ["-statusdesk- Could not send the page for incident #1 to bob via webhook: "
                     "the webhook answered 401: bad signature — no way left to reach bob."]


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"page.triggered"}'
    expected = hmac.new(b"s3cret", b"1764583200." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", "1764583200", body) == f"sha256={expected}"
    assert signature("s3cret", "1764583201", body) != f"sha256={expected}"


# --- e-mail --------------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


async def _email_rig(store: Store, smtp: SmtpServer, password: str = PASSWORD) -> PagingRig:
    config = paging_config(
        escalation_managers=[{"name": "bob", "contacts": {"email": "bob@example.org"}}],
        providers={"email": {"host": smtp.host, "port": smtp.port, "starttls": True,
                             "username": USER, "password": password,
                             "from": "statusdesk@example.org"}},
    )
    assert config.providers.email is not None
    provider = Email(config.providers.email, tls_context=smtp.client_context)
    return await make_rig(store, config, providers=[provider])


async def test_email_over_starttls_with_login(store: Store, smtp: SmtpServer) -> None:
    rig = await _email_rig(store, smtp)
    await rig.say("#incident open sev1 Everything down")
    await rig.deliver()
    (envelope, message), = smtp.mailbox.messages
    assert smtp.mailbox.tls_sessions == 1 and smtp.mailbox.logins == [USER]
    assert envelope.rcpt_tos == ["bob@example.org"]
    assert message["From"] == "statusdesk@example.org"
    assert message["Subject"] == (
        "[statusdesk] PAGE [sev1] #1 Everything down — automatic page for sev1")
    assert message["Message-ID"] == f"<{KEY1}@statusdesk>"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert b"#ack 1" in body and b"https://status.test/incidents/1" in body
    # Acknowledging and resolving send no mail.
    await rig.say("#ack", nick="root")
    await rig.say("#incident 1 resolved")
    await rig.deliver()
    assert len(smtp.mailbox.messages) == 1


async def test_email_with_a_bad_password_is_reported(store: Store, smtp: SmtpServer) -> None:
    rig = await _email_rig(store, smtp, password="wrong")
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    (line,) = await rig.deliver()
    assert line.startswith("-statusdesk- Could not send the page for incident #1 to bob via "
                           "email: SMTP server answered 535")
    assert "wrong" not in line and smtp.mailbox.messages == []


async def test_email_server_down_is_retried(store: Store) -> None:
    with smtp_server() as smtp:
        port = smtp.port
        context = smtp.client_context
    config = paging_config(
        escalation_managers=[{"name": "bob", "contacts": {"email": "bob@example.org"}}],
        providers={"email": {"host": "127.0.0.1", "port": port, "from": "s@example.org"}})
    assert config.providers.email is not None
    rig = await make_rig(store, config,
                         providers=[Email(config.providers.email, tls_context=context)])
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    assert await rig.deliver() == []
    async with rig.store.reading() as tx:
        (effect,) = [e for e in await tx.outbox.pending() if e.kind == "page.email"]
    assert effect.attempts == 1 and "unreachable" in (effect.last_error or "")


# --- chat ----------------------------------------------------------------------------------------


async def test_chat_page_is_a_direct_message_on_the_console(store: Store) -> None:
    """Only the console runs: the page shows up as the console's direct message."""
    config = paging_config(
        escalation_managers=[{"name": "bob", "contacts": {"irc": "bob",
                                                          "matrix": "@bob:example.org"}}],
        providers={"chat": {}},
    )
    rig = await make_rig(store, config, providers=lambda transports: [Chat(transports)])
    await rig.say("#incident open sev2 Database down")
    assert await rig.say("#page 1 wake up") == [
        "Paging bob for incident #1 (step 1 of 1 via chat: wake up)."]
    assert await rig.deliver() == [
        "*statusdesk* PAGE [sev2] #1 Database down — wake up — you are paged as escalation "
        "manager (step 1 of 1) by alice. Acknowledge with #ack 1 · "
        "https://status.test/incidents/1"]
    # Nothing to acknowledge or resolve by chat.
    await rig.say("#ack", nick="bob")
    await rig.say("#incident 1 resolved")
    assert await rig.deliver() == []


async def test_chat_without_any_transport_is_a_refusal(store: Store) -> None:
    config = paging_config(
        escalation_managers=[{"name": "bob", "contacts": {"irc": "bob"}}],
        providers={"chat": {}},
    )
    rig = await make_rig(store, config, providers=[Chat(Transports())])
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    assert await rig.deliver() == [
        "-statusdesk- Could not send the page for incident #1 to bob via chat: no IRC or "
        "Matrix transport is running to reach bob — no way left to reach bob."]
