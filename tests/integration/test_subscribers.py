"""Subscribers in the whole app, on SQLite and PostgreSQL: subscribing with a real mail
server (aiosmtpd) receiving the confirmation, confirming once, the notices an incident sends,
unsubscribing (RFC 8058), expiry, rate limits, and signed webhooks to a local receiver."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from sqlalchemy import update

from bot.core.events import StateChanged
from bot.delivery.signing import verify
from storage.models import Subscriber, utcnow
from tests import secrets
from tests.harness import Running, eventually, opened_store, run_app
from tests.servers.ports import free_port
from tests.servers.smtp import SmtpServer, plain_smtp_server

ADDRESS = secrets.SUBSCRIBER_ADDRESS
PAGE = "https://status.example.org"


@pytest.fixture(autouse=True)
def every_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """statusdesk's log at every level is captured, so the secret scan (tests/secrets.py
    lists the subscriber's address) sees each line the bot wrote."""
    caplog.set_level(logging.DEBUG, logger="statusdesk")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with plain_smtp_server() as server:
        yield server


def _yaml(smtp: SmtpServer, per_minute: int = 60000, webhooks: str = "") -> str:
    return ("subscribers:\n"
            f"  email: {{host: 127.0.0.1, port: {smtp.port}, starttls: false,"
            f" from: status@example.org, per_minute: {per_minute}}}\n"
            "  confirm_within: 48h\n" + webhooks)


def _parts(message: Message) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    html = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
    assert plain is not None and html is not None, "a plain-text and an HTML part"
    return plain.get_content(), html.get_content()


def _link(text: str, path: str) -> str:
    """The link to `path` in a mail, as a path and query on the test's own server."""
    found = re.search(re.escape(PAGE + path) + r"\?token=[A-Za-z0-9_-]+", text)
    assert found, f"no {path} link in {text!r}"
    url = urlsplit(found.group(0))
    return f"{url.path}?{url.query}"


def _mails_to(smtp: SmtpServer, address: str) -> list[Message]:
    return [m for envelope, m in smtp.mailbox.messages if envelope.rcpt_tos == [address]]


async def _subscribe(running: Running, address: str = ADDRESS, **extra: object
                     ) -> tuple[int, dict[str, str]]:
    async with running.http.post(running.base + "/api/subscriptions",
                                 json={"email": address, **extra}) as response:
        return response.status, await response.json()


async def _confirmed(running: Running, smtp: SmtpServer, address: str = ADDRESS) -> Message:
    status, _ = await _subscribe(running, address)
    assert status == 202
    await eventually(lambda: len(_mails_to(smtp, address)) == 1, what="the confirmation")
    confirmation = _mails_to(smtp, address)[0]
    link = _link(_parts(confirmation)[0], "/subscriptions/confirm")
    status, _, _ = await running.get(link)
    assert status == 200
    return confirmation


async def test_subscribe_confirm_once_and_notices(db_url: str, tmp_path: Path,
                                                  smtp: SmtpServer) -> None:
    async with run_app(db_url, tmp_path, _yaml(smtp)) as running:
        status, body = await _subscribe(running, f" {ADDRESS.upper()} ")
        assert status == 202 and "confirmation mail" in body["detail"]
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 1, what="the confirmation")
        confirmation = _mails_to(smtp, ADDRESS)[0]
        assert confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = confirmation["List-Unsubscribe"]
        assert unsubscribe.startswith(f"<{PAGE}/subscriptions/unsubscribe?token=")
        assert "Confirm" in confirmation["Subject"]
        plain, html = _parts(confirmation)
        confirm = _link(plain, "/subscriptions/confirm")
        assert confirm.replace("&", "&amp;") in html or confirm in html
        assert "/subscriptions/unsubscribe?token=" in plain

        # Nothing but the confirmation goes to an unconfirmed address.
        assert await running.say("#incident open sev2 Gerrit is slow")
        await asyncio.sleep(0.5)
        assert len(_mails_to(smtp, ADDRESS)) == 1

        status, _, page = await running.get(confirm)
        assert status == 200 and b"You are subscribed" in page
        status, _, page = await running.get(confirm)  # one-time
        assert status == 404 and b"used already or has expired" in page

        await running.say("#incident 1 identified the disk is full")
        await running.say("#incident 1 resolved")
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 3, what="two notices")
        update_mail, resolved = _mails_to(smtp, ADDRESS)[1:]
        assert update_mail["Subject"] == "[Example Status] Update: #1 Gerrit is slow"
        assert resolved["Subject"] == "[Example Status] Resolved: #1 Gerrit is slow"
        plain, html = _parts(update_mail)
        assert "Status: identified" in plain and "the disk is full" in plain
        assert f"{PAGE}/incidents/1" in plain and f'href="{PAGE}/incidents/1"' in html
        for mail in (update_mail, resolved):
            assert mail["List-Unsubscribe"] == unsubscribe
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert mail["To"] == ADDRESS and mail["From"] == "status@example.org"
        assert update_mail["Message-ID"] != resolved["Message-ID"]

        # RFC 8058: GET shows a button and changes nothing; the one-click POST unsubscribes.
        link = unsubscribe.strip("<>").removeprefix(PAGE)
        status, _, page = await running.get(link)
        assert status == 200 and b'<form method="post"' in page
        await running.say("#incident open sev3 Zuul queue is long")
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 4, what="the opened notice")
        assert _mails_to(smtp, ADDRESS)[3]["Subject"] == (
            "[Example Status] Incident: #2 Zuul queue is long")
        async with running.http.post(running.base + link,
                                     data="List-Unsubscribe=One-Click") as response:
            assert response.status == 200
            assert "You are unsubscribed" in await response.text()
        await running.say("#incident 2 resolved")
        await asyncio.sleep(0.5)
        assert len(_mails_to(smtp, ADDRESS)) == 4


async def test_one_mail_per_window_and_the_same_answer_whatever_the_state(
        db_url: str, tmp_path: Path, smtp: SmtpServer) -> None:
    async with run_app(db_url, tmp_path, _yaml(smtp)) as running:
        first = await _subscribe(running)
        again = await _subscribe(running)  # waiting for confirmation: no second mail
        await _confirmed(running, smtp, "bob@example.net")
        subscribed = await _subscribe(running, "bob@example.net")
        together = await asyncio.gather(*(_subscribe(running, "carol@example.net")
                                           for _ in range(2)))
        assert first == again == subscribed == together[0] == together[1]
        await asyncio.sleep(0.5)
        assert len(_mails_to(smtp, ADDRESS)) == 1
        assert len(_mails_to(smtp, "bob@example.net")) == 1
        assert len(_mails_to(smtp, "carol@example.net")) == 1


async def test_bad_requests_get_a_one_line_reason(sqlite_url: str, tmp_path: Path,
                                                  smtp: SmtpServer) -> None:
    async with run_app(sqlite_url, tmp_path, _yaml(smtp)) as running:
        for address, reason in [("alice", "email: not an address"),
                                ("alice@localhost", "email: the domain is not a valid name"),
                                ("a b@example.org", "email: the part before @ has"),
                                ("x" * 300 + "@example.org", "email: longer than 254")]:
            status, body = await _subscribe(running, address)
            assert status == 400 and body["error"].startswith(reason), body
            assert "\n" not in body["error"]
        status, body = await _subscribe(running, components=["nope"])
        assert status == 400 and body["error"] == "components: unknown component 'nope'"
        async with running.http.post(running.base + "/api/subscriptions",
                                     data={"email": "not-an-address"}) as response:
            assert response.status == 400
            assert "email: not an address" in await response.text()
        assert smtp.mailbox.messages == []


async def test_no_link_without_email_subscriptions(sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        status, _, page = await running.get("/")
        assert status == 200 and b'href="/subscribe"' not in page
        status, _, _ = await running.get("/subscribe")
        assert status == 404


async def test_the_form_works_without_javascript(sqlite_url: str, tmp_path: Path,
                                                 smtp: SmtpServer) -> None:
    async with run_app(sqlite_url, tmp_path, _yaml(smtp)) as running:
        status, _, page = await running.get("/")
        assert status == 200 and b'<a href="/subscribe">Subscribe</a>' in page
        status, _, page = await running.get("/subscribe")
        assert status == 200
        assert b'<form method="post" action="/api/subscriptions">' in page
        assert b'name="email"' in page and b"<script" not in page
        async with running.http.post(running.base + "/api/subscriptions",
                                     data={"email": ADDRESS}) as response:
            assert response.status == 202
            assert response.content_type == "text/html"
            assert "confirmation mail" in await response.text()
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 1, what="the confirmation")


async def test_rate_limits_per_client_and_per_address(sqlite_url: str, tmp_path: Path,
                                                      smtp: SmtpServer) -> None:
    async with run_app(sqlite_url, tmp_path, _yaml(smtp)) as running:
        answers = [(await _subscribe(running, ADDRESS))[0] for _ in range(4)]
        assert answers == [202, 202, 202, 429]
        answers = [(await _subscribe(running, f"u{n}@example.net"))[0] for n in range(8)]
        assert answers == [202] * 6 + [429, 429]  # 10 an hour from one client in all
        async with running.http.post(running.base + "/api/subscriptions",
                                     json={"email": "z@example.net"}) as response:
            assert response.status == 429 and int(response.headers["Retry-After"]) > 0


async def test_unconfirmed_addresses_are_forgotten(db_url: str, tmp_path: Path,
                                                   smtp: SmtpServer) -> None:
    async with run_app(db_url, tmp_path, _yaml(smtp)) as running:
        await _subscribe(running)
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 1, what="the confirmation")
        link = _link(_parts(_mails_to(smtp, ADDRESS)[0])[0], "/subscriptions/confirm")
        async with opened_store(db_url) as store, store.transaction() as tx:
            await tx.session.execute(update(Subscriber).values(
                created_at=utcnow() - timedelta(hours=49)))
        status, _, _ = await running.get(link)
        assert status == 404  # too late, even before the sweep
        subscribers = running.app.subscribers
        assert subscribers is not None and await subscribers.sweep() == 1
        async with opened_store(db_url) as store, store.reading() as tx:
            assert await tx.subscribers.by_address(ADDRESS) is None
        assert (await _subscribe(running))[0] == 202  # a new window, a new mail
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 2, what="a new mail")


async def test_signed_webhooks(db_url: str, tmp_path: Path, smtp: SmtpServer) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hooks = ("  webhooks:\n"
             f"    - {{url: 'http://127.0.0.1:{port}/hook', secret: '{secrets.WEBHOOK_SECRET}'}}\n"
             f"    - {{url: 'http://127.0.0.1:{port}/hook?only=gerrit', components: [gerrit]}}\n")
    try:
        async with run_app(db_url, tmp_path, "components: [{name: Gerrit}]\n"
                           + _yaml(smtp, webhooks=hooks)) as running:
            await running.say("#incident open sev2 Gerrit is slow")
            await running.say("#incident 1 resolved all good")
            # An incident without components concerns everyone: both hooks hear of it.
            await eventually(lambda: len(received) == 4, what="four webhook posts")
            await asyncio.sleep(0.3)
            assert len(received) == 4
    finally:
        await runner.cleanup()
    signed = [(h, b) for h, b in received if "X-Statusdesk-Signature" in h]
    assert len(signed) == 2
    for headers, body in signed:
        assert verify(secrets.WEBHOOK_SECRET, headers["X-Statusdesk-Timestamp"], body,
                      headers["X-Statusdesk-Signature"])
        assert not verify("wrong", headers["X-Statusdesk-Timestamp"], body,
                          headers["X-Statusdesk-Signature"])
    events = [json.loads(b) for _, b in signed]
    assert [e["event"] for e in events] == ["incident.opened", "incident.resolved"]
    assert events[0]["incident"] == {"id": "1", "title": "Gerrit is slow",
                                     "url": f"{PAGE}/incidents/1"}
    assert events[1]["text"] == "all good"
    assert len({h["X-Statusdesk-Delivery"] for h, _ in received}) == 4


async def test_events_committed_outside_commands_reach_subscribers(
        sqlite_url: str, tmp_path: Path, smtp: SmtpServer) -> None:
    """A timer (maintenance) commits and publishes on the bus without the desk: its notice is
    queued after the commit, once however often the event is seen."""
    async with run_app(sqlite_url, tmp_path, _yaml(smtp)) as running:
        await _confirmed(running, smtp)
        await running.say("#incident open sev2 Gerrit is slow")
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 2, what="the opened notice")
        subscribers = running.app.subscribers
        assert subscribers is not None
        event = StateChanged(at=utcnow(), incident_id=1, old="investigating",
                             new="monitoring", text="watched by a timer")
        subscribers.extension.after_commit(event)
        subscribers.extension.after_commit(event)
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 3, what="the timer's notice")
        await asyncio.sleep(0.5)
        assert len(_mails_to(smtp, ADDRESS)) == 3
        plain, _ = _parts(_mails_to(smtp, ADDRESS)[2])
        assert "watched by a timer" in plain and "Status: monitoring" in plain


async def test_components_choose_what_one_hears_of(db_url: str, tmp_path: Path,
                                                   smtp: SmtpServer) -> None:
    components = "components: [{name: Gerrit, group: Code review}, {name: Zuul, group: CI}]\n"
    async with run_app(db_url, tmp_path, components + _yaml(smtp)) as running:
        status, _, page = await running.get("/subscribe")
        assert status == 200
        assert b'name="components" value="gerrit"> Gerrit' in page
        assert b'name="components" value="zuul"> Zuul' in page
        status, _ = await _subscribe(running, "g@example.net", components=["gerrit"])
        assert status == 202
        async with running.http.post(running.base + "/api/subscriptions",
                                     data={"email": "z@example.net",
                                           "components": "zuul"}) as response:
            assert response.status == 202  # the form's checkboxes
        for address in ("g@example.net", "z@example.net", "all@example.net"):
            if address == "all@example.net":
                await _subscribe(running, address)
            await eventually(lambda a=address: len(_mails_to(smtp, a)) == 1,  # type: ignore[misc]
                             what="the confirmation")
            link = _link(_parts(_mails_to(smtp, address)[0])[0], "/subscriptions/confirm")
            assert (await running.get(link))[0] == 200

        await running.say("#incident open sev2 Reviews are slow")  # no component yet: all
        await running.say("#incident 1 affects gerrit major_outage")
        await running.say("#component zuul degraded queue is long")
        await running.say("#incident 1 resolved")

        def subjects(address: str) -> list[str]:
            return [str(m["Subject"]) for m in _mails_to(smtp, address)[1:]]

        everything = ["[Example Status] Incident: #1 Reviews are slow",
                      "[Example Status] Gerrit: major outage",
                      "[Example Status] Zuul: degraded performance",
                      "[Example Status] Resolved: #1 Reviews are slow"]
        await eventually(lambda: len(subjects("all@example.net")) == 4, what="four notices")
        await asyncio.sleep(0.5)
        assert sorted(subjects("all@example.net")) == sorted(everything)
        assert sorted(subjects("g@example.net")) == sorted(
            [everything[0], everything[1], everything[3]])
        assert sorted(subjects("z@example.net")) == sorted([everything[0], everything[2]])
        resolved = next(m for m in _mails_to(smtp, "g@example.net")
                        if "Resolved" in str(m["Subject"]))
        assert "Components: Gerrit" in _parts(resolved)[0]


async def test_maintenance_windows_notify_their_components_subscribers(
        db_url: str, tmp_path: Path, smtp: SmtpServer) -> None:
    components = "components: [{name: Gerrit}, {name: Zuul}]\n"
    start = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    async with run_app(db_url, tmp_path, components + _yaml(smtp)) as running:
        await _confirmed(running, smtp)
        status, _ = await _subscribe(running, "z@example.net", components=["zuul"])
        assert status == 202
        await eventually(lambda: len(_mails_to(smtp, "z@example.net")) == 1,
                         what="the confirmation")
        link = _link(_parts(_mails_to(smtp, "z@example.net")[0])[0], "/subscriptions/confirm")
        assert (await running.get(link))[0] == 200

        answer = await running.say(
            f"#maintenance schedule {start:%Y-%m-%d %H:%M} 1h on gerrit Gerrit upgrade")
        assert answer[0].startswith("Scheduled maintenance #1")
        await running.say("#maintenance 1 start")
        await running.say("#maintenance 1 complete all done")
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 4, what="three notices")
        await asyncio.sleep(0.5)
        mails = _mails_to(smtp, ADDRESS)[1:]
        assert [str(m["Subject"]) for m in mails] == [
            "[Example Status] Maintenance scheduled: #1 Gerrit upgrade",
            "[Example Status] Maintenance started: #1 Gerrit upgrade",
            "[Example Status] Maintenance completed: #1 Gerrit upgrade",
        ]  # and no "Gerrit: under maintenance" besides: the window's mail names it
        end = start + timedelta(hours=1)
        plain = _parts(mails[0])[0]
        assert f"Planned: {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC" in plain \
            or f"Planned: {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC" in plain
        assert "Components: Gerrit" in plain
        assert len(_mails_to(smtp, "z@example.net")) == 1  # zuul only: none of it


async def test_a_window_started_by_its_timer(sqlite_url: str, tmp_path: Path,
                                             smtp: SmtpServer) -> None:
    """The timer commits the start and publishes it on the bus, not through the desk: the
    notice still goes out, once."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    async with run_app(sqlite_url, tmp_path, _yaml(smtp)) as running:
        await _confirmed(running, smtp)
        await running.say(f"#maintenance schedule {start:%Y-%m-%d %H:%M} 1h Database upgrade")
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 2, what="scheduled")
        maintenance = running.app.maintenance
        assert maintenance is not None
        maintenance.timers._clock = lambda: start + timedelta(seconds=1)  # its clock, ahead
        assert await maintenance.timers.check() >= 1
        await eventually(lambda: len(_mails_to(smtp, ADDRESS)) == 3, what="started")
        await asyncio.sleep(0.5)
        assert [str(m["Subject"]) for m in _mails_to(smtp, ADDRESS)[1:]] == [
            "[Example Status] Maintenance scheduled: #1 Database upgrade",
            "[Example Status] Maintenance started: #1 Database upgrade",
        ]
