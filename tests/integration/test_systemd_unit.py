"""contrib/systemd/statusdesk.service, checked by systemd's own tools (`systemd-analyze
verify`, `security` and `syscall-filter`, Debian's systemd package: tests/servers/install.sh),
and the hardening options that could break the bot tried on the bot itself:
MemoryDenyWriteExecute= (under the kernel's equivalent) and SystemCallFilter= (every call
the bot makes, traced, is one the filter allows).

There is no systemd as PID 1 here: what systemd would do with the unit is what `verify`
checks, and the protocol it speaks with the bot is tests/integration/test_service_notify.py's.
tests/reliability/test_systemd_boot.py (soak) boots a real systemd in namespaces and runs the
unit under it.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.console_bot import Bot, http_get
from tests.irc_bot import unique
from tests.irc_client import RawClient
from tests.lease_rig import irc_config, irc_joined, until
from tests.servers.ngircd import NgircdServer

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "contrib" / "systemd" / "statusdesk.service"

EXPOSURE_LIMIT = 1.2
"""`systemd-analyze security`'s overall exposure (0 safest, 10 worst) measured on the unit:
1.2. What is left is what a networked bot needs: the network (0.5 + 0.3 + 0.1 for AF_UNIX),
a host root directory (0.1), @resources syscalls (0.2: it raises its open-file limit), any IP
address (0.2), the non-process /proc files (0.1: process metrics read /proc/stat) and the
clock read by ProtectClock's device rule (0.1). Any new exposure fails this test."""


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze not found: install Debian's systemd package "
                    "(tests/servers/install.sh does)")
    return found


def unit_settings() -> dict[str, list[str]]:
    """Every `Key=value` of the unit, by key (a key may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """verify loads the unit as systemd would, with its dependencies (the host's system
    units) and its commands: those are stand-ins in a root of its own, where the unit's
    paths exist."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    shutil.copy(UNIT, root / "etc/systemd/system/statusdesk.service")
    for command in [unit_settings()["ExecStart"][0].split()[0],
                    unit_settings()["ExecReload"][0].split()[0]]:
        stand_in = root / command.lstrip("/")
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
    result = subprocess.run(
        [systemd_analyze(), "verify", f"--root={root}", "--man=no", "--generators=no",
         "statusdesk.service"], capture_output=True, text=True, timeout=60, check=False)
    # verify exits 0 even for unknown keys or bad values ("ignoring"): any output is a fault.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_analyze_verify_would_see_a_mistake(tmp_path: Path) -> None:
    """The check above can fail: the same unit with a misspelt value is reported."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system/statusdesk.service").write_text(
        UNIT.read_text().replace("Type=notify", "Type=notifyy"))
    result = subprocess.run(
        [systemd_analyze(), "verify", f"--root={root}", "--man=no", "--generators=no",
         "statusdesk.service"], capture_output=True, text=True, timeout=60, check=False)
    assert "Failed to parse service type" in result.stderr


def test_exposure_is_below_the_measured_limit() -> None:
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True, text=True, timeout=60, check=False)
    found = re.search(r"Overall exposure level for statusdesk.service: (\d+\.\d)",
                      result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found[1]) <= EXPOSURE_LIMIT, result.stdout


def test_the_unit_is_what_the_readme_says() -> None:
    settings = unit_settings()
    assert settings["Type"] == ["notify"]
    assert settings["NotifyAccess"] == ["main"]
    assert settings["ExecStart"][0].endswith("statusdesk run -c /etc/statusdesk/config.yaml")
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert settings["WatchdogSec"] and settings["Restart"] == ["on-failure"]
    assert settings["DynamicUser"] == ["yes"]
    assert settings["StateDirectory"] == ["statusdesk"]
    assert settings["ConfigurationDirectory"] == ["statusdesk"]
    assert all(":/etc/statusdesk/credentials/" in c for c in settings["LoadCredential"])
    assert settings["StandardInput"] == ["null"]  # with console: false (README)
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
                "MemoryDenyWriteExecute", "RestrictSUIDSGID", "LockPersonality"):
        assert settings[key] == ["yes"], key
    assert settings["ProtectSystem"] == ["strict"]
    assert settings["CapabilityBoundingSet"] == [""]
    assert settings["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert "@system-service" in settings["SystemCallFilter"]


PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
"""Linux 6.3+: the process may never map memory writable and executable, the kernel's own
form of systemd's MemoryDenyWriteExecute= (which systemd 252 builds from seccomp rules on
mmap/mprotect)."""


def deny_write_execute() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE) refused")


PROBE = """
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    print("writable+executable allowed")
except PermissionError:
    print("writable+executable refused")
# What the Matrix transport's end-to-end encryption and a ctypes callback (libffi) need.
import ctypes, nio.crypto, vodozemac
account = vodozemac.Account()
account.sign(b"x")
print("callback", ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)())
"""


def test_memory_deny_write_execute_breaks_nothing_it_loads() -> None:
    try:
        subprocess.run([sys.executable, "-c", ""], check=True, preexec_fn=deny_write_execute)
    except subprocess.SubprocessError as error:
        pytest.fail(f"this kernel cannot deny write+execute (Linux 6.3+): {error}")
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           timeout=60, check=False, preexec_fn=deny_write_execute)
    assert probe.stdout.splitlines() == ["writable+executable refused", "callback 7"], (
        probe.stdout + probe.stderr)


async def test_the_bot_runs_with_memory_deny_write_execute(
        tmp_path: Path, ngircd: NgircdServer, pg_url: str) -> None:
    """IRC, PostgreSQL (asyncpg), the page, on uvloop, under the kernel's write-xor-execute."""
    channel = unique("#mdwe-")
    config, port = irc_config(tmp_path, "mdwe", pg_url, ngircd, unique("sd"), [channel])
    bot = Bot(config, tmp_path, preexec=deny_write_execute)
    try:
        await until(lambda: irc_joined(port, [channel]), 30, "bot joined under MDWE")
        status, _, body = http_get(port, "/")
        assert status == 200, body
        assert bot.process.poll() is None
    finally:
        bot.process.send_signal(signal.SIGTERM)
        code = bot.process.wait(timeout=30)
    stderr = bot.stderr()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr


def system_calls(group: str) -> set[str]:
    """The system calls in one of systemd's groups (`@system-service`), groups expanded, as
    systemd-analyze lists them."""
    listed = subprocess.run([systemd_analyze(), "syscall-filter", group], capture_output=True,
                            text=True, timeout=60, check=True).stdout
    calls: set[str] = set()
    for line in listed.splitlines()[1:]:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        calls |= system_calls(name) if name.startswith("@") else {name}
    return calls


def allowed_system_calls() -> set[str]:
    """What the unit's SystemCallFilter= lines let through: the first is an allow list, each
    `~` one takes from it."""
    allowed: set[str] = set()
    for entry in unit_settings()["SystemCallFilter"]:
        if entry.startswith("~"):
            for group in entry[1:].split():
                allowed -= system_calls(group)
        else:
            for group in entry.split():
                allowed |= system_calls(group)
    return allowed


def start_traced(strace: str, trace: Path, config: Path, log: Path
                 ) -> subprocess.Popen[bytes]:
    """`statusdesk run` under strace, every thread's calls into `trace`, its log in `log`."""
    with log.open("w") as stderr:
        return subprocess.Popen(
            [strace, "-f", "-qq", "-o", str(trace), sys.executable, "-m", "bot.cli", "run",
             "-c", str(config)], cwd=config.parent, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr)


def child_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


TRACED_CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")


async def test_the_bot_makes_only_system_calls_the_unit_allows(
        tmp_path: Path, ngircd: NgircdServer, pg_url: str) -> None:
    """Every system call of a bot that starts, migrates PostgreSQL, joins IRC, applies a
    command, serves its page and metrics, reloads and stops (traced by strace) is one the
    unit's filter allows: a call outside it would fail with EPERM under systemd."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace not found: install Debian's strace package "
                    "(tests/servers/install.sh does)")
    channel = unique("#calls-")
    config, port = irc_config(tmp_path, "calls", pg_url, ngircd, unique("sd"), [channel])
    trace = tmp_path / "trace"
    log = tmp_path / "log"
    tracer = start_traced(strace, trace, config, log)
    alice = watcher = None
    try:
        await until(lambda: irc_joined(port, [channel]), 60, "traced bot joined")
        bot_pid = child_of(tracer.pid)
        watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
        await watcher.join(channel)
        alice = await RawClient.connect(ngircd.host, ngircd.port, "alice")
        await alice.join(channel)
        await alice.say(channel, "#status alert Gate is down")
        await watcher.wait_for(lambda m: m.command == "NOTICE" and "Gate is down" in m.text,
                               within=30)
        for path in ("/", "/metrics", "/api/v2/summary.json"):
            status, _, body = http_get(port, path)
            assert status == 200, (path, body[:200])
        os.kill(bot_pid, signal.SIGHUP)
        await until(lambda: "configuration reloaded" in log.read_text(), 30, "reloaded")
        os.kill(bot_pid, signal.SIGTERM)
        assert tracer.wait(timeout=60) == 0, log.read_text()
    finally:
        for client in (alice, watcher):
            if client is not None:
                await client.close()
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
    used = {found[1] for line in trace.read_text().splitlines()
            if (found := TRACED_CALL.match(line))}
    assert len(used) > 40, sorted(used)  # the trace is real
    assert sorted(used - allowed_system_calls()) == []
    # RestrictAddressFamilies=: the sockets it opens are of those families only.
    families = set(re.findall(r"\bsocket(?:pair)?\((AF_[A-Z0-9]+)", trace.read_text()))
    allowed_families = set(unit_settings()["RestrictAddressFamilies"][0].split())
    assert families and families <= allowed_families, families


def service_section_yaml() -> list[str]:
    """The configuration examples of README "Running as a service"."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Running as a service"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


def test_the_readme_service_configurations_load_with_their_credentials(tmp_path: Path
                                                                       ) -> None:
    """As the unit runs them: every secret from $CREDENTIALS_DIRECTORY (what LoadCredential=
    fills), the credentials the single-host example names being those the unit loads."""
    examples = service_section_yaml()
    assert len(examples) == 2
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    loaded = {line.split("=", 1)[1].split(":", 1)[0]
              for line in UNIT.read_text().splitlines() if line.startswith("LoadCredential=")}
    assert set(re.findall(r"\$\{cred:([^}]+)\}", examples[0])) <= loaded
    for name in {*loaded, "pg-password"}:  # the two-host example's drop-in adds pg-password
        (credentials / name).write_text(f"secret {name}\n")
    for number, example in enumerate(examples):
        config = tmp_path / f"example{number}.yaml"
        config.write_text(example.replace("/var/lib/statusdesk/", f"{tmp_path}/"))
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "check-config", "-c", str(config)],
            capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
            env={**os.environ, "CREDENTIALS_DIRECTORY": str(credentials)})
        assert (result.returncode, result.stdout.strip()) == (0, f"{config}: ok"), (
            result.stdout + result.stderr)
    # Without the credentials the unit provides, the same file is refused.
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config", "-c", str(tmp_path / "example0.yaml")],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"})
    assert result.returncode == 2 and "cred:" in result.stderr, result.stderr
