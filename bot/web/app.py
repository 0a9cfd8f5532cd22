"""The HTTP side: status page documents from the snapshot, SSE, health and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.web import metrics
from bot.web.metrics import MetricSources
from bot.web.snapshot import Snapshot
from storage.db import ping
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.web")

HEALTH_TIMEOUT = 2.0

FIXED_PATHS = (
    "/", "/alert.json", "/api/v2/summary.json", "/api/v2/status.json",
    "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json", "/feed.atom",
    "/success", "/thanks", "/history", "/static/statusdesk.css", "/static/live.js",
)

SNAPSHOT_KEY = web.AppKey("snapshot", Snapshot)
STORE_KEY = web.AppKey("store", Store)
METRICS_KEY = web.AppKey("metrics", MetricSources)
HEALTH_KEY: web.AppKey[Callable[[], dict[str, Any]]] = web.AppKey("transport_health")


def create_web_app(
    snapshot: Snapshot,
    store: Store,
    transport_health: Callable[[], dict[str, Any]],
    metric_sources: MetricSources,
) -> web.Application:
    app = web.Application()
    app[SNAPSHOT_KEY] = snapshot
    app[STORE_KEY] = store
    app[HEALTH_KEY] = transport_health
    app[METRICS_KEY] = metric_sources
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/api/events", snapshot.stream.handle)
    # Fixed paths as plain routes: aiohttp finds those by a dict lookup, where the catch-all
    # below costs a regex match per request (a tenth of the time under load, bench/page.py).
    for path in FIXED_PATHS:
        app.router.add_get(path, serve_document)
    app.router.add_get("/{path:.*}", serve_document)
    return app


async def serve_document(request: web.Request) -> web.StreamResponse:
    snapshot = request.app[SNAPSHOT_KEY]
    # The herd asks for the same few hot documents: answer those without a coroutine.
    document = None if request.query_string else snapshot.hot(request.path)
    if document is None:
        document = await snapshot.get(request.path, request.query.get("page"))
    if document is None:
        document = snapshot.not_found()
    return document.response(request)


async def _outbox_counts(store: Store) -> tuple[int, int]:
    async with store.reading() as tx:
        return await tx.outbox.pending_count(), await tx.outbox.failed_count()


async def healthz(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    snapshot = request.app[SNAPSHOT_KEY]
    detail: dict[str, Any] = {"transports": request.app[HEALTH_KEY]()}
    if snapshot.export is not None:
        detail["export"] = snapshot.export.health()
    try:
        await asyncio.wait_for(ping(store.engine), HEALTH_TIMEOUT)
        pending, failed = await asyncio.wait_for(_outbox_counts(store), HEALTH_TIMEOUT)
        detail["outbox"] = {"pending": pending, "failed": failed}
        detail["database"] = "ok"
        detail["status"] = "ok"
        status = 200
    except Exception as error:
        log.warning("health check: database does not answer: %s", error)
        detail["database"] = f"error: {type(error).__name__}"
        detail["status"] = "error"
        status = 503
    return web.json_response(detail, status=status, headers={"Cache-Control": "no-store"})


async def serve_metrics(request: web.Request) -> web.Response:
    sources = request.app[METRICS_KEY]
    try:
        pending, failed = await asyncio.wait_for(
            _outbox_counts(request.app[STORE_KEY]), HEALTH_TIMEOUT
        )
        sources.outbox_pending, sources.outbox_failed = pending, failed
    except Exception as error:
        log.warning("metrics: outbox depth unavailable: %s", error)
    return web.Response(body=metrics.render(sources),
                        headers={"Content-Type": metrics.CONTENT_TYPE,
                                 "Cache-Control": "no-store"})
