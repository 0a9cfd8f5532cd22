"""When chat itself is down (issue 23's promise, README "When chat is down"): with IRC
configured but the IRC server stopped, an operator posts with `statusdesk say` and with the
web console; the page, the Atom feed and a subscriber's mailbox show it at once, and when the
IRC server is back the notices and the topic go out there, each once (through the outbox)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.transports.irc import IrcTransport
from storage.models import utcnow
from tests import secrets
from tests.conftest import start_ngircd_or_fail
from tests.harness import Running, eventually, opened_store, run_app
from tests.integration.test_cli import statusdesk
from tests.integration.test_subscribers import _confirmed, _mails_to, _parts, _yaml
from tests.irc_bot import unique
from tests.irc_client import RawClient
from tests.servers.ngircd import NgircdServer
from tests.servers.smtp import SmtpServer, plain_smtp_server

ADDRESS = secrets.SUBSCRIBER_ADDRESS


@pytest.fixture(autouse=True)
def every_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """The secret scan sees every line the bot wrote (the token, the subscriber's address)."""
    caplog.set_level(logging.DEBUG, logger="statusdesk")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with plain_smtp_server() as server:
        yield server


@pytest.fixture
def server() -> Iterator[NgircdServer]:
    started = start_ngircd_or_fail()
    try:
        yield started
    finally:
        started.cleanup()


def _irc(running: Running) -> IrcTransport:
    transport = running.app.transports.get("irc", "testnet")
    assert isinstance(transport, IrcTransport)
    return transport


async def _console_post(running: Running, token: str, text: str) -> str:
    """Sign in to /console with the token and post `text` as a plain HTML form would (no
    JavaScript); the page shown afterwards."""
    jar = aiohttp.CookieJar(unsafe=True)  # keeps the cookies of 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(running.base + "/console") as response:
            page = await response.text()
        nonce = re.search(r'name="signin" value="([^"]+)"', page)
        assert nonce, "no sign-in form"
        async with http.post(running.base + "/console/sign-in",
                             data={"signin": nonce.group(1), "token": token}) as response:
            page = await response.text()
            assert response.status == 200 and "Signed in as" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf, "no CSRF field once signed in"
        async with http.post(running.base + "/console/command",
                             data={"csrf": csrf.group(1), "text": text}) as response:
            return await response.text()


async def _shows(running: Running, path: str, text: str) -> bool:
    status, _, body = await running.get(path)
    return status == 200 and text.encode() in body


async def test_posting_while_irc_is_down_then_delivering_when_it_returns(
    server: NgircdServer, smtp: SmtpServer, sqlite_url: str, tmp_path: Path
) -> None:
    channels = [unique("#ops-"), unique("#infra-")]
    nick = unique("desk")
    irc = ("irc:\n"
           f"  - {{name: testnet, host: 127.0.0.1, port: {server.port}, tls: false,"
           f" nick: {nick}, channels: [{', '.join(repr(c) for c in channels)}],"
           " rate: {burst: 10, per_second: 5.0}}\n"
           "users:\n"
           "  - {name: alice, roles: [status], irc: {account: alice}}\n")
    async with run_app(sqlite_url, tmp_path, extra=irc + _yaml(smtp)) as running:
        assert running.app.console is not None
        running.app.console.secure_cookies = False  # plain HTTP to 127.0.0.1 in the test
        await eventually(lambda: _irc(running).health()["connected"], within=30,
                         what="the bot on IRC")
        await _confirmed(running, smtp)
        async with opened_store(sqlite_url) as store, store.transaction() as tx:
            _, token = await tx.api_tokens.create("alice", "phone", utcnow())

        # The IRC network goes away (a crash: no goodbye to the clients).
        server.stop()
        await eventually(lambda: not _irc(running).health()["connected"], within=30,
                         what="the bot noticing IRC is gone")

        # 1. `statusdesk say`, from another process, as an operator would.
        started = time.monotonic()
        said = await asyncio.to_thread(
            statusdesk, "say", "--url", running.base, "#status alert Gerrit is down",
            cwd=tmp_path, env={"STATUSDESK_TOKEN": token})
        assert said.returncode == 0, said.stderr
        assert said.stdout.startswith("Alert set; opened incident #")
        await eventually(lambda: _shows(running, "/", "Gerrit is down"), within=2,
                         what="the alert on the page")
        await eventually(lambda: _shows(running, "/feed.atom", "Gerrit is down"), within=2,
                         what="the alert in the Atom feed")

        def mailed(text: str) -> bool:
            return any(text in _parts(m)[0] for m in _mails_to(smtp, ADDRESS))

        await eventually(lambda: mailed("Gerrit is down"), within=10,
                         what="the subscriber's mail about the alert")
        mailed_after = time.monotonic() - started

        # 2. The web console, as a plain form (works without JavaScript).
        page = await _console_post(running, token,
                                   "#status notice Gerrit is back for reads only")
        assert "Applied" in page
        await eventually(lambda: _shows(running, "/", "Gerrit is back for reads only"),
                         within=2, what="the notice on the page")
        await eventually(lambda: mailed("Gerrit is back for reads only"), within=10,
                         what="the subscriber's mail about the notice")

        # Nothing went to IRC meanwhile, and nothing was given up: the outbox still holds it.
        assert not _irc(running).health()["connected"]
        await asyncio.sleep(1.0)  # the outbox tries, finds the network down, backs off

        # 3. IRC is back. ngIRCd forgot its channels: the watcher is first in them again,
        # lets anyone set the topic (the bot is no channel operator there now), and sees
        # what the bot sends as soon as it is back.
        server.start()
        watcher = await RawClient.connect(server.host, server.port, unique("watch"))
        try:
            await watcher.join(*channels)
            for channel in channels:
                await watcher.send(f"MODE {channel} -t")
            alert = "NOTICE: Gerrit is down"
            notice = "NOTICE: Gerrit is back for reads only"
            for channel in channels:
                for text in (alert, notice):
                    await watcher.wait_for(
                        lambda m, c=channel, t=text: (  # type: ignore[misc]
                            m.command == "NOTICE" and m.params[0] == c and m.text == t),
                        within=60)
                await watcher.wait_for(
                    lambda m, c=channel: (  # type: ignore[misc]
                        m.command == "TOPIC" and m.params[0] == c and m.nick == nick),
                    within=30)
            await asyncio.sleep(2.0)  # anything sent twice would have arrived by now
            for text in (alert, notice):
                sent = watcher.matching(lambda m, t=text: (  # type: ignore[misc]
                    m.command == "NOTICE" and m.text == t))
                assert sorted(m.params[0] for m in sent) == sorted(channels), text
            for channel in channels:
                assert await watcher.topic(channel) == "Gerrit is down"
        finally:
            await watcher.close()
        # The order in the channels is the order they were posted in.
        lines = [m.text for m in watcher.matching(
            lambda m: m.command == "NOTICE" and m.params[0] == channels[0])]
        assert lines.index(alert) < lines.index(notice)
    print(f"chat down: say -> subscriber mail in {mailed_after:.2f} s")
