"""systemd's service notification protocol (sd_notify(3)), spoken directly: one datagram of
`KEY=value` lines to the socket named by `$NOTIFY_SOCKET`. No library: the protocol is that
datagram, and the message is tiny.

Under `Type=notify` systemd waits for `READY=1` before it calls the unit started; with
`WatchdogSec=` it restarts the service when `WATCHDOG=1` stops arriving. The watchdog pings
come from a task on the event loop, so a loop that hangs (a blocking call, a busy loop) stops
pinging and gets restarted: a ping from a thread would keep a hung bot alive.

Outside systemd (no `$NOTIFY_SOCKET`) every method does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger("statusdesk.service")


def socket_address(name: str) -> str | bytes:
    """The address `$NOTIFY_SOCKET` names: a path, or with a leading `@` a name in Linux's
    abstract namespace (a leading NUL byte instead of the `@`)."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


def watchdog_period(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds systemd allows between pings (`$WATCHDOG_USEC`), None when the watchdog is off
    or meant for another process (`$WATCHDOG_PID` names another one)."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000


class ServiceNotifier:
    """Tells the service manager how this process is doing. Never raises: a service manager
    that went away must not take the bot down with it."""

    def __init__(self, notify_socket: str | None, watchdog: float | None = None) -> None:
        self._address = socket_address(notify_socket) if notify_socket else None
        self._socket: socket.socket | None = None
        self.watchdog_period = watchdog
        """Seconds between the pings systemd insists on (None: no watchdog)."""
        self.ready_sent = False
        self.stopping_sent = False
        self._pinger: asyncio.Task[None] | None = None
        self._warned = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServiceNotifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_period(env, os.getpid()))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *lines: str) -> None:
        """One notification: `lines` are `KEY=value` (a value holds no newline)."""
        if self._address is None:
            return
        message = "\n".join(line.replace("\n", " ") for line in lines).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX,
                                             socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)
            self._socket.sendto(message, self._address)
        except OSError as error:
            # Said once: a missing socket would otherwise fill the log at every ping.
            if not self._warned:
                self._warned = True
                log.warning("could not notify the service manager at $NOTIFY_SOCKET: %s",
                            error.strerror or error)

    def ready(self, status: str) -> None:
        """The service is up (only the first call says READY=1; later ones update STATUS)."""
        if self.ready_sent:
            self.status(status)
            return
        self.ready_sent = True
        self.send("READY=1", f"STATUS={status}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def reloading(self) -> None:
        """A reload starts; `reloaded()` says it ended. MONOTONIC_USEC is what systemd 253+
        requires with RELOADING=1 (and older ones ignore). Before READY=1 the service is
        still starting: only the status changes (a READY=1 would come too early)."""
        if not self.ready_sent:
            self.status("reloading the configuration")
            return
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading the configuration")

    def reloaded(self, status: str) -> None:
        if not self.ready_sent:
            self.status(status)
            return
        self.send("READY=1", f"STATUS={status}")

    def stopping(self, status: str = "shutting down") -> None:
        if self.stopping_sent:
            return
        self.stopping_sent = True
        self.send("STOPPING=1", f"STATUS={status}")

    def start_watchdog(self) -> None:
        """Ping at half the period, from the running event loop, until `stop_watchdog()`."""
        if self._address is None or self.watchdog_period is None or self._pinger is not None:
            return
        self._pinger = asyncio.create_task(self._ping(self.watchdog_period / 2),
                                           name="watchdog")

    async def stop_watchdog(self) -> None:
        if self._pinger is None:
            return
        self._pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pinger
        self._pinger = None

    async def _ping(self, interval: float) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
