"""The status page's limits, built from `status_page.limits` and the open-file limit: one
place that says how much of the process a crowd of HTTP clients may hold."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp.typedefs import Middleware

from bot.config import StatusPageLimits
from bot.web.connection_budget import ConnectionBudget, connection_budget
from bot.web.connection_guard import ConnectionGuard
from bot.web.live_clients import LiveClientLimit
from bot.web.request_body import BodyDeadline

log = logging.getLogger("statusdesk.web")

LINGERING_SECONDS = 2.0
"""After answering a request whose body did not all arrive (a 408, a 413), aiohttp reads
and drops the rest for this long before closing, so the client gets the answer rather
than a reset. Its default, 10 s, would let a slow body hold its connection that much
longer."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    budget: ConnectionBudget
    guard: ConnectionGuard
    live: LiveClientLimit
    body: BodyDeadline

    @classmethod
    def from_config(cls, limits: StatusPageLimits, open_files: int) -> HttpLimits:
        budget = connection_budget(open_files, limits.reserve_fds)
        if budget.squeezed:
            log.warning("the open-file limit (%d) is too low for status_page.limits.reserve_fds "
                        "(%d): the status page takes at most %d connections; raise the limit "
                        "(LimitNOFILE= in systemd, ulimit -n)", open_files, limits.reserve_fds,
                        budget.max_connections)
        # Live clients never take more than half the connections: the other half stays
        # for the people loading the page (and for the health checks).
        live_total = min(limits.live_clients, max(1, budget.max_connections // 2))
        if live_total < limits.live_clients:
            log.warning("status_page.limits.live_clients is %d, but %d connections fit in "
                        "the open-file limit: at most %d live-update clients",
                        limits.live_clients, budget.max_connections, live_total)
        live = LiveClientLimit(live_total, min(limits.live_clients_per_address, live_total))
        log.info("status page limits: %d connections (open-file limit %d, %d kept in reserve), "
                 "%d live-update clients (%d per address), request heads within %gs",
                 budget.max_connections, open_files, limits.reserve_fds, live.total,
                 live.per_address, limits.header_timeout.total_seconds())
        return cls(
            budget=budget,
            guard=ConnectionGuard(budget.max_connections,
                                  limits.header_timeout.total_seconds()),
            live=live,
            body=BodyDeadline(limits.body_timeout.total_seconds()),
        )

    def middlewares(self) -> tuple[Middleware, ...]:
        # The guard's first: a request is busy (not evictable) while its body is read too.
        return (self.guard.middleware, self.body.middleware)
