"""Secrets never leave: an app configured with every kind of secret is driven through each
path that could print one (DEBUG logs from start-up on, providers and trackers answering
errors that echo the whole request back, an IRC server refusing the password and offering
no SASL, a Matrix login refused, a forged inbound webhook) and nothing it says anywhere —
logs, chat replies, the database, /healthz, /metrics, the status page, the static export,
the incident log exports, the command line — contains a secret value.

The same values are what `tests/secret_scan.py` looks for in the output of the whole run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text as sql

from bot.app import App
from bot.config import load_config_text
from bot.core.ports import Message
from bot.observability.redaction import login_forms
from storage.models import Base
from tests import secrets
from tests.conftest import start_ngircd_or_fail
from tests.harness import OPERATOR, started_app
from tests.secrets import SECRETS
from tests.servers.fake_http import FakeService
from tests.servers.ports import free_port
from tests.servers.synapse import SynapseServer

ROOT = Path(__file__).resolve().parents[2]


ENCODED = {f"SMTP password as {form}": value for form, value in zip(
    ("base64", "a base64 AUTH PLAIN line"),
    login_forms("sd", secrets.SMTP_PASSWORD)[1:3], strict=True)}
"""The SMTP password as the login carries it: a server may quote that back."""


def leaks(text: str) -> list[str]:
    """The names of the secrets in `text`."""
    return [name for name, value in {**SECRETS, **ENCODED}.items() if value in text]


class Echo(FakeService):
    """A careless HTTP API on loopback: it answers `status` with the whole request in the
    body (headers, query, body), as some do in their error messages."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        body = (await request.read()).decode("utf-8", "replace")
        echoed = {"message": f"bad request: {body}", "method": request.method,
                  "url": str(request.rel_url), "headers": dict(request.headers)}
        return web.json_response(echoed, status=self.status,
                                 headers={"X-Echo-Auth": request.headers.get("Authorization",
                                                                             "")})


PLAYBOOK = """\
---
title: Secrets drill
keywords: [secrets]
bugs:
  - {github}/acme/infra/issues/1
  - {gitlab}/acme/infra/-/issues/2
  - {jira}/browse/OPS-3
---
What to do when secrets are tested.
"""


@dataclass
class Everything:
    """Every place the app could have written a secret to, gathered as text."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.texts[where] = self.texts.get(where, "") + text + "\n"

    def leaked(self) -> list[str]:
        return [f"{where}: {name}" for where, text in self.texts.items() for name in leaks(text)]


def _config_yaml(tmp: Path, port: int, irc_port: int, echoes: dict[str, Echo],
                 smtp_port: int) -> str:
    s = secrets
    return textwrap.dedent(f"""\
        database: {{url: 'sqlite+aiosqlite:///{tmp / "statusdesk.db"}'}}
        irc:
          - name: local
            host: 127.0.0.1
            port: {irc_port}
            tls: false
            nick: sdbot
            password: '{s.IRC_SERVER_PASSWORD}'
            sasl: {{username: sdbot, password: '{s.IRC_SASL_PASSWORD}'}}
            channels: ['#ops']
        users:
          - {{name: alice, roles: [admin], irc: {{account: alice}}}}
        status_page:
          listen: '127.0.0.1:{port}'
          public_url: 'https://status.example.org'
          export_dir: '{tmp / "export"}'
          api_token: '{s.API_TOKEN}'
        paging:
          auto_page_severity: 1
          escalation_managers:
            - name: bob
              contacts: {{pagerduty: '{s.PAGERDUTY_ROUTING_KEY}', opsgenie: bob, webhook: bob,
                          email: bob@example.org}}
          providers:
            pagerduty: {{url: '{echoes["pagerduty"].url}/v2/enqueue'}}
            opsgenie: {{url: '{echoes["opsgenie"].url}', api_key: '{s.OPSGENIE_KEY}'}}
            webhook: {{url: '{echoes["webhook"].url}/page', secret: '{s.WEBHOOK_SECRET}'}}
            email: {{host: 127.0.0.1, port: {smtp_port}, starttls: false, username: sd,
                     password: '{s.SMTP_PASSWORD}', from: statusdesk@example.org}}
          hooks:
            pagerduty: {{secret: '{s.PAGERDUTY_HOOK_SECRET}'}}
        playbooks:
          dir: '{tmp / "playbooks"}'
          trackers:
            github: {{api_url: '{echoes["github"].url}/api/v3', token: '{s.GITHUB_TOKEN}'}}
            gitlab: {{api_url: '{echoes["gitlab"].url}/api/v4', token: '{s.GITLAB_TOKEN}'}}
            jira: {{url: '{echoes["jira"].url}', token: '{s.JIRA_TOKEN}'}}
            redmine: {{url: '{echoes["jira"].url}/redmine', api_key: '{s.REDMINE_API_KEY}'}}
            launchpad: {{api_url: '{echoes["jira"].url}/1.0', oauth_token: '{s.LAUNCHPAD_TOKEN}',
                        oauth_token_secret: '{s.LAUNCHPAD_TOKEN_SECRET}'}}
        """)


async def _until(condition: Callable[[], bool | Awaitable[bool]], what: str,
                 within: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not await _value(condition()):
        if loop.time() > end:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def _value(result: bool | Awaitable[bool]) -> bool:
    return result if isinstance(result, bool) else await result


@asynccontextmanager
async def _refusing_smtp() -> AsyncIterator[int]:
    """An SMTP server that refuses every login (535), as a relay with a changed password."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-mail.test\r\n250 AUTH PLAIN\r\n")
            elif verb == b"AUTH":
                writer.write(b"535 5.7.8 Authentication credentials invalid: "
                             + line.strip() + b"\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"503 5.5.1 login first\r\n")
            await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(session, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def test_no_secret_leaves_the_app(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    everything = Everything()
    irc = start_ngircd_or_fail(password="not-the-configured-one")
    try:
        async with Echo(400) as pagerduty, Echo(500) as opsgenie, Echo(400) as webhook, \
                Echo(401) as github, Echo(401) as gitlab, Echo(401) as jira, \
                _refusing_smtp() as smtp_port:
            echoes = {"pagerduty": pagerduty, "opsgenie": opsgenie, "webhook": webhook,
                      "github": github, "gitlab": gitlab, "jira": jira}
            (tmp_path / "playbooks").mkdir()
            (tmp_path / "playbooks" / "secrets.md").write_text(PLAYBOOK.format(
                github=github.url, gitlab=gitlab.url, jira=jira.url))
            port = free_port()
            config_text = _config_yaml(tmp_path, port, irc.port, echoes, smtp_port)
            config_file = tmp_path / "config.yaml"
            config_file.write_text(config_text)
            config = load_config_text(config_text)
            # The subscriber's address is no configuration secret: tests/integration/
            # test_subscribers.py subscribes it and the secret scan watches for it there.
            assert set(config.secrets()) >= set(SECRETS.values()) - {
                secrets.MATRIX_ACCESS_TOKEN, secrets.MATRIX_PASSWORD, secrets.SUBSCRIBER_ADDRESS}
            async with started_app(config) as app, aiohttp.ClientSession() as http:
                await _drive(app, http, f"http://127.0.0.1:{port}", echoes, everything)
                await _dump_database(app, everything)
            for path in sorted((tmp_path / "export").rglob("*")):
                if path.is_file():
                    everything.add(f"export_dir/{path.name}", path.read_bytes())
            for args in (["incidents", "export", "1", "--format", "md"],
                         ["incidents", "export", "1", "--format", "json"],
                         ["incidents", "list"], ["check-config"], ["playbooks", "check"]):
                done = await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "bot.cli", *args, "-c", str(config_file)],
                    capture_output=True, text=True, cwd=ROOT, timeout=120)
                everything.add(f"statusdesk {' '.join(args)}", done.stdout + done.stderr)
    finally:
        irc.cleanup()
    for record in caplog.records:
        everything.add(f"log record {record.name}", record.getMessage())
    everything.add("captured log", caplog.text)
    out, err = capsys.readouterr()
    everything.add("stdout", out)
    everything.add("stderr", err)
    assert everything.leaked() == [], "\n".join(everything.leaked())
    assert len(everything.texts) > 30


async def _drive(app: App, http: aiohttp.ClientSession, base: str, echoes: dict[str, Echo],
                 everything: Everything) -> None:
    async def say(text: str) -> None:
        message = Message("console", "console", "console", "op", OPERATOR, text,
                          addressed=True)
        for reply in await app.desk.handle(message):
            everything.add(f"reply to {text!r}", reply.text)

    await say("#incident open sev1 Database down")  # pages bob through every provider
    await say("#playbook secrets")                   # three trackers answer 401
    await _until(lambda: all(e.requests for e in echoes.values()),
                 "every provider and tracker asked")
    await _until(lambda: _transport_errors(app) == {"irc"}, "the IRC server refused the bot",
                 within=90)
    await _until(lambda: _pages_answered(app), "every provider answered a page", within=90)
    await say("#playbook secrets")
    await say("#incident 1 log")
    await say("#now")
    async with http.post(f"{base}/hooks/pagerduty", data=b'{"event": {}}',
                         headers={"X-PagerDuty-Signature": "v1=00"}) as response:
        everything.add("POST /hooks/pagerduty", await response.read())
    paths = ["/", "/healthz", "/metrics", "/incidents/1", "/history", "/success", "/thanks",
             "/feed.atom", "/alert.json", "/api/v2/summary.json", "/api/v2/status.json",
             "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json", "/playbooks",
             "/playbooks/secrets", "/api/incidents/1/log.md", "/api/incidents/1/log.json",
             "/no-such-page"]
    bearer = {"Authorization": f"Bearer {secrets.API_TOKEN}"}
    for path in paths:
        async with http.get(base + path, headers=bearer) as response:
            head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            everything.add(f"GET {path}", head + "\n" + (await response.read()).decode())


def _transport_errors(app: App) -> set[str]:
    errors = set()
    for transport in app.transports:
        health = transport.health()
        if health.get("last_error") or health.get("error"):
            errors.add(transport.name)
    return errors


async def _pages_answered(app: App) -> bool:
    """Every provider's page was tried and answered with its error."""
    assert app.store is not None
    async with app.store.reading() as tx:
        rows = (await tx.session.execute(sql(
            "SELECT kind, attempts, last_error, failed_at FROM outbox "
            "WHERE kind LIKE 'page.%'"))).all()
    tried = {kind for kind, attempts, error, failed in rows
             if attempts and (error or failed)}
    return tried >= {"page.pagerduty", "page.opsgenie", "page.webhook", "page.email"}


async def _dump_database(app: App, everything: Everything) -> None:
    """Every table as text, but the Matrix session (`transport_state` holds the access
    token the bot logged in with: it has to live somewhere, see SECURITY.md)."""
    assert app.store is not None
    async with app.store.reading() as tx:
        for table in Base.metadata.sorted_tables:
            if table.name == "transport_state":
                continue
            rows = (await tx.session.execute(sql(f"SELECT * FROM {table.name}"))).all()
            everything.add(f"table {table.name}", json.dumps([list(map(str, r)) for r in rows]))


@pytest.mark.parametrize("credential", ["password", "access_token"])
async def test_matrix_login_refused(tmp_path: Path, synapse: SynapseServer, credential: str,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """A refused Matrix login stops the bot with one clear line, which (like the DEBUG log
    before it) names the user but not the password or token."""
    caplog.set_level(logging.DEBUG)
    value = {"password": secrets.MATRIX_PASSWORD,
             "access_token": secrets.MATRIX_ACCESS_TOKEN}[credential]
    config_file = tmp_path / "config.yaml"
    config_file.write_text(textwrap.dedent(f"""\
        database: {{url: 'sqlite+aiosqlite:///{tmp_path / "statusdesk.db"}'}}
        matrix:
          homeserver: '{synapse.base_url}'
          user_id: '@sdbot-never-registered:{synapse.server_name}'
          {credential}: '{value}'
          rooms: ['#ops:{synapse.server_name}']
          store_path: '{tmp_path / "crypto"}'
        status_page: {{listen: '127.0.0.1:{free_port()}'}}
        """))
    with pytest.raises(RuntimeError) as raised:
        await App(load_config_text(config_file.read_text())).run()
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot.cli", "--debug", "run", "-c",
                         str(config_file)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "refused" in str(raised.value)
    outputs = {"exception": str(raised.value), "log": caplog.text,
               "statusdesk run --debug": done.stdout + done.stderr}
    assert {where: leaks(text) for where, text in outputs.items()} == {
        where: [] for where in outputs}


BAD_CONFIGS = {
    "YAML syntax error on the secret's line": (
        "matrix:\n  homeserver: https://m.example.org\n"
        f"  password: {secrets.MATRIX_PASSWORD}: {secrets.MATRIX_PASSWORD}\n"),
    "YAML tab on the secret's line": f"status_page:\n\tapi_token: {secrets.API_TOKEN}\n",
    "secret of the wrong type": f"status_page: {{api_token: ['{secrets.API_TOKEN}']}}\n",
    "secret where a number goes": (
        "irc: [{name: n, host: h, port: '" + secrets.IRC_SERVER_PASSWORD + "',"
        " nick: b, channels: ['#a']}]\n"),
    "secret from the environment where a number goes": (
        "irc: [{name: n, host: h, port: '${STATUSDESK_TEST_SECRET}', nick: b,"
        " channels: ['#a']}]\n"),
    "secret under a misspelt key": (
        "irc: [{name: n, host: h, nick: b, channels: ['#a'], sasl: {username: u,"
        f" password: '{secrets.IRC_SASL_PASSWORD}', passwd: '{secrets.IRC_SASL_PASSWORD}'}}}}]\n"),
    "secret in a database URL that does not parse": (
        f"database: {{url: 'postgresql+asyncpg://u:{secrets.GITLAB_TOKEN}@[::1/db'}}\n"),
    "secret in a homeserver URL": (
        f"matrix: {{homeserver: 'https://u:{secrets.MATRIX_PASSWORD}@', user_id: '@b:m.org',"
        f" access_token: '{secrets.MATRIX_ACCESS_TOKEN}', rooms: []}}\n"),
    "secret in a webhook URL without a scheme": (
        f"paging: {{providers: {{webhook: {{url: 'hooks.example.org/{secrets.WEBHOOK_SECRET}',"
        f" secret: '{secrets.WEBHOOK_SECRET}'}}}}}}\n"),
    "secret in a token that is a mapping": (
        "playbooks: {trackers: {github: {token: {value: '" + secrets.GITHUB_TOKEN + "'}}}}\n"),
    "routing key where a list goes": (
        "paging: {escalation_managers: {name: bob, contacts: {pagerduty: '"
        + secrets.PAGERDUTY_ROUTING_KEY + "'}}}\n"),
}


@pytest.mark.parametrize("config", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_check_config_errors_do_not_quote_secrets(
        config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main

    monkeypatch.setenv("STATUSDESK_TEST_SECRET", secrets.OPSGENIE_KEY)
    path = tmp_path / "config.yaml"
    path.write_text(config)
    assert main(["check-config", "-c", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.strip(), "the problem is reported"
    assert leaks(out + err) == [], err


LEAKY_TESTS = '''
import logging
import tempfile

from tests import secret_scan
from tests.secrets import API_TOKEN, GITHUB_TOKEN, SMTP_PASSWORD


def test_prints():
    print("token is", API_TOKEN)


def test_logs():
    logging.getLogger("statusdesk.x").warning("using %s", GITHUB_TOKEN)


def test_a_subprocess_writes():
    stderr = tempfile.TemporaryFile("w+")
    secret_scan.watch("a bot", stderr)
    stderr.write("password " + SMTP_PASSWORD + "\\n")
    test_a_subprocess_writes.keep = stderr


def test_clean():
    print("nothing to see")
'''


@pytest.mark.parametrize("leaky", [True, False], ids=["leaky", "clean"])
async def test_the_scanner_fails_a_run_that_printed_a_secret(tmp_path: Path,
                                                              leaky: bool) -> None:
    source = LEAKY_TESTS if leaky else "def test_clean():\n    print('nothing to see')\n"
    (tmp_path / "test_inner.py").write_text(source)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "pytest", "-p", "tests.secret_scan",
                         "-p", "tests.figures", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    # The scan's figure is one line of the figures section: not also printed onto the
    # progress line (`....  [100%][secret scan] ...`).
    scan_lines = [line for line in done.stdout.splitlines() if "secrets found" in line]
    assert len(scan_lines) == 1 and scan_lines[0].startswith("secret scan: "), done.stdout
    if not leaky:
        assert done.returncode == 0, done.stdout
        assert "0 secrets found" in done.stdout
        return
    assert done.returncode == 1, done.stdout
    assert "4 passed" in done.stdout
    report = done.stdout[done.stdout.index("secrets in the output"):]
    assert "test_inner.py::test_prints [Captured stdout call]: the status page api_token" \
        in report
    assert "test_inner.py::test_logs [Captured log call]: the GitHub token" in report
    # The node id's directory part depends on where the checkout is relative to tmp.
    assert re.search(r"a bot \(started in \S*test_inner\.py::test_a_subprocess_writes\): "
                     r"the SMTP password", report), report
    assert "test_clean" not in report
    assert "3 secrets found" in done.stdout
