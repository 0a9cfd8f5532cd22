"""A throwaway ngIRCd on a free loopback port, for the IRC tests.

`--nodaemon` keeps it in the foreground so the tests own the process; `restart()` brings it
back on the same port (a fresh server: channels and topics are gone, as after a real crash).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.ports import free_port

CONFIG = """\
[Global]
Name = irc.statusdesk.test
Info = statusdesk test server
Listen = 127.0.0.1
Ports = {port}
PidFile = {dir}/ngircd.pid
MotdPhrase = statusdesk test server

[Limits]
MaxJoins = 200
MaxConnectionsIP = 0
MaxNickLength = {nick_length}
PingTimeout = 120
PongTimeout = 20

[Options]
PAM = no
Ident = no
DNS = no

[Operator]
Name = {oper_name}
Password = {oper_password}
"""

OPERATOR = ("flood-tester", "flood-tester-pw")
"""An IRC operator the abuse tests log in as to set user mode +F ("relaxed flood
protection"): without it ngIRCd itself throttles a flooding client to about 3 lines a second,
and the bot would never see a real flood."""

TLS = """
[SSL]
CertFile = {dir}/cert.pem
KeyFile = {dir}/key.pem
Ports = {tls_port}
"""


class ServerUnavailable(RuntimeError):
    """ngircd could not be found or started here."""


@dataclass
class NgircdServer:
    port: int
    directory: Path
    tls_port: int | None = None
    """With a port here, also TLS on it, with a self-signed certificate for 127.0.0.1."""
    password: str | None = None
    nick_length: int = 30
    """MaxNickLength; ngIRCd's own default is 9 (RFC 1459)."""
    unthrottled: bool = False
    """No flood penalty for anyone (`MaxPenaltyTime = 0`): for the soak, whose clients send
    as fast as the bot reads; ngIRCd otherwise lets a client send about a line a second."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> None:
        binary = shutil.which("ngircd") or "/usr/sbin/ngircd"
        if not Path(binary).exists():
            raise ServerUnavailable("ngircd not found: install Debian's ngircd package "
                                    "(make test does)")
        config = self.directory / "ngircd.conf"
        text = CONFIG.format(port=self.port, dir=self.directory, oper_name=OPERATOR[0],
                             oper_password=OPERATOR[1], nick_length=self.nick_length)
        if self.password:
            text = text.replace("[Limits]", f"Password = {self.password}\n\n[Limits]")
        if self.unthrottled:
            text = text.replace("[Limits]\n", "[Limits]\nMaxPenaltyTime = 0\n")
        if self.tls_port:
            self._make_certificate()
            text += TLS.format(dir=self.directory, tls_port=self.tls_port)
        config.write_text(text)
        log = (self.directory / "ngircd.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "--nodaemon", "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerUnavailable(
                    f"ngircd exited with {self.process.returncode}: "
                    + (self.directory / "ngircd.log").read_text(errors="replace")[-2000:])
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise ServerUnavailable(f"ngircd did not listen on port {self.port}")

    def _make_certificate(self) -> None:
        if (self.directory / "cert.pem").exists():
            return
        openssl = shutil.which("openssl")
        if openssl is None:
            raise ServerUnavailable("openssl not found (needed for the TLS test server)")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(self.directory / "key.pem"),
             "-out", str(self.directory / "cert.pem")],
            check=True, capture_output=True, timeout=60,
        )
        # ngIRCd drops root for "nobody" and must still read them.
        self.directory.chmod(0o755)
        for name in ("key.pem", "cert.pem"):
            (self.directory / name).chmod(0o644)

    def stop(self) -> None:
        """Kill it (SIGKILL: like a crash, no goodbye to the clients)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_ngircd(*, tls: bool = False, password: str | None = None,
                 unthrottled: bool = False, nick_length: int = 30) -> NgircdServer:
    server = NgircdServer(free_port(), Path(tempfile.mkdtemp(prefix="statusdesk-ngircd-")),
                          tls_port=free_port() if tls else None, password=password,
                          unthrottled=unthrottled, nick_length=nick_length)
    server.start()
    return server
