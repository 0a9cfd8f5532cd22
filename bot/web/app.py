"""The HTTP side: status page documents from the snapshot, SSE, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.incidents.aftermath import load_aftermath
from bot.incidents.bundle import BundleSources, stream_bundle
from bot.incidents.export import export_json, export_markdown
from bot.incidents.milestone_tally import TallyReader
from bot.web import metrics, openapi
from bot.web.document import Document
from bot.web.metrics import MetricSources
from bot.web.refusal import refusal
from bot.web.snapshot import MAX_HISTORY_PAGE, Snapshot
from bot.web.state import PageState
from bot.web.whole_numbers import parse_whole
from commands.model import MAX_INCIDENT_ID
from storage.db import ping
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.web")

HEALTH_TIMEOUT = 2.0

FIXED_PATHS = (
    "/", "/alert.json", "/api/v2/summary.json", "/api/v2/status.json",
    "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json", "/feed.atom",
    "/success", "/thanks", "/history", "/static/statusdesk.css", "/static/live.js",
    "/favicon.ico",
    "/api/v2/components.json",
    "/api/v2/scheduled-maintenances.json", "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json", "/maintenances.ics",
)

SNAPSHOT_KEY = web.AppKey("snapshot", Snapshot)
STORE_KEY = web.AppKey("store", Store)
METRICS_KEY = web.AppKey("metrics", MetricSources)
HEALTH_KEY: web.AppKey[Callable[[], dict[str, Any]]] = web.AppKey("transport_health")
API_TOKEN_KEY: web.AppKey[str | None] = web.AppKey("api_token")
TEMPLATE_KEY: web.AppKey[Path | None] = web.AppKey("postmortem_template")

LOG_TYPES = {"md": "text/markdown", "json": "application/json"}


class PlaybookSite(Protocol):
    """The playbooks' part of the site (bot/playbooks/pages.py), when configured."""

    async def document(self, path: str, state: PageState) -> Document | None:
        """`/playbooks` or `/playbooks/SLUG`; None for an entry that does not exist."""
        ...

    def bug_line(self, url: str) -> str | None:
        """A linked bug's cached state for the incident log (`[open] #12 Title (github)`)."""
        ...

    async def bug_states(self, urls: Sequence[str]) -> dict[str, Any]:
        """Linked bugs' cached states, for the incident bundle's bugs.json."""
        ...


PLAYBOOKS_KEY: web.AppKey[PlaybookSite | None] = web.AppKey("playbooks")

AnswerObserver = Callable[[web.Request, web.StreamResponse], None]
ANSWER_OBSERVERS: list[AnswerObserver] = []
"""Shown every answer of the web apps created while they are listed, in this process. Empty
in production (no middleware is added then); the test suite lists its check of every JSON
answer against /api/openapi.json here (tests/openapi_check.py)."""


def create_web_app(
    snapshot: Snapshot,
    store: Store,
    transport_health: Callable[[], dict[str, Any]],
    metric_sources: MetricSources,
    api_token: str | None = None,
    playbooks: PlaybookSite | None = None,
    hooks: Mapping[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] | None = None,
    middlewares: Sequence[Middleware] = (),
    postmortem_template: Path | None = None,
    routes: Sequence[web.RouteDef] = (),
) -> web.Application:
    if ANSWER_OBSERVERS:
        middlewares = (_observed, *middlewares)
    app = web.Application(middlewares=middlewares)
    app[TEMPLATE_KEY] = postmortem_template
    app[API_TOKEN_KEY] = api_token
    app[PLAYBOOKS_KEY] = playbooks
    app[SNAPSHOT_KEY] = snapshot
    app[STORE_KEY] = store
    app[HEALTH_KEY] = transport_health
    app[METRICS_KEY] = metric_sources
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/api/events", snapshot.stream.handle)
    app.router.add_get(openapi.PATH, serve_openapi)
    # [0-9], not \d: \d also matches other scripts' digits (`٣`), which int() reads as 3.
    app.router.add_get(r"/api/incidents/{id:[0-9]+}/log.{format:md|json}", incident_log)
    app.router.add_get(r"/api/incidents/{id:[0-9]+}/bundle.tar.gz", incident_bundle)
    # Inbound webhooks (paging acknowledgements...): POST routes their owners verify.
    for path, hook in (hooks or {}).items():
        app.router.add_post(path, hook)
    # Pages of plug-ins (subscribers' forms...), before the catch-all below.
    app.router.add_routes(routes)
    # Fixed paths as plain routes: aiohttp finds those by a dict lookup, where the catch-all
    # below costs a regex match per request (a tenth of the time under load, bench/page.py).
    if playbooks is not None:
        app.router.add_get("/playbooks", serve_playbook)
        app.router.add_get("/playbooks/{slug}", serve_playbook)
    for path in FIXED_PATHS:
        app.router.add_get(path, serve_document)
    app.router.add_get("/{path:.*}", serve_document)
    return app


@web.middleware
async def _observed(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
    response = await handler(request)
    for observer in ANSWER_OBSERVERS:
        observer(request, response)
    return response


async def serve_document(request: web.Request) -> web.StreamResponse:
    snapshot = request.app[SNAPSHOT_KEY]
    # The herd asks for the same few hot documents: answer those without a coroutine.
    document = None if request.query_string else snapshot.hot(request.path)
    if document is None:
        page = None
        if request.path == "/history" and "page" in request.query:
            page = parse_whole(request.query["page"], lowest=1, highest=MAX_HISTORY_PAGE)
            if page is None:
                return refusal(400, f"page must be a whole number from 1 to {MAX_HISTORY_PAGE}")
        document = await snapshot.get(request.path, page)
    if document is None:
        document = snapshot.not_found()
    return document.response(request)


@functools.cache
def _openapi_document() -> Document:
    return Document.json(openapi.document())


async def serve_openapi(request: web.Request) -> web.Response:
    return _openapi_document().response(request)


async def serve_playbook(request: web.Request) -> web.StreamResponse:
    snapshot = request.app[SNAPSHOT_KEY]
    playbooks = request.app[PLAYBOOKS_KEY]
    state = snapshot.state
    document = None
    if playbooks is not None and state is not None:
        document = await playbooks.document(request.path, state)
    return (document or snapshot.not_found()).response(request)


async def _read_database_metrics(store: Store, sources: MetricSources) -> None:
    if sources.tally_reader is None:
        sources.tally_reader = TallyReader()
    # Two statements: the outbox counts, and (running tallies) the incidents that can have
    # changed since the last scrape, not every incident ever.
    reader = sources.tally_reader
    async with store.reading() as tx:
        sources.outbox_pending, sources.outbox_failed = await tx.outbox.counts()
        if reader.warming and not reader.caught_up:
            # The leader's warm-up is reading every incident: its figures come when it is
            # done, not a part of them now (nor a scrape that waits for all of them).
            return
        tally = await reader.refresh(tx)
    sources.incidents_open = tally.incidents_open
    sources.incident_aggregates = tally.aggregates()


async def _outbox_counts(store: Store) -> tuple[int, int]:
    async with store.reading() as tx:
        return await tx.outbox.counts()


async def healthz(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    snapshot = request.app[SNAPSHOT_KEY]
    detail: dict[str, Any] = {"role": request.app[METRICS_KEY].role(),
                              "transports": request.app[HEALTH_KEY]()}
    lease = request.app[METRICS_KEY].lease()
    if lease:
        detail["lease"] = dict(lease)
    http = metrics.http_figures(request.app[METRICS_KEY])
    if http is not None:
        # Under a crowd of connections: how full the page is and what it had to close.
        detail["http"] = http
    loop_lag = request.app[METRICS_KEY].loop_lag
    if loop_lag is not None:
        # Slow is not down: the answer stays 200, the detail says why commands come late.
        lag = loop_lag.reading()
        detail["event_loop"] = {"state": "slow" if lag.slow else "ok",
                                "lag_p99_seconds": round(lag.p99, 4),
                                "lag_max_seconds": round(lag.max, 4)}
    # Always there (the README lists it): a monitor can tell "no export configured" from
    # "the export key went missing".
    detail["export"] = ({"enabled": True, **snapshot.export.health()}
                        if snapshot.export is not None else {"enabled": False})
    try:
        await asyncio.wait_for(ping(store.engine), HEALTH_TIMEOUT)
        pending, failed = await asyncio.wait_for(_outbox_counts(store), HEALTH_TIMEOUT)
        detail["outbox"] = {"pending": pending, "failed": failed}
        # It answers reads, but a refused write (disk full, read-only) means commands
        # cannot be applied: unwritable until a write succeeds (bot/ha/write_probe.py).
        refusal = store.writes.unwritable
        detail["database"] = "ok" if refusal is None else f"unwritable: {refusal.kind.value}"
        detail["status"] = "ok" if refusal is None else "error"
        status = 200 if refusal is None else 503
    except Exception as error:
        log.warning("health check: database does not answer: %s", error)
        detail["database"] = f"error: {type(error).__name__}"
        detail["status"] = "error"
        status = 503
    return web.json_response(detail, status=status, headers={"Cache-Control": "no-store"})


async def serve_metrics(request: web.Request) -> web.Response:
    sources = request.app[METRICS_KEY]
    try:
        await asyncio.wait_for(_read_database_metrics(request.app[STORE_KEY], sources),
                               HEALTH_TIMEOUT)
    except Exception as error:
        log.warning("metrics: database figures unavailable: %s", error)
    return web.Response(body=metrics.render(sources),
                        headers={"Content-Type": metrics.CONTENT_TYPE,
                                 "Cache-Control": "no-store"})


def _authorized(request: web.Request) -> bool:
    token = request.app[API_TOKEN_KEY]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    # Constant time: how much of a guess was right must not show in the response time.
    # Comparing digests keeps the token's length out of it too; header bytes that are not
    # UTF-8 arrive as surrogates, which `surrogateescape` turns back into those bytes.
    return hmac.compare_digest(_digest(given.strip()), _digest(token))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def _refused(request: web.Request) -> web.Response | None:
    """401 unless the request carries the api_token."""
    if _authorized(request):
        return None
    private = {"Cache-Control": "no-store", "WWW-Authenticate": 'Bearer realm="statusdesk"'}
    reason = ("send the status_page.api_token as 'Authorization: Bearer TOKEN'"
              if request.app[API_TOKEN_KEY] else
              "this API is off: set status_page.api_token in the configuration")
    return web.json_response({"error": "unauthorized", "detail": reason}, status=401,
                             headers=private)


def _no_such_incident(incident_id: int | None) -> web.Response:
    # An id that is not one (5,000 digits) is not echoed back.
    what = f"#{incident_id}" if incident_id is not None else "with this id"
    return web.json_response({"error": "not found", "detail": f"there is no incident {what}"},
                             status=404, headers={"Cache-Control": "no-store"})


async def incident_bundle(request: web.Request) -> web.StreamResponse:
    """The escalation manager's bundle (bot/incidents/bundle.py), private entries included."""
    refused = _refused(request)
    if refused is not None:
        return refused
    incident_id = parse_whole(request.match_info["id"], lowest=1, highest=MAX_INCIDENT_ID)
    if incident_id is None:
        return _no_such_incident(None)
    playbooks = request.app[PLAYBOOKS_KEY]
    sources = BundleSources(template=request.app[TEMPLATE_KEY],
                            bug_lookup=playbooks.bug_states if playbooks else None)
    # Closed as soon as the client goes away, which stops the compressing thread.
    async with contextlib.aclosing(stream_bundle(request.app[STORE_KEY], incident_id,
                                                 sources)) as pieces:
        try:
            first = await anext(pieces)
        except LookupError:
            return _no_such_incident(incident_id)
        response = web.StreamResponse(headers={
            "Content-Type": "application/gzip",
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="incident-{incident_id}.tar.gz"',
        })
        await response.prepare(request)
        await response.write(first)
        async for piece in pieces:
            await response.write(piece)
    await response.write_eof()
    return response


async def incident_log(request: web.Request) -> web.StreamResponse:
    """The full incident log, private entries included: for the escalation manager's RCA."""
    refused = _refused(request)
    if refused is not None:
        return refused
    # Past the integer column no incident exists, and the database would refuse the query.
    incident_id = parse_whole(request.match_info["id"], lowest=1, highest=MAX_INCIDENT_ID)
    fmt = request.match_info["format"]
    store = request.app[STORE_KEY]
    async with store.reading() as tx:
        incident = await tx.incidents.get(incident_id) if incident_id is not None else None
        if incident is None:
            # An id that is not one (5,000 digits) is not echoed back.
            what = f"#{incident_id}" if incident_id is not None else "with this id"
            return web.json_response({"error": "not found",
                                      "detail": f"there is no incident {what}"},
                                     status=404, headers={"Cache-Control": "no-store"})
        response = web.StreamResponse(headers={
            "Content-Type": f"{LOG_TYPES[fmt]}; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="incident-{incident_id}.{fmt}"',
        })
        await response.prepare(request)
        playbooks = request.app[PLAYBOOKS_KEY]
        aftermath = await load_aftermath(tx, incident)
        chunks = (export_markdown(incident, tx.timeline,
                                  bug_line=playbooks.bug_line if playbooks else None,
                                  aftermath=aftermath, template=request.app[TEMPLATE_KEY])
                  if fmt == "md" else export_json(incident, tx.timeline, aftermath=aftermath))
        async for chunk in chunks:
            await response.write(chunk.encode())
        await response.write_eof()
    return response
