"""/metrics in the Prometheus text format, read from counters the parts keep themselves."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from bot.incidents.metrics import Aggregate, IncidentTimes
from bot.incidents.milestone_tally import TallyReader
from bot.observability.loop_lag import LoopLagMonitor
from bot.web.connection_guard import ConnectionGuard
from bot.web.live_clients import LiveClientLimit
from bot.web.request_body import BodyDeadline

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class MetricSources:
    """Callables read at scrape time; the async ones (database) are read before it."""

    commands: Callable[[], Mapping[str, int]]
    delivered: Callable[[], int]
    delivery_failures: Callable[[], int]
    renders: Callable[[], int]
    render_seconds: Callable[[], float]
    sse_clients: Callable[[], int]
    sse_dropped: Callable[[], int]
    transports_connected: Callable[[], Mapping[str, bool]]
    role: Callable[[], str] = lambda: "leader"
    """`leader` (runs the chat side) or `standby` (serves the page, waits to take over)."""
    lease: Callable[[], Mapping[str, Any]] = lambda: {}
    """The leader lease on PostgreSQL: `term`, `expires_at` (ISO 8601, the database's clock),
    `seconds`; empty on SQLite."""
    outbox_pending: int = 0
    outbox_failed: int = 0
    incidents_open: int = 0
    incident_times: list[IncidentTimes] = field(default_factory=list)
    incident_aggregates: Mapping[str, Aggregate] | None = None
    tally_reader: TallyReader | None = None
    """Count, median and sum per measure (`to_acknowledge`, ...) from running tallies
    (bot/incidents/milestone_tally.py); when set, `incident_times` is not read."""
    loop_lag: LoopLagMonitor | None = None
    asyncio_tasks: Callable[[], int] | None = None
    db_connections: Callable[[], tuple[int, int]] | None = None
    """(checked out, open) connections of the database pool."""
    database_writes_refused: Callable[[], int] | None = None
    """Writes the database refused since start (disk full, read-only), every writer's."""
    database_writable: Callable[[], bool] | None = None
    connections: ConnectionGuard | None = None
    live_clients: LiveClientLimit | None = None
    body_deadline: BodyDeadline | None = None
    open_files_limit: int | None = None


def http_figures(s: MetricSources) -> dict[str, int] | None:
    """What /healthz shows of the HTTP side: cheap counters only (no file counting), so it
    stays fast under a crowd."""
    if s.connections is None:
        return None
    guard = s.connections
    figures = {"connections": guard.open, "waiting": guard.waiting,
               "max_connections": guard.max_connections, "evicted": guard.evicted,
               "refused": guard.refused, "header_timeouts": guard.header_timeouts}
    if s.live_clients is not None:
        figures.update(live_clients=s.live_clients.count, live_clients_max=s.live_clients.total,
                       live_refused=s.live_clients.refused_full
                       + s.live_clients.refused_address)
    if s.body_deadline is not None:
        figures["body_timeouts"] = s.body_deadline.timeouts
    return figures


def open_files() -> int | None:
    """File descriptors the process has open (Linux); None elsewhere."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


class StatusdeskCollector(Collector):
    def __init__(self, sources: MetricSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self._sources
        commands = CounterMetricFamily("statusdesk_commands", "Chat commands by outcome",
                                       labels=["outcome"])
        for outcome in ("accepted", "refused", "usage", "question", "rate_limited",
                        "unwritable"):
            commands.add_metric([outcome], s.commands().get(outcome, 0))
        yield commands
        yield CounterMetricFamily("statusdesk_refusals", "Commands refused for lack of a role",
                                  value=s.commands().get("refused", 0))
        yield CounterMetricFamily("statusdesk_effects_delivered",
                                  "Outbox effects delivered (broadcasts, topics, ...)",
                                  value=s.delivered())
        yield CounterMetricFamily("statusdesk_effects_failed",
                                  "Outbox effects given up on", value=s.delivery_failures())
        yield GaugeMetricFamily("statusdesk_outbox_pending", "Effects waiting for delivery",
                                value=s.outbox_pending)
        yield GaugeMetricFamily("statusdesk_outbox_failed", "Effects kept as failed",
                                value=s.outbox_failed)
        yield CounterMetricFamily("statusdesk_page_renders", "Status page snapshot rebuilds",
                                  value=s.renders())
        yield GaugeMetricFamily("statusdesk_page_render_seconds",
                                "Duration of the last snapshot rebuild",
                                value=s.render_seconds())
        yield GaugeMetricFamily("statusdesk_sse_clients", "Connected /api/events clients",
                                value=s.sse_clients())
        yield CounterMetricFamily("statusdesk_sse_dropped",
                                  "SSE clients dropped for falling behind",
                                  value=s.sse_dropped())
        connected = GaugeMetricFamily("statusdesk_transport_connected",
                                      "1 when the transport is connected",
                                      labels=["transport"])
        for name, up in s.transports_connected().items():
            connected.add_metric([name], 1.0 if up else 0.0)
        yield connected
        leader = GaugeMetricFamily("statusdesk_leader",
                                   "1 on the instance that runs the chat side, 0 on standbys")
        leader.add_metric([], 1.0 if s.role() == "leader" else 0.0)
        yield leader
        lease = s.lease()
        if lease.get("term") is not None:
            yield GaugeMetricFamily("statusdesk_leader_term",
                                    "The leader lease's term this instance last led in",
                                    value=float(lease["term"]))
        if lease.get("expires_at"):
            expiry = datetime.fromisoformat(str(lease["expires_at"])).timestamp()
            yield GaugeMetricFamily("statusdesk_leader_lease_expiry_seconds",
                                    "When the lease this instance holds or held runs out "
                                    "(Unix time, the database's clock)", value=expiry)
        if s.incident_aggregates is not None or s.tally_reader is None:
            yield from _incidents(s)

        yield from _runtime(s)
        yield from _http(s)


def _incidents(s: MetricSources) -> Iterator[Metric]:
    """Open incidents and the times to each milestone. Left out (absent, Prometheus's way of
    saying unknown) until the running tallies have read every incident once after a start:
    a 0 there would read as "no open incidents" in the middle of an outage."""
    yield GaugeMetricFamily("statusdesk_incidents_open", "Open incidents",
                            value=s.incidents_open)
    for measure, label in (("to_acknowledge", "acknowledge"), ("to_identify", "identify"),
                           ("to_mitigate", "mitigate"), ("to_resolve", "resolve")):
        if s.incident_aggregates is not None:
            aggregate = s.incident_aggregates[measure]
        else:
            aggregate = Aggregate.of([getattr(t, measure) for t in s.incident_times])
        yield SummaryMetricFamily(
            f"statusdesk_incident_time_to_{label}_seconds",
            f"Time from opening an incident to its {label} milestone",
            count_value=aggregate.count, sum_value=aggregate.total.total_seconds(),
        )
        yield GaugeMetricFamily(
            f"statusdesk_incident_time_to_{label}_median_seconds",
            f"Median time from opening an incident to its {label} milestone",
            value=aggregate.median.total_seconds() if aggregate.median else float("nan"),
        )


def _runtime(s: MetricSources) -> Iterator[Metric]:
    """Is the process keeping up: loop lag, garbage collection, tasks, database connections."""
    if s.loop_lag is not None:
        lag = s.loop_lag
        yield HistogramMetricFamily(
            "statusdesk_event_loop_lag_seconds",
            "How much later than due the event loop ran a timer, since start",
            buckets=lag.cumulative_buckets(), sum_value=lag.total,
        )
        reading = lag.reading()
        # A summary, not a gauge with a `quantile` label: Prometheus (and promtool) reserve
        # that label for summaries. Its count and sum are the window's, so they can drop.
        recent = SummaryMetricFamily("statusdesk_event_loop_lag_recent_seconds",
                                     "Event loop lag over the last minute, by quantile",
                                     count_value=reading.samples, sum_value=reading.total)
        name = "statusdesk_event_loop_lag_recent_seconds"
        for q, value in (("0.5", reading.p50), ("0.99", reading.p99), ("1", reading.max)):
            recent.samples.append(Sample(name, {"quantile": q}, value))
        yield recent
    # Collections per generation are the standard python_gc_collections_total (below).
    yield GaugeMetricFamily("statusdesk_gc_frozen_objects",
                            "Start-up objects that full collections no longer walk "
                            "(bot/observability/gc_pauses.py)", value=gc.get_freeze_count())
    if s.asyncio_tasks is not None:
        yield GaugeMetricFamily("statusdesk_asyncio_tasks", "asyncio tasks alive",
                                value=s.asyncio_tasks())
    if s.db_connections is not None:
        checked_out, opened = s.db_connections()
        yield GaugeMetricFamily("statusdesk_db_connections_checked_out",
                                "Database connections in use", value=checked_out)
        yield GaugeMetricFamily("statusdesk_db_connections_open",
                                "Database connections held by the pool (in use or idle)",
                                value=opened)
    if s.database_writes_refused is not None:
        yield CounterMetricFamily("statusdesk_database_writes_refused",
                                  "Writes the database refused (disk full, read-only), "
                                  "by every writer, the write probe's included",
                                  value=s.database_writes_refused())
    if s.database_writable is not None:
        yield GaugeMetricFamily("statusdesk_database_writable",
                                "0 from a refused write until a write succeeds again",
                                value=1.0 if s.database_writable() else 0.0)


def pool_connections(pool: object) -> tuple[int, int]:
    """(checked out, open) for SQLAlchemy's queue pools; (0, 0) for pools that do not
    count (SQLite in memory keeps one static connection)."""
    checkedout = getattr(pool, "checkedout", None)
    checkedin = getattr(pool, "checkedin", None)
    if not callable(checkedout) or not callable(checkedin):
        return 0, 0
    out = int(checkedout())
    return out, out + int(checkedin())


def build_version() -> str:
    """The installed distribution's version; `0+unknown` from a source tree."""
    try:
        return version("statusdesk")
    except PackageNotFoundError:
        return "0+unknown"


class BuildInfo(Collector):
    """`statusdesk_build_info{version=...} 1`: which release each instance runs."""

    def __init__(self) -> None:
        self._version = build_version()

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("statusdesk_build_info",
                                 "Always 1; the version label says which release runs",
                                 labels=["version"])
        info.add_metric([self._version], 1.0)
        yield info


BUILD_INFO = BuildInfo()

# The client library's standard collectors (process_* from /proc on Linux, python_info,
# python_gc_*), the same objects its default registry holds: what dashboards and alerts
# written for any Python exporter expect.
STANDARD_COLLECTORS: tuple[Collector, ...] = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR,
                                              GC_COLLECTOR, BUILD_INFO)


def render(sources: MetricSources) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusdeskCollector(sources))
    for collector in STANDARD_COLLECTORS:
        registry.register(collector)
    return generate_latest(registry)


def _http(s: MetricSources) -> Iterator[Metric]:
    """Is the page under a crowd: connections against their cap, what was closed or refused."""
    if s.connections is not None:
        guard = s.connections
        yield GaugeMetricFamily("statusdesk_http_connections", "HTTP connections open",
                                value=guard.open)
        yield GaugeMetricFamily("statusdesk_http_connections_waiting",
                                "HTTP connections waiting for (the rest of) a request head",
                                value=guard.waiting)
        yield GaugeMetricFamily("statusdesk_http_connections_max",
                                "HTTP connections allowed (open-file limit minus the reserve)",
                                value=guard.max_connections)
        yield GaugeMetricFamily("statusdesk_http_connections_peak",
                                "Most HTTP connections open at once, since start",
                                value=guard.peak)
        closed = CounterMetricFamily(
            "statusdesk_http_connections_closed",
            "HTTP connections closed by the page: evicted (oldest waiting, to make room), "
            "refused (newcomer, all busy), header_timeout", labels=["reason"])
        closed.add_metric(["evicted"], guard.evicted)
        closed.add_metric(["refused"], guard.refused)
        closed.add_metric(["header_timeout"], guard.header_timeouts)
        yield closed
    if s.body_deadline is not None:
        yield CounterMetricFamily("statusdesk_http_body_timeouts",
                                  "Requests answered 408: the body came too slowly",
                                  value=s.body_deadline.timeouts)
    if s.live_clients is not None:
        live = s.live_clients
        yield GaugeMetricFamily("statusdesk_sse_clients_max",
                                "/api/events clients allowed at once", value=live.total)
        refused = CounterMetricFamily("statusdesk_sse_refused",
                                      "/api/events clients answered 503: full overall, or "
                                      "too many from one address", labels=["reason"])
        refused.add_metric(["full"], live.refused_full)
        refused.add_metric(["address"], live.refused_address)
        yield refused
    in_use = open_files()
    if in_use is not None:
        yield GaugeMetricFamily("statusdesk_open_files", "File descriptors the process has open",
                                value=in_use)
    if s.open_files_limit is not None:
        yield GaugeMetricFamily("statusdesk_open_files_limit",
                                "The process's open-file limit (soft RLIMIT_NOFILE)",
                                value=s.open_files_limit)
