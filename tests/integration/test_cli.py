"""`statusdesk` as a user runs it: a subprocess with real stdin, stdout and HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.usage import USAGE
from tests.console_bot import Bot, http_get, wait_for_http, write_console_config
from tests.servers.ports import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = {name: "placeholder" for name in (
    "IRC_PASSWORD", "MATRIX_PASSWORD", "STATUSDESK_API_TOKEN", "OPSGENIE_KEY",
    "WEBHOOK_SECRET", "GITHUB_TOKEN", "PAGERDUTY_WEBHOOK_SECRET", "SMTP_PASSWORD",
    "STATUS_HOOK_SECRET", "REDMINE_KEY")}


def statusdesk(*args: str, cwd: Path, env: dict[str, str] | None = None,
               stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, input=stdin, capture_output=True,
        text=True, timeout=60, env={**os.environ, **(env or {})}, check=False,
    )


@pytest.fixture
def console_config(tmp_path: Path) -> tuple[Path, int]:
    return write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")


@pytest.fixture
def bot(console_config: tuple[Path, int], tmp_path: Path) -> Iterator[Bot]:
    running = Bot(console_config[0], tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_status_alert_end_to_end_on_the_console(
    bot: Bot, console_config: tuple[Path, int], tmp_path: Path
) -> None:
    config, port = console_config
    wait_for_http(port)
    bot.type("#status alert Gate is broken")
    bot.expect("<statusdesk> op: Alert set; opened incident #1.")
    bot.expect("*** statusdesk changed the topic of console to: Gate is broken")
    assert "-statusdesk- NOTICE: Gate is broken" in bot.seen

    # The page is rebuilt after the command commits, not before the reply: wait for it.
    deadline = time.monotonic() + 10
    while True:
        status, headers, body = http_get(port, "/alert.json")
        if json.loads(body) == {"alert": "Gate is broken"} or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200 and json.loads(body) == {"alert": "Gate is broken"}
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Cache-Control"] == (
        "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400")
    status, _, _ = http_get(port, "/alert.json", {"If-None-Match": headers["ETag"]})
    assert status == 304

    bot.type("what's happening?")
    bot.expect("<statusdesk> op: ALERT: Gate is broken (set by op, just now)")

    bot.type("#status ok Gate fixed")
    bot.expect("<statusdesk> op: Alert cleared; topics restored; incident #1 resolved.")
    bot.expect("-statusdesk- NOTICE: Gate fixed")
    # The console had no topic before the alert: restoring it means setting it empty again.
    assert "*** statusdesk changed the topic of console to: " in bot.seen

    status, _, body = http_get(port, "/healthz")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["database"] == "ok"
    assert health["transports"]["console/console"]["connected"] is True

    code, stderr = bot.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr

    listing = statusdesk("incidents", "list", "-c", str(config), cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "#1" in listing.stdout and "resolved" in listing.stdout
    export = statusdesk("incidents", "export", "#1", "--format", "json", "-c", str(config),
                        cwd=tmp_path)
    document = json.loads(export.stdout)
    assert document["incident"]["id"] == "1"
    assert [e["kind"] for e in document["timeline"]] == [
        "opened", "status.alert", "topic", "status.ok", "state", "topic"]


def test_usage_on_the_console(bot: Bot, console_config: tuple[Path, int]) -> None:
    bot.type("#incident open")
    bot.expect(f"<statusdesk> op: usage: {USAGE['#incident open']}")
    bot.type("#incident open sev2 Mirror sync stalled")
    bot.expect("<statusdesk> op: Opened incident #1 (sev2): Mirror sync stalled — "
               f"http://127.0.0.1:{console_config[1]}/incidents/1")
    code, _ = bot.close()
    assert code == 0


def test_sigterm_shuts_down_cleanly_and_keeps_what_was_accepted(
    bot: Bot, console_config: tuple[Path, int], tmp_path: Path
) -> None:
    config, port = console_config
    wait_for_http(port)
    bot.type("#incident open Disk full on logs01")
    bot.expect("<statusdesk> op: Opened incident #1 (sev3): Disk full on logs01 — "
               f"http://127.0.0.1:{port}/incidents/1")
    bot.process.send_signal(signal.SIGTERM)
    assert bot.process.wait(timeout=30) == 0
    listing = statusdesk("incidents", "list", "--open", "-c", str(config), cwd=tmp_path)
    assert "Disk full on logs01" in listing.stdout


def test_accepted_effects_survive_a_restart(console_config: tuple[Path, int],
                                            tmp_path: Path) -> None:
    """An alert whose announcement was queued but not delivered goes out at the next start."""
    config, _ = console_config
    first = Bot(config, tmp_path)
    first.type("#status alert Zuul is down")
    first.expect("<statusdesk> op: Alert set; opened incident #1.")
    first.process.kill()  # no chance to deliver anything more
    first.process.wait()
    # It may have printed the notice after the reply, before dying: count that too.
    with contextlib.suppress(queue.Empty):
        while True:
            first.seen.append(first.lines.get(timeout=1.0))
    second = Bot(config, tmp_path)
    try:
        second.expect("*** statusdesk changed the topic of console to: Zuul is down")
        notices = [line for line in second.seen if line == "-statusdesk- NOTICE: Zuul is down"]
        already = [line for line in first.seen if line == "-statusdesk- NOTICE: Zuul is down"]
        assert len(notices) + len(already) == 1
        code, _ = second.close()
        assert code == 0
    finally:
        if second.process.poll() is None:
            second.process.kill()


def test_embedded_default_uses_statusdesk_db_in_the_working_directory(tmp_path: Path) -> None:
    result = statusdesk("incidents", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "No incidents."
    assert (tmp_path / "statusdesk.db").exists()


def test_db_upgrade(tmp_path: Path) -> None:
    result = statusdesk("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"database at revision (\w+) \(newest: (\w+)\)\n", result.stdout)
    assert match is not None and match.group(1) == match.group(2), result.stdout


def test_check_config_accepts_the_example() -> None:
    result = statusdesk("check-config", "-c", "config.example.yaml", cwd=REPO, env=EXAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config.example.yaml: ok"


def test_check_config_prints_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "no_such_key: 1\n"
        "irc:\n"
        "  - {name: oftc, host: irc.oftc.net, port: 99999, channels: ['#a']}\n"
        "paging: {ack_timeout: 10 minutes}\n"
        "matrix:\n"
        "  homeserver: https://m.example.org\n"
        "  user_id: '@bot:example.org'\n"
        "  password: ${STATUSDESK_TEST_UNSET_VARIABLE}\n"
        "  rooms: ['#infra:example.org']\n"
    )
    result = statusdesk("check-config", "-c", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    # Each line names the file (DESIGN §1.9), then `PATH: message`.
    prefix = f"{bad}: "
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith(prefix) for line in lines), lines
    lines = [line.removeprefix(prefix) for line in lines]
    assert "no_such_key: unknown key" in lines
    assert "irc[0].port: must be 1-65535" in lines
    assert any(line.startswith('paging.ack_timeout: invalid duration "10 minutes"')
               for line in lines)
    assert ("matrix.password: environment variable STATUSDESK_TEST_UNSET_VARIABLE is not set"
            in lines)
    assert "Traceback" not in result.stderr


def test_run_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("console: maybe\n")
    result = statusdesk("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "config.yaml: console: must be true or false"


def test_version_and_bad_usage(tmp_path: Path) -> None:
    version = statusdesk("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("statusdesk ")
    bad = statusdesk("incidents", "export", "twelve", cwd=tmp_path)
    assert bad.returncode == 2
    assert "incident ids are positive integers" in bad.stderr
    missing = statusdesk("incidents", "export", "5", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "statusdesk: there is no incident #5"


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path}/desk.db'}}\n"
        "console: true\n"
        f"status_page: {{listen: '127.0.0.1:{port}', api_token: '${{TOKEN}}'}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--log-level", "debug", "-c", str(config)],
        cwd=tmp_path, input="#status log token is s3cr3t-t0ken-value\n", capture_output=True,
        text=True, timeout=60, env={**os.environ, "TOKEN": "s3cr3t-t0ken-value"}, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "#status log token is ***" in result.stderr  # the line was logged...
    assert "s3cr3t-t0ken-value" not in result.stderr  # ...without the secret
