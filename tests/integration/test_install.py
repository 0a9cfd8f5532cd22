"""How an operator starts statusdesk: `python -m statusdesk`, the configuration search order
of DESIGN §1.9 and messages that name the file read. Subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import secret_scan
from tests.secrets import API_TOKEN, SMTP_PASSWORD
from tests.servers.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "STATUSDESK_CONFIG"}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=60, env={**base, **(env or {})}, check=False)


def test_python_dash_m_statusdesk_is_the_statusdesk_command(tmp_path: Path) -> None:
    version = run("-m", "statusdesk", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("statusdesk ")
    listing = run("-m", "statusdesk", "incidents", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip() == "No incidents."
    usage = run("-m", "statusdesk", "no-such-command", cwd=tmp_path)
    assert usage.returncode == 2
    assert usage.stderr.startswith("statusdesk: ")  # the same parser, the same name


# An interpreter without the extras: `sys.modules[name] = None` is Python's own way of saying
# a module is absent (import raises ImportError, importlib.util.find_spec answers None).
WITHOUT_EXTRAS = ("import sys; sys.modules['nio'] = sys.modules['asyncpg'] = None; "
                  "from bot.cli import main; sys.exit(main(sys.argv[1:]))")


def test_a_config_needing_a_missing_extra_names_it(tmp_path: Path) -> None:
    config = tmp_path / "desk.yaml"
    config.write_text(
        "database: {url: 'postgresql+asyncpg://desk:pw@db.example.org/desk'}\n"
        "matrix:\n"
        "  homeserver: https://m.example.org\n"
        "  user_id: '@bot:example.org'\n"
        "  password: x\n"
        "  rooms: ['#infra:example.org']\n")
    result = run("-c", WITHOUT_EXTRAS, "check-config", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"{config}: database.url: a PostgreSQL database needs the extra 'postgres': "
        "pip install 'statusdesk[postgres]'",
        f"{config}: matrix: the matrix transport needs the extra 'matrix': "
        "pip install 'statusdesk[matrix]'",
    ]
    # With the extras installed (this venv), the same file is fine.
    assert run("-m", "statusdesk", "check-config", "-c", str(config),
               cwd=tmp_path).returncode == 0


def test_irc_and_console_on_sqlite_run_without_the_extras(tmp_path: Path) -> None:
    config = tmp_path / "desk.yaml"
    config.write_text(f"database: {{url: 'sqlite+aiosqlite:///{tmp_path}/desk.db'}}\n"
                      "console: true\n"
                      "irc: [{name: oftc, host: 127.0.0.1, port: 1, channels: ['#infra']}]\n"
                      f"status_page: {{listen: '127.0.0.1:{free_port()}'}}\n")
    result = run("-c", WITHOUT_EXTRAS, "run", "-c", str(config), cwd=tmp_path,
                 stdin="#status alert Gerrit is down\n")
    assert result.returncode == 0, result.stderr
    assert "Gerrit is down" in result.stdout


def test_the_configuration_search_order(tmp_path: Path) -> None:
    """-c, else $STATUSDESK_CONFIG, else ./config.yaml, else /etc/statusdesk/config.yaml,
    else the embedded default; `check-config` says which it read."""
    files = {}
    for name in ("explicit.yaml", "from-env.yaml", "config.yaml", "etc.yaml"):
        files[name] = tmp_path / name
        files[name].write_text("console: true\n")
    etc = {"STATUSDESK_INTERNAL_ETC_CONFIG": str(files["etc.yaml"])}
    env = {**etc, "STATUSDESK_CONFIG": str(files["from-env.yaml"])}

    def read(*args: str, env: dict[str, str]) -> str:
        result = run("-m", "statusdesk", "check-config", *args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert read("-c", "explicit.yaml", env=env) == "explicit.yaml: ok"
    assert read(env=env) == f"{files['from-env.yaml']}: ok"
    assert read(env=etc) == "config.yaml: ok"
    files["config.yaml"].unlink()
    assert read(env=etc) == f"{files['etc.yaml']}: ok"
    files["etc.yaml"].unlink()
    assert read(env=etc) == "built-in default: ok"
    # A named file that is missing is an error, not a fall-back to the next place.
    missing = run("-m", "statusdesk", "check-config", cwd=tmp_path,
                  env={"STATUSDESK_CONFIG": str(tmp_path / "nope.yaml")})
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"{tmp_path / 'nope.yaml'}: file not found"


def test_every_message_names_the_file_read(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("status_page: {titel: Status}\nconsole: maybe\n")
    implicit = run("-m", "statusdesk", "run", cwd=tmp_path)
    assert implicit.returncode == 2
    assert implicit.stderr.splitlines() == ["config.yaml: status_page.titel: unknown key",
                                            "config.yaml: console: must be true or false"]
    etc = tmp_path / "etc.yaml"
    etc.write_text("")
    (tmp_path / "config.yaml").unlink()
    empty = run("-m", "statusdesk", "check-config", cwd=tmp_path,
                env={"STATUSDESK_INTERNAL_ETC_CONFIG": str(etc)})
    assert empty.returncode == 2
    assert empty.stderr.strip() == f"{etc}: empty configuration (expected a mapping)"


def test_a_duplicate_key_is_an_error_naming_file_and_key(tmp_path: Path) -> None:
    """PyYAML keeps the last of two equal keys: a second section silently replaced the
    first (the users with it)."""
    config = tmp_path / "desk.yaml"
    config.write_text("users:\n  - {name: alice, irc: {account: alice}}\nconsole: true\n"
                      "users: []\n")
    result = run("-m", "statusdesk", "check-config", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f'{config}:4:1: duplicate key "users" (first at line 1)'


def test_start_up_says_which_configuration_it_uses(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path}/desk.db'}}\nconsole: true\n"
        f"status_page: {{listen: '127.0.0.1:{free_port()}'}}\n")
    result = run("-m", "statusdesk", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert " INFO statusdesk.cli: using configuration config.yaml\n" in result.stderr


def test_secrets_from_files_and_credentials_never_reach_the_log(tmp_path: Path) -> None:
    """`${cred:NAME}` (systemd's LoadCredential=) and `${file:PATH}` secrets are redacted like
    any other: the bot's stderr is also searched by the suite's secret scan."""
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "api-token").write_text(API_TOKEN + "\n")
    (tmp_path / "smtp-password").write_text(SMTP_PASSWORD + "\n")
    config = tmp_path / "desk.yaml"
    config.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path}/desk.db'}}\n"
        "console: true\n"
        f"status_page: {{listen: '127.0.0.1:{free_port()}', api_token: '${{cred:api-token}}'}}\n"
        "subscribers: {email: {host: 127.0.0.1, port: 1, from: desk@example.org, "
        f"username: desk, password: '${{file:{tmp_path}/smtp-password}}'}}}}\n")
    # Left open: the scan reads it after the test (a closed file is skipped).
    stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115
    secret_scan.watch(f"stderr of the bot run with {config}", stderr)
    result = subprocess.run(
        [sys.executable, "-m", "statusdesk", "run", "--log-level", "debug", "-c",
         str(config)], cwd=tmp_path, input=f"#status log keys {API_TOKEN} {SMTP_PASSWORD}\n",
        stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=60, check=False,
        env={**os.environ, "CREDENTIALS_DIRECTORY": str(credentials),
             "PYTHONPATH": str(REPO)})
    stderr.seek(0)
    log = stderr.read()
    assert result.returncode == 0, log
    assert "#status log keys *** ***" in log  # the line was logged, without either secret
    assert API_TOKEN not in log and SMTP_PASSWORD not in log


def test_json_logging_is_one_object_per_line(tmp_path: Path) -> None:
    config = tmp_path / "desk.yaml"
    config.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path}/desk.db'}}\n"
        "console: true\n"
        f"status_page: {{listen: '127.0.0.1:{free_port()}', api_token: '{API_TOKEN}'}}\n"
        "logging: {level: DEBUG, format: json}\n")
    result = run("-m", "statusdesk", "run", "-c", str(config), cwd=tmp_path,
                 stdin=f"#status log token is {API_TOKEN}\n")
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(entries) > 3
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any({"level": "INFO", "logger": "statusdesk.cli",
                "message": f"using configuration {config}"}.items() <= entry.items()
               for entry in entries)
    assert any(entry["level"] == "DEBUG" for entry in entries)  # logging.level applied
    assert any("#status log token is ***" in entry["message"] for entry in entries)
    assert API_TOKEN not in result.stderr
