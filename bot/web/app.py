"""The HTTP side: status page documents from the snapshot, health and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.web.snapshot import Snapshot
from storage.db import ping
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.web")

HEALTH_TIMEOUT = 2.0

SNAPSHOT_KEY = web.AppKey("snapshot", Snapshot)
STORE_KEY = web.AppKey("store", Store)
HEALTH_KEY: web.AppKey[Callable[[], dict[str, Any]]] = web.AppKey("transport_health")


def create_web_app(
    snapshot: Snapshot, store: Store, transport_health: Callable[[], dict[str, Any]]
) -> web.Application:
    app = web.Application()
    app[SNAPSHOT_KEY] = snapshot
    app[STORE_KEY] = store
    app[HEALTH_KEY] = transport_health
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/alert.json", serve_document)
    return app


async def serve_document(request: web.Request) -> web.StreamResponse:
    document = request.app[SNAPSHOT_KEY].get(request.path)
    if document is None:
        raise web.HTTPNotFound()
    return document.response(request)


async def healthz(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    detail: dict[str, Any] = {"transports": request.app[HEALTH_KEY]()}
    try:
        await asyncio.wait_for(ping(store.engine), HEALTH_TIMEOUT)
        async with store.reading() as tx:
            detail["outbox"] = {
                "pending": await tx.outbox.pending_count(),
                "failed": await tx.outbox.failed_count(),
            }
        detail["database"] = "ok"
        detail["status"] = "ok"
        status = 200
    except Exception as error:
        log.warning("health check: database does not answer: %s", error)
        detail["database"] = f"error: {type(error).__name__}"
        detail["status"] = "error"
        status = 503
    return web.json_response(detail, status=status, headers={"Cache-Control": "no-store"})
