"""The status page's public documents, rendered once per change and served from memory.

Hot documents (the front page, the JSON APIs, the feed, the lists, and the pages of open and
recently resolved incidents) are rebuilt after every committed change (at most once every
REBUILD_INTERVAL under a stream of them), then SSE clients are told. Cold ones (old
incidents, deeper history pages) are rendered on their first request and kept until the next
change, so a crowd reading an old postmortem costs one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from operator import attrgetter
from pathlib import Path

from bot.core.events import DeskEvent
from bot.web import feed, maintenances, pages, statuspage
from bot.web.document import Document
from bot.web.export import StaticExport
from bot.web.sse import EventStream
from bot.web.state import (
    EPOCH,
    EVERYTHING,
    IncidentLinks,
    IncidentPageView,
    PageState,
    Touched,
    incident_view,
    load_page_state,
    newest,
    touched_by,
)
from bot.web.uptime import MAJOR, PARTIAL
from bot.web.whole_numbers import parse_whole
from commands.model import MAX_INCIDENT_ID
from storage.db import is_transient
from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.web")

REBUILD_INTERVAL = 0.25
"""Seconds between the starts of two rebuilds under a stream of changes. The first change
after a quiet spell is rebuilt at once; those that follow within this interval wait for the
next rebuild together (each still reaches SSE clients as its own event)."""

HISTORY_PAGE_SIZE = 20
MAX_HISTORY_PAGE = MAX_INCIDENT_ID // HISTORY_PAGE_SIZE + 1
"""No page past this can hold an incident; its offset still fits the database's integers."""
MAX_COLD = 512
"""Cold documents kept between changes; beyond that the oldest is forgotten."""

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css", ".js": "application/javascript", ".ico": "image/x-icon"}
ROOT_STATIC = {"/favicon.ico": "favicon.ico"}
"""Static files also served at the root, where browsers ask for them unprompted."""

DAY_CHECK_SECONDS = 60.0
"""The longest the day watch sleeps before it looks at the clock again (a clock that jumps,
a suspended machine): the page's uptime bars shift at UTC midnight, not a day late."""
ANNOUNCE_FIRST_SECONDS = 0.05
"""The longest the outbox's pass waits for the page's announcement of a change (see
`Snapshot.announced`): chat deliveries are rate-limited to seconds anyway, while the page's
event is measured in milliseconds, and the two competed for the loop and the database."""
OUTAGE_REFRESH_SECONDS = 300.0
"""While a component is down (partial or major outage) nothing may change for hours, yet
its uptime drops by the minute: the page is rebuilt this often meanwhile, so the figure and
today's bar are never more than this stale."""

Annotate = Callable[[IncidentPageView], IncidentLinks]
"""What an incident page shows beside its timeline (bugs with their state, playbooks)."""


class Snapshot:
    """Every public document by path. Requests only read; rebuilds replace the whole map."""

    def __init__(
        self,
        store: Store,
        *,
        title: str,
        url: str,
        stream: EventStream | None = None,
        export: StaticExport | None = None,
        annotate: Annotate | None = None,
        clock: Callable[[], datetime] = utcnow,
        day_check: float = DAY_CHECK_SECONDS,
        subscribe: bool = False,
    ) -> None:
        self._store = store
        self._subscribe = subscribe
        self._clock = clock
        """`now` of every rebuild (the uptime bars end with its day); tests pass their own."""
        self._day: date | None = None
        """The UTC day of the last rebuild's `now`."""
        self._built_at: datetime | None = None
        """The last rebuild's `now`."""
        self._day_check = day_check
        self._day_watch: asyncio.Task[None] | None = None
        self._annotate = annotate
        self._title = title
        self._url = url
        self.stream = stream or EventStream()
        self.export = export
        self._documents: dict[str, Document] = {}
        self._rendered: Rendered = {}
        self._everything = True
        """The next rebuild reads everything (the first, after `refresh`, after a failure)."""
        self._cold: dict[str, Document] = {}
        self._static = _static_documents()
        self._pending: list[DeskEvent] = []
        self._dirty = asyncio.Event()
        self._announced = asyncio.Event()
        """Set while every change queued is announced to live clients (or given up on)."""
        self._announced.set()
        self._task: asyncio.Task[None] | None = None
        self._state: PageState | None = None
        self._busy = False
        self._after: asyncio.Task[None] | None = None
        self._links: dict[int, IncidentLinks] | None = None
        """The annotations of the last read's incidents (rendered with both halves)."""
        """Compressing and exporting the last rebuild's documents."""
        self._last_rebuild = float("-inf")
        self.renders = 0
        self.last_render_seconds = 0.0

    @property
    def idle(self) -> bool:
        """True when every committed change is in the documents and announced."""
        return (not self._dirty.is_set() and not self._pending and not self._busy
                and (self._after is None or self._after.done()))

    @property
    def state(self) -> PageState | None:
        """The page state of the last rebuild (None before the first)."""
        return self._state

    def hot(self, path: str) -> Document | None:
        """A document rendered with the last change, without touching the database."""
        return self._documents.get(path) or self._static.get(path)

    async def get(self, path: str, page: int | None = None) -> Document | None:
        """The document for a request path (`/history` takes `?page=N`, already checked to
        be 1 to MAX_HISTORY_PAGE by the caller)."""
        if path == "/history" and page is not None and page > 1:
            return await self._history_page(page)
        found = self._documents.get(path) or self._static.get(path)
        if found is not None:
            return found
        if path.startswith("/incidents/"):
            return await self._old_incident(path.removeprefix("/incidents/"))
        return None

    def not_found(self) -> Document:
        return self._documents.get("/404") or Document.html("Not found", status=404)

    async def rebuild(self, touched: Touched = EVERYTHING) -> list[Document]:
        """Read what `touched` says changed, render the documents that show it; the
        documents rendered are returned uncompressed (`compress_later`)."""
        fresh = await self._rebuild_first(touched)
        return fresh + await self._render_later()

    async def _rebuild_first(self, touched: Touched) -> list[Document]:
        """The read and the documents a browser fetches when told of a change (all but
        LATER, which keep their previous bytes until `_render_later`)."""
        started = time.perf_counter()
        now = self._clock()
        state = await load_page_state(self._store, title=self._title, url=self._url, now=now,
                                      subscribe=self._subscribe, previous=self._state,
                                      touched=touched)
        # The annotations come first, on the loop: they may start lookups there.
        links = ({i.id: self._annotate(i) for i in (*state.open_incidents,
                                                      *state.recent_resolved)}
                 if self._annotate is not None else None)
        self._links = links
        # After a change the HTML half is small beside LATER (cards and incident pages are
        # made once per change of an incident): rendered on the loop, without a hop to a
        # thread and back before the event can go out. A full read renders every page:
        # in a thread, like LATER.
        annotate = (lambda incident: links[incident.id]) if links else None
        if touched.everything or not self._rendered:
            rendered, paths = await asyncio.to_thread(render_changed, state, self._rendered,
                                                      annotate, LATER)
        else:
            rendered, paths = render_changed(state, self._rendered, annotate, LATER)
        self._state = state
        self._day = now.astimezone(UTC).date()
        self._built_at = now
        self._install(rendered)
        self.renders += 1
        self.last_render_seconds = time.perf_counter() - started
        return [self._documents[path] for path in paths]

    async def _render_later(self) -> list[Document]:
        """The LATER documents of the state `_rebuild_first` read. Rendering them is CPU
        work that grows with the page: on the loop it would hold up every command, IRC
        PING and request meanwhile, so it runs in a thread."""
        state, links = self._state, self._links
        assert state is not None
        rendered, paths = await asyncio.to_thread(
            render_changed, state, self._rendered,
            (lambda incident: links[incident.id]) if links else None)
        self._install(rendered)
        return [self._documents[path] for path in paths]

    def _install(self, rendered: Rendered) -> None:
        self._rendered = rendered
        self._documents = {path: document for path, (_, document) in rendered.items()}
        self._cold = {}

    def on_event(self, event: DeskEvent) -> None:
        """EventBus subscriber: queue the event; the rebuild runs on its own task."""
        self._pending.append(event)
        self._announced.clear()
        self._dirty.set()

    def refresh(self) -> None:
        """Rebuild from the database without an event (changes made by another instance
        that were not announced to this one)."""
        self._everything = True
        self._dirty.set()

    async def announced(self, within: float = ANNOUNCE_FIRST_SECONDS) -> None:
        """Return once every change queued so far is in the HTML pages and announced to
        live clients (or its rebuild failed), or after `within` seconds. The outbox waits
        for this before a pass (bot/app.py): its claims, sends and settlements are several
        transactions, and run beside the rebuild they doubled its reads' time."""
        if not self._announced.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._announced.wait(), within)

    async def start(self) -> None:
        await _compress(await self.rebuild())
        self._everything = False
        await self._export()
        self._task = asyncio.create_task(self._rebuild_when_dirty(), name="snapshot")
        self._day_watch = asyncio.create_task(self._rebuild_each_day(), name="snapshot-day")

    async def stop(self) -> None:
        self._announced.set()
        self.stream.close()
        for task in (self._task, self._day_watch, self._after):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.export is not None:
            await self.export.close()

    async def _rebuild_when_dirty(self) -> None:
        # A burst of changes coalesces into one rebuild; SSE clients hear of each change
        # only after the HTML pages that show it are in place (the JSON documents and the
        # feed, LATER, follow).
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            # Rendering every hot document takes a good part of a core: a change a few
            # milliseconds after the last must not cost a whole rebuild of its own.
            pause = self._last_rebuild + REBUILD_INTERVAL - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            self._last_rebuild = loop.time()
            self._dirty.clear()
            events, self._pending = self._pending, []
            touched = EVERYTHING if self._everything else touched_by(events)
            self._everything = False
            self._busy = True
            announced = False
            try:
                fresh = await self._rebuild_first(touched)
                # Browsers fetch the HTML page they show: it is in place, so they may be
                # told now; the JSON documents and the feed follow a few ms later.
                self.stream.publish(events)
                if not self._pending:
                    self._announced.set()
                announced = True
                fresh += await self._render_later()
            except Exception as error:
                if is_transient(error):  # the database is away for a moment: no traceback
                    log.warning("status page rebuild failed (database unavailable: %s); "
                                "serving the previous snapshot", type(error).__name__)
                else:
                    log.exception("status page rebuild failed; serving the previous snapshot")
                self._announced.set()  # nobody waits for a rebuild that failed
                if announced:  # the HTML half is in place: compressed as usual
                    self._after = asyncio.create_task(
                        self._compress_and_export(fresh, self._after),
                        name="snapshot-compress")
                else:
                    self._pending[:0] = events
                self._everything = True
                self._busy = False
                await asyncio.sleep(1.0)
                self._dirty.set()
                continue
            # After the announcement, and beside the next rebuild rather than before it:
            # readers get the uncompressed bytes for these few milliseconds rather than the
            # event late. Each export waits for the one before (files never go back).
            self._after = asyncio.create_task(self._compress_and_export(fresh, self._after),
                                              name="snapshot-compress")
            self._busy = False

    async def _rebuild_each_day(self) -> None:
        # The uptime bars end with today: at UTC midnight a new bar starts and the oldest
        # leaves, though nothing changed; and while a component is down its uptime falls
        # with every minute. Sleeping toward the next of those by the clock (capped, so a
        # clock that jumps or a test clock moved by hand is noticed within the cap).
        while True:
            now = self._clock().astimezone(UTC)
            midnight = datetime.combine(now.date() + timedelta(days=1), day_time(), UTC)
            due = midnight
            if self._built_at is not None and self._down():
                due = min(due, self._built_at + timedelta(seconds=OUTAGE_REFRESH_SECONDS))
            # At least a second between looks: while a due rebuild waits on a database that
            # is away, this must not spin.
            wait = (due - now).total_seconds()
            await asyncio.sleep(min(max(wait, 1.0), self._day_check))
            now = self._clock().astimezone(UTC)
            if self._day is not None and now.date() != self._day:
                self._day = now.date()  # once: the rebuild it asks for sets it again
                self.refresh()
            elif (self._built_at is not None and self._down() and not self._dirty.is_set()
                  and (now - self._built_at).total_seconds() >= OUTAGE_REFRESH_SECONDS):
                self._built_at = now
                self.refresh()

    def _down(self) -> bool:
        state = self._state
        return state is not None and any(
            c.status in (PARTIAL, MAJOR) for c in state.components)

    async def _compress_and_export(self, documents: list[Document],
                                   before: asyncio.Task[None] | None) -> None:
        if before is not None:
            with contextlib.suppress(Exception):  # logged where it failed
                await before
        try:
            await _compress(documents)
            await self._export()
        except Exception:
            log.exception("compressing or exporting the status page failed")

    async def _export(self) -> None:
        if self.export is not None:
            await self.export.write({**self._documents, **self._static})

    async def _history_page(self, number: int) -> Document | None:
        if not 1 <= number <= MAX_HISTORY_PAGE:
            return None
        key = f"/history?page={number}"
        cached = self._cold.get(key)
        if cached is not None or self._state is None:
            return cached
        state = self._state
        async with self._store.reading() as tx:
            rows = await tx.incidents.list_resolved(
                limit=HISTORY_PAGE_SIZE + 1, offset=(number - 1) * HISTORY_PAGE_SIZE
            )
            entries = await tx.timeline.entries_of([i.id for i in rows[:HISTORY_PAGE_SIZE]],
                                                   public_only=True)
        if not rows and number > 1:
            return None
        views = [incident_view(i, entries[i.id]) for i in rows[:HISTORY_PAGE_SIZE]]
        html = pages.render_history(state, views, number, len(rows) > HISTORY_PAGE_SIZE)
        return self._remember(key, Document.html(html))

    async def _old_incident(self, raw_id: str) -> Document | None:
        # No id past the database's integer column (bot/web/whole_numbers.py says why).
        incident_id = parse_whole(raw_id, lowest=1, highest=MAX_INCIDENT_ID)
        if incident_id is None or self._state is None:
            return None
        key = f"/incidents/{incident_id}"
        cached = self._cold.get(key)
        if cached is not None:
            return cached
        async with self._store.reading() as tx:
            incident = await tx.incidents.get(incident_id)
            if incident is None:
                return None
            entries = await tx.timeline.entries_of([incident.id], public_only=True)
            held = (await tx.components.of_incidents([incident.id]))[incident.id]
            roles = await tx.roles.of(incident.id)
        view = incident_view(incident, entries[incident.id],
                             [(h.component_id, h.status) for h in held],
                             [(r.role, r.nick) for r in roles])
        links = self._annotate(view) if self._annotate else None
        return self._remember(key, Document.html(pages.render_incident(self._state, view,
                                                                       links)))

    def _remember(self, key: str, document: Document) -> Document:
        if len(self._cold) >= MAX_COLD:
            self._cold.pop(next(iter(self._cold)))
        self._cold[key] = document
        return document


Rendered = dict[str, tuple[tuple[object, ...], Document]]
"""Hot documents by request path, each with the key of what it was rendered from."""


def render_hot(state: PageState, annotate: Annotate | None = None) -> dict[str, Document]:
    """Every document that changes with the page's state, keyed by request path."""
    return {path: document for path, (_, document) in render_changed(state, {}, annotate)[
        0].items()}


LATER = frozenset({
    "/api/v2/summary.json", "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json",
    "/api/v2/components.json", "/feed.atom", "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json", "/maintenances.ics",
})
"""Documents rendered after the SSE event rather than before it: nothing a browser's page
fetches when told of a change (bot/web/static/live.js fetches the HTML page it shows), and
with 1,000 open incidents the JSON documents and the feed are most of a rebuild."""


def render_changed(state: PageState, before: Rendered, annotate: Annotate | None = None,
                   defer: frozenset[str] = frozenset()) -> tuple[Rendered, list[str]]:
    """Every hot document, rendering only those whose inputs differ from `before`'s (the
    others are `before`'s own); and the paths rendered. A path in `defer` that `before`
    has keeps `before`'s document even when stale (a second call renders it).

    A document's key holds everything it shows, so equal keys mean equal bytes. Unchanged
    incident views are the previous state's own objects (load_page_state), so comparing
    keys is a pass of identity checks, not a walk through every incident's updates. Each
    document carries its own "updated" time, the newest of what it shows: a site-wide one
    would change every document on every change."""
    documents: Rendered = {}
    rendered: list[str] = []

    def document(path: str, key: tuple[object, ...], updated: datetime,
                 render: Callable[[PageState], Document]) -> None:
        key = (*key, updated)  # the time it shows is part of what it shows
        old = before.get(path)
        if old is not None and (old[0] == key or path in defer):
            documents[path] = old
            return
        documents[path] = (key, render(replace(state, updated_at=updated)))
        rendered.append(path)

    open_, resolved = state.open_incidents, state.recent_resolved
    page = (state.title, state.url, state.subscribe)
    alert = state.alert
    alert_at = [alert.set_at] if alert else []
    # map/attrgetter: C loops over 1,000 open incidents (on every change, before the event).
    open_times = list(map(_updated_at, open_))
    incident_times = open_times + list(map(_updated_at, resolved))
    component_times = list(map(_updated_at, state.components))
    maintenance_times = list(map(_updated_at, state.maintenances))
    # An in-progress window's text says how long it has overrun: it changes with the clock.
    clock = state.now if state.active_maintenances else None
    index_resolved = resolved[:pages.RECENTLY_RESOLVED_ON_INDEX]
    document("/", (page, alert, open_, index_resolved, state.posts, state.components,
                   state.uptime, state.maintenances, clock),
             newest(alert_at, open_times, [i.updated_at for i in index_resolved],
                    [p.at for p in state.posts], component_times, maintenance_times),
             lambda s: Document.of(pages.index_body(s), "text/html", compressed=False))
    document("/alert.json", (alert.text if alert else None,), EPOCH,
             lambda s: Document.json({"alert": s.alert.text if s.alert else None},
                                               compressed=False))
    status_key = (page, alert, tuple(map(_severity, open_)),
                  tuple(c.status for c in state.components))
    document("/api/v2/summary.json",
             (page, alert, open_, state.components, state.maintenances, clock),
             newest(alert_at, open_times, component_times, maintenance_times),
             lambda s: Document.of(statuspage.summary_body(s), "application/json",
                                 compressed=False))
    document("/api/v2/status.json", status_key,
             newest(alert_at, open_times, component_times),
             lambda s: Document.json(statuspage.status(s), compressed=False))
    document("/api/v2/incidents.json", (page, open_, resolved, state.components),
             newest(incident_times),
             lambda s: Document.of(statuspage.incidents_body(s), "application/json",
                                 compressed=False))
    document("/api/v2/incidents/unresolved.json", (page, open_, state.components),
             newest(open_times),
             lambda s: Document.of(statuspage.unresolved_body(s), "application/json",
                                 compressed=False))
    document("/api/v2/components.json", (page, state.components), newest(component_times),
             lambda s: Document.json(statuspage.components_document(s), compressed=False))
    document("/feed.atom", (page, open_, resolved, state.posts, state.maintenances),
             newest(incident_times, [p.at for p in state.posts], maintenance_times),
             lambda s: Document.of(feed.atom(s), "application/atom+xml", compressed=False))
    document("/success", (page, state.success), newest([k.at for k in state.success]),
             lambda s: Document.html(pages.render_kudos(s, "success"), compressed=False))
    document("/thanks", (page, state.thanks), newest([k.at for k in state.thanks]),
             lambda s: Document.html(pages.render_kudos(s, "thanks"), compressed=False))
    first_page = resolved[:HISTORY_PAGE_SIZE]
    document("/history", (page, first_page, len(resolved) > HISTORY_PAGE_SIZE),
             newest([i.updated_at for i in first_page]),
             lambda s: Document.html(pages.render_history(
                 s, first_page, 1, len(resolved) > HISTORY_PAGE_SIZE), compressed=False))
    document("/404", (page,), EPOCH,
             lambda s: Document.html(pages.render_not_found(s), status=404, compressed=False))
    maintenance_key = (page, state.maintenances, state.components, clock)
    document("/api/v2/scheduled-maintenances.json", maintenance_key,
             newest(maintenance_times),
             lambda s: Document.json(maintenances.all_document(s), compressed=False))
    document("/api/v2/scheduled-maintenances/upcoming.json", maintenance_key,
             newest(maintenance_times),
             lambda s: Document.json(maintenances.upcoming_document(s), compressed=False))
    document("/api/v2/scheduled-maintenances/active.json", maintenance_key,
             newest(maintenance_times),
             lambda s: Document.json(maintenances.active_document(s), compressed=False))
    document("/maintenances.ics", (page, state.maintenances, state.components, clock),
             newest(maintenance_times),
             lambda s: Document.of(maintenances.ics(s), "text/calendar", compressed=False))
    components = state.components
    for incident in (*open_, *resolved):
        path = f"/incidents/{incident.id}"
        links = annotate(incident) if annotate else None
        old = before.get(path)
        # Most of 1,000 incidents are the previous state's own views (load_page_state):
        # told apart by identity here, without building a key and a renderer for each.
        if (old is not None and old[0][1] is incident and old[0][2] == links
                and old[0][3] == components and old[0][0] == page):
            documents[path] = old
            continue
        document(path, (page, incident, links, components), incident.updated_at,
                 functools.partial(_incident_document, incident=incident, links=links))
    return documents, rendered


_updated_at = attrgetter("updated_at")
_severity = attrgetter("severity")


def _incident_document(state: PageState, *, incident: IncidentPageView,
                       links: IncidentLinks | None) -> Document:
    return Document.html(pages.render_incident(state, incident, links), compressed=False)


async def _compress(documents: list[Document]) -> None:
    if any(not d.compressed for d in documents):
        await asyncio.to_thread(_compress_all, documents)


def _compress_all(documents: list[Document]) -> None:
    for document in documents:
        document.compress()


def _static_documents() -> dict[str, Document]:
    documents = {}
    for path in sorted(STATIC_DIR.glob("*")):
        content_type = STATIC_TYPES.get(path.suffix)
        if content_type is not None:
            documents[f"/static/{path.name}"] = Document.of(path.read_bytes(), content_type)
    for root_path, name in ROOT_STATIC.items():
        documents[root_path] = documents[f"/static/{name}"]
    return documents
