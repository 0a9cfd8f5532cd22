"""How many HTTP connections the status page may hold: what the process's open-file limit
leaves after a reserve for everything else.

Every connection is a file descriptor. When a crowd of idle connections took them all, the
page went down (accept() failed, `/` and `/healthz` were reset) and so would IRC reconnects,
new database connections and export files. The page now stops short of the limit, by
`status_page.limits.reserve_fds` plus room for one burst of accepts.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("statusdesk.web")

LISTEN_BACKLOG = 512
"""The kernel's queue of connections not yet accepted (aiohttp's default is 128). A crowd
fills a short queue, and then a health check's SYN is dropped and retried a second later;
a longer one is drained in one go by the event loop."""

BURST_ROOM = 2 * LISTEN_BACKLOG
"""A full queue is accepted in one go before the oldest connections can be closed to make
room, and the ones closed give their descriptors back one loop turn later."""

MAX_CONNECTIONS = 65_536
"""Past this many, memory (some 10 KB a connection) matters more than open files."""

MIN_CONNECTIONS = 16

_NR_OPEN = Path("/proc/sys/fs/nr_open")


@dataclass(frozen=True, slots=True)
class ConnectionBudget:
    open_files: int
    """The process's open-file limit (soft), after raising it."""
    reserve: int
    max_connections: int
    squeezed: bool
    """The limit is too low for the reserve: the page got a quarter of it instead."""


def connection_budget(open_files: int, reserve: int) -> ConnectionBudget:
    """HTTP connections allowed under `open_files`, keeping `reserve` for the rest."""
    room = open_files - reserve - BURST_ROOM
    if room < MIN_CONNECTIONS:
        return ConnectionBudget(open_files, reserve,
                                max(MIN_CONNECTIONS, open_files // 4), squeezed=True)
    return ConnectionBudget(open_files, reserve, min(room, MAX_CONNECTIONS), squeezed=False)


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (what daemons commonly do: the soft
    default of 1024 dates from select()); the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        # "Unlimited" is refused for open files; the kernel's ceiling is nr_open.
        try:
            target = int(_NR_OPEN.read_text())
        except (OSError, ValueError):
            target = 1_048_576
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as error:
            log.warning("could not raise the open-file limit from %d to %d: %s",
                        soft, target, error)
    return current_open_file_limit()


def current_open_file_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1_048_576
