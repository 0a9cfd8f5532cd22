"""/metrics in the Prometheus text format, read from counters the parts keep themselves."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from bot.incident_metrics import Aggregate, IncidentTimes
from bot.loop_lag import LoopLagMonitor

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
    outbox_pending: int = 0
    outbox_failed: int = 0
    incidents_open: int = 0
    incident_times: list[IncidentTimes] = field(default_factory=list)
    loop_lag: LoopLagMonitor | None = None
    asyncio_tasks: Callable[[], int] | None = None
    db_connections: Callable[[], tuple[int, int]] | None = None
    """(checked out, open) connections of the database pool."""
    database_writes_refused: Callable[[], int] | None = None
    """Writes the database refused since start (disk full, read-only), every writer's."""
    database_writable: Callable[[], bool] | None = None


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
        yield GaugeMetricFamily("statusdesk_incidents_open", "Open incidents",
                                value=s.incidents_open)
        for measure, label in (("to_acknowledge", "acknowledge"), ("to_identify", "identify"),
                               ("to_mitigate", "mitigate"), ("to_resolve", "resolve")):
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

        yield from _runtime(s)


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
        recent = GaugeMetricFamily("statusdesk_event_loop_lag_recent_seconds",
                                   "Event loop lag over the last minute, by quantile",
                                   labels=["quantile"])
        for q, value in (("0.5", reading.p50), ("0.99", reading.p99), ("1", reading.max)):
            recent.add_metric([q], value)
        yield recent
    collections = CounterMetricFamily(
        "statusdesk_gc_collections", "Garbage collections by generation (2 is a full one)",
        labels=["generation"])
    for generation, stats in enumerate(gc.get_stats()):
        collections.add_metric([str(generation)], stats["collections"])
    yield collections
    yield GaugeMetricFamily("statusdesk_gc_frozen_objects",
                            "Start-up objects that full collections no longer walk "
                            "(bot/gc_pauses.py)", value=gc.get_freeze_count())
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


def render(sources: MetricSources) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusdeskCollector(sources))
    return generate_latest(registry)
