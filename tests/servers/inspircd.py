"""A throwaway InspIRCd 3 with Anope 2.0 services linked to it, both on loopback ports.

The configuration follows irctest's InspIRCd and Anope controllers: InspIRCd with the IRCv3
modules (account-tag, account-notify, extended-join, message-tags, server-time, multi-prefix)
and SASL pointed at the services server; Anope with the inspircd3 protocol module, NickServ
(registration without e-mail) and m_sasl. Accounts live in memory only. As root, InspIRCd
needs `--runasroot`; Anope only warns.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.ports import free_port

SERVICES = "services.statusdesk.test"
LINK_PASSWORD = "statusdesk-link"

INSPIRCD_CONF = """\
<server name="irc.statusdesk.test" description="statusdesk test server" id="000" network="testnet">
<admin name="statusdesk tests" nick="admin" email="admin@statusdesk.test">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{link_port}" type="servers">
<connect allow="*" resolvehostnames="no" useident="no" recvq="40960" timeout="20"
         localmax="1000" globalmax="1000" maxchans="100"{connect_options}>
<pid file="{dir}/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{dir}/inspircd.log">
<options casemapping="ascii">
<security announceinvites="none">
<link name="{services}" ipaddr="127.0.0.1" port="{link_port}" allowmask="127.0.0.1"
      recvpass="{password}" sendpass="{password}">
<uline server="{services}" silent="yes">
<module name="spanningtree">
<module name="hidechans">
<module name="services_account">
<module name="svshold">
<module name="cap">
<module name="ircv3">
<module name="ircv3_accounttag">
<module name="ircv3_capnotify">
<module name="ircv3_ctctags">
<module name="ircv3_msgid">
<module name="ircv3_servertime">
<module name="namesx">
<module name="sasl">
<sasl requiressl="no" target="{services}">
"""

ANOPE_CONF = """\
serverinfo {{
    name = "{services}"
    description = "statusdesk test services"
    numeric = "00A"
    pid = "services.pid"
    motd = "conf/empty_file"
}}
uplink {{
    host = "127.0.0.1"
    port = {link_port}
    password = "{password}"
}}
module {{ name = "inspircd3" }}
networkinfo {{
    networkname = "testnet"
    nicklen = 31
    userlen = 10
    hostlen = 64
    chanlen = 32
}}
options {{
    casemap = "ascii"
    readtimeout = 5s
    warningtimeout = 4h
    seed = 7481263
}}
mail {{ usemail = no }}
service {{
    nick = "NickServ"
    user = "services"
    host = "{services}"
    gecos = "Nickname Registration Service"
}}
module {{
    name = "nickserv"
    client = "NickServ"
    forceemail = no
    minpasslen = 5
    maxpasslen = 100
}}
command {{ service = "NickServ"; name = "HELP"; command = "generic/help"; }}
module {{ name = "ns_register"; registration = "none"; }}
command {{ service = "NickServ"; name = "REGISTER"; command = "nickserv/register"; }}
module {{ name = "ns_identify" }}
command {{ service = "NickServ"; name = "IDENTIFY"; command = "nickserv/identify"; }}
module {{ name = "m_sasl" }}
module {{ name = "enc_sha256" }}
"""


class ServerUnavailable(RuntimeError):
    """InspIRCd or Anope could not be found or started here."""


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or f"/usr/sbin/{name}"
    if not Path(found).exists():
        raise ServerUnavailable(f"{name} not found: install Debian's {package} package "
                                "(make test does)")
    return found


@dataclass
class InspircdServer:
    port: int
    link_port: int
    directory: Path
    account_tag: bool = True
    """False leaves out the account-tag capability: clients must ask (WHOX) who is who."""
    ircv3: bool = True
    """False also leaves out account-notify and extended-join: nothing tells a client of
    logins, so it must ask at every command."""
    connect_options: str = ""
    """More attributes of the clients' `<connect>` class (` commandrate="2000"`, say)."""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> None:
        inspircd = _binary("inspircd", "inspircd")
        anope = _binary("anope", "anope")
        values = {"port": self.port, "link_port": self.link_port, "dir": self.directory,
                  "services": SERVICES, "password": LINK_PASSWORD,
                  "connect_options": self.connect_options}
        config = INSPIRCD_CONF.format(**values)
        if not self.account_tag:
            config = config.replace('<module name="ircv3_accounttag">\n', "")
        if not self.ircv3:
            config = config.replace('<module name="ircv3">\n', "")
        (self.directory / "inspircd.conf").write_text(config)
        for sub in ("conf", "data", "logs"):
            (self.directory / sub).mkdir(exist_ok=True)
        (self.directory / "conf" / "services.conf").write_text(ANOPE_CONF.format(**values))
        (self.directory / "conf" / "empty_file").write_text("")
        self._spawn("inspircd", [inspircd, "--runasroot", "--nofork", "--config",
                                 str(self.directory / "inspircd.conf")])
        self._wait_listening(self.port)
        modules = next((p for p in ("/usr/lib/anope", "/usr/lib64/anope")
                        if Path(p, "modules").is_dir()), "/usr/lib/anope")
        self._spawn("anope", [anope, "--config=services.conf",
                              f"--confdir={self.directory / 'conf'}",
                              f"--dbdir={self.directory / 'data'}",
                              f"--logdir={self.directory / 'logs'}",
                              f"--modulesdir={modules}", "--nofork"])
        self._wait_for_sasl()

    def _spawn(self, name: str, command: list[str]) -> None:
        output = (self.directory / f"{name}.out").open("ab")
        self.processes.append(subprocess.Popen(
            command, cwd=self.directory, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        ))

    def _failed(self, what: str) -> ServerUnavailable:
        logs = "".join(
            f"\n--- {p.name}\n" + p.read_text(errors="replace")[-1500:]
            for p in sorted(self.directory.glob("*.out"))
        )
        self.stop()
        return ServerUnavailable(f"{what}{logs}")

    def _wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise self._failed("a server exited at start")
            try:
                with socket.create_connection((self.host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise self._failed(f"nothing listens on port {port}")

    def _wait_for_sasl(self) -> None:
        """Services are linked once the server offers SASL (it does only with them)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise self._failed("a server exited at start")
            with socket.create_connection((self.host, self.port), timeout=5) as sock:
                sock.sendall(b"CAP LS 302\r\n")
                sock.settimeout(5)
                reply = b""
                while b"LS" not in reply:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
                if b"sasl" in reply:
                    return
            time.sleep(0.3)
        raise self._failed("the services never linked (no SASL offered)")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.kill()
                process.wait(10)
        self.processes.clear()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    async def register(self, account: str, password: str) -> None:
        """Register a services account (NickServ REGISTER, as its own nick)."""
        from tests.irc_client import RawClient

        client = await RawClient.connect(self.host, self.port, account)
        try:
            await client.say("NickServ", f"REGISTER {password} {account}@statusdesk.test")
            await client.wait_for(lambda m: m.command == "900", within=20)
        finally:
            await client.close()
        await asyncio.sleep(0.2)


def start_inspircd(*, account_tag: bool = True, ircv3: bool = True,
                   connect_options: str = "") -> InspircdServer:
    server = InspircdServer(free_port(), free_port(),
                            Path(tempfile.mkdtemp(prefix="statusdesk-inspircd-")),
                            account_tag=account_tag, ircv3=ircv3,
                            connect_options=connect_options)
    server.start()
    return server
