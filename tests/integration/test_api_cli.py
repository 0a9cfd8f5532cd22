"""`statusdesk tokens` and `statusdesk say` as a user runs them: subprocesses against a bot
running on the console (its own process), whose console shows what the command did."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console_bot import Bot, wait_for_http, write_console_config
from tests.integration.test_cli import statusdesk
from tests.servers.ports import free_port

USERS = """\
users:
  - name: alice
    roles: [status, incident]
    irc: {account: alice}
  - name: bob
    roles: []
    irc: {account: bob}
"""


@pytest.fixture
def console_config(tmp_path: Path) -> tuple[Path, int]:
    return write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db",
                                extra=USERS)


@pytest.fixture
def bot(console_config: tuple[Path, int], tmp_path: Path) -> Iterator[Bot]:
    running = Bot(console_config[0], tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def _create(config: Path, tmp_path: Path, user: str, label: str) -> str:
    done = statusdesk("tokens", "create", user, "--label", label, "-c", str(config),
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("sdk_") and "\n" not in token
    return token


def test_tokens_create_list_revoke(console_config: tuple[Path, int], tmp_path: Path) -> None:
    config, _ = console_config
    unknown = statusdesk("tokens", "create", "mallory", "-c", str(config), cwd=tmp_path)
    assert unknown.returncode == 2 and "mallory" in unknown.stderr and not unknown.stdout
    token = _create(config, tmp_path, "alice", "alice's laptop")
    listed = statusdesk("tokens", "list", "-c", str(config), cwd=tmp_path)
    assert listed.returncode == 0
    assert "alice's laptop" in listed.stdout and token.split("_", 2)[2] not in listed.stdout
    assert statusdesk("tokens", "revoke", "1", "-c", str(config), cwd=tmp_path).returncode == 0
    listed = statusdesk("tokens", "list", "-c", str(config), cwd=tmp_path)
    row = next(line for line in listed.stdout.splitlines() if line.startswith("1 "))
    cells = re.split(r"\s{2,}", row)
    assert cells[5] == "alice's laptop" and cells[4] != "-"  # revoked: a time, not "-"
    assert statusdesk("tokens", "revoke", "7", "-c", str(config),
                      cwd=tmp_path).returncode == 1
    assert statusdesk("tokens", "revoke", "x", "-c", str(config),
                      cwd=tmp_path).returncode == 2


def test_say_applies_a_command_through_the_running_bot(
    bot: Bot, console_config: tuple[Path, int], tmp_path: Path
) -> None:
    config, port = console_config
    wait_for_http(port)
    token = _create(config, tmp_path, "alice", "laptop")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    said = statusdesk("say", "-c", str(config), "--token-file", str(token_file),
                      "#status alert Gerrit is down", cwd=tmp_path)
    assert (said.returncode, said.stdout) == (0, "Alert set; opened incident #1.\n"), said.stderr
    # Its effects left through the outbox, to the chat (here the console).
    bot.expect("-statusdesk- NOTICE: Gerrit is down")
    # The token from the environment and the URL given.
    said = statusdesk("say", "--url", f"http://127.0.0.1:{port}", "#status ok",
                      cwd=tmp_path, env={"STATUSDESK_TOKEN": token})
    assert said.returncode == 0, said.stderr
    # Refused (no role): exit 1, the refusal printed.
    refused = statusdesk("say", "-c", str(config), "#status alert x", cwd=tmp_path,
                         env={"STATUSDESK_TOKEN": _create(config, tmp_path, "bob", "b")})
    assert refused.returncode == 1
    assert refused.stdout == "you are not authorized to use #status alert\n"
    # A bad token, an unreachable bot: exit 1 and one line. No token at all: usage.
    bad = statusdesk("say", "-c", str(config), "#status ok", cwd=tmp_path,
                     env={"STATUSDESK_TOKEN": token + "x"})
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "401" in bad.stderr
    down = statusdesk("say", "--url", f"http://127.0.0.1:{free_port()}", "#status ok",
                      cwd=tmp_path, env={"STATUSDESK_TOKEN": token})
    assert down.returncode == 1 and down.stderr.count("\n") == 1
    none = statusdesk("say", "-c", str(config), "#status ok", cwd=tmp_path,
                      env={"STATUSDESK_TOKEN": ""})
    assert none.returncode == 2 and "STATUSDESK_TOKEN" in none.stderr
