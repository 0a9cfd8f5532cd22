"""contrib/systemd/statusdesk.service started by a real systemd, installed as README
"Running as a service" says: a venv at /opt/statusdesk made with /usr/bin/python3, the
configuration in /etc/statusdesk with its secrets as LoadCredential= files read through
`${cred:NAME}`, `systemctl start / reload / stop`, and the watchdog restarting a frozen bot.

The machine's PID 1 is not systemd, so the test boots one: systemd 252 as PID 1 of a new
PID, mount, UTS, IPC and cgroup namespace, as a container (`container=` set, its own cgroup2
hierarchy). Nothing it does reaches the host: /etc, /opt and /var/lib are overlays whose
writes land in the test's directory, /run, /dev and /etc/systemd/system are its own, and it
loads only the units it is given (`$SYSTEMD_UNIT_PATH`: a few targets and journald), so
none of the host's installed services start. It shares the host's network: the bot's page
and ngIRCd are on free loopback ports.

Needs root, /lib/systemd/systemd, util-linux's unshare/nsenter, overlayfs and ngIRCd; a
minute or two (the venv is built by pip each time). Marked soak: `make test-soak`, or
`pytest -m soak tests/reliability/test_systemd_boot.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.console_bot import http_get
from tests.servers.ngircd import NgircdServer
from tests.servers.ports import free_port

pytestmark = pytest.mark.soak

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "contrib" / "systemd" / "statusdesk.service"
SYSTEMD = Path("/lib/systemd/systemd")
IRC_PASSWORD = "s3cret-irc"
WATCHDOG_SEC = 4

UNITS = (
    "basic.target", "sysinit.target", "shutdown.target", "sockets.target", "network.target",
    "network-online.target", "multi-user.target", "final.target", "umount.target", "exit.target",
    "poweroff.target", "halt.target", "reboot.target", "paths.target", "timers.target",
    "slices.target", "local-fs.target", "emergency.target", "rescue.target",
    "systemd-journald.service", "systemd-journald.socket", "systemd-journald-dev-log.socket",
    "systemd-exit.service", "systemd-poweroff.service", "systemd-halt.service",
    "systemd-reboot.service",
)
"""The units the booted systemd may load, copied from Debian's /lib/systemd/system without
their .wants directories: the targets a service is ordered against, and journald."""

BOOT = r"""#!/bin/sh
# In: unshare --pid --fork --mount --uts --ipc --cgroup --propagation private
set -e
W="$1"
cd /
for d in etc opt var/lib; do
  n=$(echo "$d" | tr / -)
  mkdir -p "$W/$n-up" "$W/$n-work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$W/$n-up,workdir=$W/$n-work" "/$d"
done
mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system
mount -t proc proc /proc
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# A /dev of its own: journald's /dev/log symlink must not land in the host's devtmpfs.
mkdir -p "$W/hostdev"
mount --rbind /dev "$W/hostdev"
mount -t tmpfs -o mode=755,nosuid tmpfs /dev
for n in null zero full random urandom tty; do
  touch "/dev/$n"; mount --bind "$W/hostdev/$n" "/dev/$n"
done
umount -l "$W/hostdev"
mkdir /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue || true
ln -s /proc/self/fd /dev/fd
# systemd makes / shared itself, but not in a container; LoadCredential= mounts the
# credentials in a child namespace and needs them to propagate back to this one.
mount --make-rshared /
hostname statusdesk-systemd-test
export container=statusdesk-test SYSTEMD_UNIT_PATH="/etc/systemd/system:$W/units"
exec /lib/systemd/systemd --system --unit=multi-user.target --log-target=journal-or-kmsg
"""


class Booted:
    """The booted systemd: commands run inside its namespaces."""

    def __init__(self, outer: subprocess.Popen[bytes], pid1: int) -> None:
        self.outer = outer
        self.pid1 = pid1

    def run(self, command: str, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.pid1), "-m", "-p", "-u", "-i", "-C",
             "/bin/sh", "-c", command],
            input=input, capture_output=True, text=True, timeout=timeout, check=False)

    def ok(self, command: str, input: str | None = None, timeout: float = 60) -> str:
        done = self.run(command, input, timeout)
        assert done.returncode == 0, (f"{command}: exit {done.returncode}\n"
                                      f"{done.stdout}\n{done.stderr}")
        return done.stdout

    def show(self, *properties: str) -> dict[str, str]:
        out = self.ok("systemctl show statusdesk " + " ".join(f"-p {p}" for p in properties))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self) -> str:
        return self.ok("journalctl -b -o cat --no-pager "
                       "_SYSTEMD_UNIT=statusdesk.service + UNIT=statusdesk.service")

    def journal_with(self, *lines: str, within: float = 15) -> str:
        """The journal once it has every one of `lines` (journald writes them a moment
        after the bot and systemd say them)."""
        deadline = time.monotonic() + within
        while True:
            journal = self.journal()
            if all(line in journal for line in lines):
                return journal
            assert time.monotonic() < deadline, f"not in the journal: {lines}\n{journal}"
            time.sleep(0.2)


def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {within}s")


def need(thing: str) -> str:
    found = shutil.which(thing)
    if found is None:
        pytest.fail(f"{thing} not found (util-linux)")
    return found


@pytest.fixture()
def booted(tmp_path: Path) -> Iterator[Booted]:
    if os.geteuid() != 0:
        pytest.fail("booting systemd in namespaces needs root")
    if not SYSTEMD.exists():
        pytest.fail(f"{SYSTEMD} not found: install Debian's systemd package")
    unshare = need("unshare")
    need("nsenter")
    work = tmp_path / "systemd"
    units = work / "units"
    (units / "sockets.target.wants").mkdir(parents=True)
    for name in UNITS:
        source = Path("/lib/systemd/system") / name
        if source.exists():
            shutil.copy(source, units / name)
    for socket_unit in ("systemd-journald.socket", "systemd-journald-dev-log.socket"):
        (units / "sockets.target.wants" / socket_unit).symlink_to(f"../{socket_unit}")
    boot = work / "boot.sh"
    boot.write_text(BOOT)
    boot.chmod(0o755)
    log = (work / "boot.log").open("wb")
    outer = subprocess.Popen(
        [unshare, "--pid", "--fork", "--mount", "--uts", "--ipc", "--cgroup",
         "--propagation", "private", str(boot), str(work)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)

    def pid1() -> int | None:
        # unshare's forked child, once it has exec'd systemd.
        for child in Path("/proc").glob(f"{outer.pid}/task/*/children"):
            for pid in child.read_text().split():
                if Path(f"/proc/{pid}/exe").resolve() == SYSTEMD.resolve():
                    return int(pid)
        return None

    try:
        wait_for(lambda: pid1() is not None or outer.poll() is not None, 30, "systemd started")
        found = pid1()
        assert found is not None, (work / "boot.log").read_text(errors="replace")
        machine = Booted(outer, found)
        wait_for(lambda: machine.run("systemctl is-system-running").stdout.strip()
                 in ("running", "degraded"), 60, "systemd booted")
        yield machine
    finally:
        if outer.poll() is None:
            with_pid1 = pid1()
            if with_pid1 is not None:
                subprocess.run(["nsenter", "-t", str(with_pid1), "-m", "-p",
                                "systemctl", "poweroff", "--no-block"],
                               capture_output=True, timeout=30, check=False)
            try:
                outer.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(outer.pid, signal.SIGKILL)
                outer.wait(10)
        log.close()


@pytest.fixture()
def ngircd(tmp_path: Path) -> Iterator[NgircdServer]:
    directory = tmp_path / "ngircd"
    directory.mkdir()
    server = NgircdServer(port=free_port(), directory=directory, password=IRC_PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def config(ngircd: NgircdServer, page_port: int, users: str) -> str:
    return f"""\
database:
  url: sqlite+aiosqlite:////var/lib/statusdesk/statusdesk.db
console: false
irc:
  - name: testnet
    host: 127.0.0.1
    port: {ngircd.port}
    tls: false
    nick: statusdesk
    channels: ["#example-ops"]
    password: "${{cred:irc-password}}"
status_page:
  listen: 127.0.0.1:{page_port}
  api_token: "${{cred:api-token}}"
components:
  - name: api
users:
{users}"""


ALICE = "  - name: alice\n    roles: [status, incident]\n    irc: {nick: alice}\n"
BOB = "  - name: bob\n    roles: [status]\n    irc: {nick: bob}\n"


def health(port: int) -> dict[str, object]:
    _, _, body = http_get(port, "/healthz")
    detail: dict[str, object] = json.loads(body)
    return detail


def irc_state(port: int) -> dict[str, object]:
    transports = health(port)["transports"]
    assert isinstance(transports, dict)
    state: dict[str, object] = transports["irc/testnet"]
    return state


def test_the_unit_under_a_real_systemd(booted: Booted, ngircd: NgircdServer) -> None:
    page_port = free_port()
    # README "Installing it", step by step.
    booted.ok(f"/usr/bin/python3 -m venv /opt/statusdesk && "
              f"/opt/statusdesk/bin/pip install -q '{REPO}'", timeout=900)
    booted.ok("install -d -m 0755 /etc/statusdesk && "
              "install -d -m 0700 /etc/statusdesk/credentials")
    booted.ok("cat > /etc/statusdesk/config.yaml", input=config(ngircd, page_port, ALICE))
    booted.ok(f"printf '%s' '{IRC_PASSWORD}' > /etc/statusdesk/credentials/irc-password && "
              "printf '%s' 'the API token' > /etc/statusdesk/credentials/api-token && "
              "chmod 0600 /etc/statusdesk/credentials/*")
    booted.ok(f"cp '{UNIT}' /etc/systemd/system/ && "
              "systemd-analyze verify /etc/systemd/system/statusdesk.service")
    # The watchdog experiment's period, as README suggests changing things: a drop-in.
    booted.ok("mkdir -p /etc/systemd/system/statusdesk.service.d && cat > "
              "/etc/systemd/system/statusdesk.service.d/watchdog.conf",
              input=f"[Service]\nWatchdogSec={WATCHDOG_SEC}s\n")
    booted.ok("systemctl daemon-reload")

    # Type=notify: `start` returns once the bot said READY=1, which it says after its page
    # serves: the page answers at once, no retry.
    booted.ok("systemctl start statusdesk", timeout=180)
    state = booted.show("ActiveState", "SubState", "StatusText", "MainPID", "NRestarts")
    assert (state["ActiveState"], state["SubState"]) == ("active", "running"), state
    assert state["StatusText"].startswith("leading with 1 chat transport(s)"), state
    assert health(page_port)["role"] == "leader"
    first_pid = state["MainPID"]

    # ${cred:irc-password}: the server lets nobody in without it.
    wait_for(lambda: irc_state(page_port)["connected"] is True, 30, "IRC logged in")
    # The sandbox was applied: the dynamic user, no capabilities, the seccomp filter.
    status = booted.ok(f"cat /proc/{first_pid}/status")
    assert "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status, status
    assert "CapEff:\t0000000000000000" in status, status
    assert booted.ok(f"grep '^Uid:' /proc/{first_pid}/status").split()[1] != "0"

    # The bot lives on its own pings for longer than WatchdogSec.
    time.sleep(WATCHDOG_SEC * 1.5)
    assert booted.show("MainPID", "NRestarts") == {"MainPID": first_pid, "NRestarts": "0"}

    # Reload: a user added; systemd waits for the bot's READY=1; the connection stays.
    booted.ok("cat > /etc/statusdesk/config.yaml", input=config(ngircd, page_port, BOB + ALICE))
    booted.ok("systemctl reload statusdesk")
    journal = booted.journal_with("configuration reloaded from /etc/statusdesk/config.yaml: users",
                                  "Reloaded statusdesk")
    assert journal.index("configuration reloaded from") < journal.rindex("Reloaded statusdesk"), \
        journal
    # A refused file: exit 0 all the same (README says so), the old configuration stays.
    booted.ok("sed -i 's/roles: \\[status\\]/roles: [status, incidnt]/' "
              "/etc/statusdesk/config.yaml && systemctl reload statusdesk")
    booted.journal_with('users[0].roles[1]: unknown role "incidnt"')
    # The file is still broken: the restart below would read it.
    booted.ok("cat > /etc/statusdesk/config.yaml", input=config(ngircd, page_port, BOB + ALICE))
    assert booted.show("ActiveState", "MainPID") == {"ActiveState": "active",
                                                      "MainPID": first_pid}
    assert irc_state(page_port)["connects"] == 1

    # Frozen: the pings stop, systemd aborts it (stacks in the journal) and starts another.
    booted.ok(f"kill -STOP {first_pid}")
    wait_for(lambda: booted.show("NRestarts")["NRestarts"] == "1", WATCHDOG_SEC + 20,
             "restarted by the watchdog")
    try:
        wait_for(lambda: booted.show("ActiveState")["ActiveState"] == "active", 60,
                 "active again")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{booted.journal()}") from None
    booted.journal_with(f"Watchdog timeout (limit {WATCHDOG_SEC}s)!",
                        "Fatal Python error: Aborted", "Failed with result 'watchdog'")
    assert booted.show("MainPID")["MainPID"] != first_pid
    assert health(page_port)["role"] == "leader"
    wait_for(lambda: irc_state(page_port)["connected"] is True, 30, "IRC logged in again")

    # Stop: STOPPING=1 with its status, QUIT to the server, exit 0.
    booted.ok("systemctl stop statusdesk", timeout=60)
    state = booted.show("ActiveState", "Result", "StatusText", "ExecMainStatus")
    assert state == {"ActiveState": "inactive", "Result": "success",
                     "StatusText": "shutting down", "ExecMainStatus": "0"}, state
    wait_for(lambda: "Got QUIT command" in (ngircd.directory / "ngircd.log").read_text(
        errors="replace"), 10, "QUIT seen by ngIRCd")

    # A configuration that does not load: exit 2, and no restart loop
    # (RestartPreventExitStatus=2).
    booted.ok("sed -i 's/roles: \\[status\\]/roles: [status, incidnt]/' "
              "/etc/statusdesk/config.yaml")
    assert booted.run("systemctl start statusdesk", timeout=60).returncode != 0
    time.sleep(7)  # longer than RestartSec=5s
    state = booted.show("ActiveState", "Result", "ExecMainStatus", "NRestarts")
    assert state == {"ActiveState": "failed", "Result": "exit-code", "ExecMainStatus": "2",
                     "NRestarts": "0"}, state
