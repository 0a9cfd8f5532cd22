"""The playbooks on the status page: `/playbooks`, `/playbooks/SLUG`, and what incident pages
show of them (matching entries, linked bugs with their cached state).

Pages are rendered on request and kept for `MAX_AGE` seconds, the time the contract lets
clients cache them anyway: entries change on disk and bug states change at the trackers,
neither of which is a desk event that would rebuild the snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.playbooks import lookup, markdown
from bot.playbooks.bug_states import BugStates, cached_lookup
from bot.playbooks.entry import Entry
from bot.playbooks.store import PlaybookStore
from bot.web import pages
from bot.web.document import Document
from bot.web.state import (
    BugView,
    IncidentLinks,
    IncidentPageView,
    PageState,
    PlaybookLinkView,
    PlaybookView,
    linked_bugs,
)
from storage.unit_of_work import Store

MAX_AGE = 10.0
INDEX = "/playbooks"
MATCH_KINDS = ("status.alert", "status.notice")
"""Public entries whose text, with the title, says what an incident is about."""


class PlaybookPages:
    def __init__(self, store: PlaybookStore, states: BugStates, database: Store, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._states = states
        self._database = database
        self._clock = clock
        self._rendered: dict[str, tuple[Document, float, int]] = {}

    async def document(self, path: str, state: PageState) -> Document | None:
        path = path.rstrip("/") or "/"
        entries = self._store.entries
        cached = self._rendered.get(path)
        if cached is not None and cached[1] > self._clock() and cached[2] == self._store.version:
            return cached[0]
        if path == INDEX:
            async with self._database.reading() as tx:
                links = await tx.playbook_links.all()
            views = [self._view(entry, [(link.url, link.added_by)
                                        for link in links.get(entry.slug, ())], body=False)
                     for entry in entries.values()]
            document = Document.html(pages.render_playbooks(state, views))
        else:
            entry = entries.get(path.removeprefix(INDEX + "/"))
            if entry is None or not path.startswith(INDEX + "/"):
                return None
            async with self._database.reading() as tx:
                links = {entry.slug: list(await tx.playbook_links.of(entry.slug))}
            chat = [(link.url, link.added_by) for link in links[entry.slug]]
            document = Document.html(pages.render_playbook(state, self._view(entry, chat)))
        self._rendered[path] = (document, self._clock() + MAX_AGE, self._store.version)
        return document

    def bug_line(self, url: str) -> str | None:
        known = self._states.cached(url)
        return known.line if known else None

    async def bug_states(self, urls: Sequence[str]) -> dict[str, Any]:
        """Linked bugs' cached states for the incident bundle's bugs.json."""
        return await cached_lookup(self._states)(urls)

    def annotate(self, incident: IncidentPageView) -> IncidentLinks:
        """Snapshot hook: the incident's bugs with their cached state, and the entries its
        title and alerts match."""
        bugs = tuple(self._bug(view.url) for view in linked_bugs(incident))
        self._states.warm(bug.url for bug in bugs if bug.state == "unknown")
        text = " ".join([incident.title, *(u.text or "" for u in incident.updates
                                           if u.kind in MATCH_KINDS)])
        matches = lookup.relevant(self._store.entries.values(), text)
        return IncidentLinks(bugs, tuple(PlaybookLinkView(e.slug, e.title) for e in matches))

    def _view(self, entry: Entry, chat: Iterable[tuple[str, str]], *,
              body: bool = True) -> PlaybookView:
        bugs = [self._bug(url) for url in entry.bugs]
        bugs += [self._bug(url, linked_by=who) for url, who in chat if url not in entry.bugs]
        self._states.warm(bug.url for bug in bugs)
        return PlaybookView(
            slug=entry.slug, title=entry.title, summary=entry.summary,
            keywords=entry.keywords, owner=entry.owner, updated=entry.updated,
            bugs=tuple(bugs), html=markdown.render(entry.body) if body else "",
        )

    def _bug(self, url: str, *, linked_by: str | None = None) -> BugView:
        known = self._states.cached(url)
        if known is not None:
            return BugView(url, known.key, known.tracker, known.state, known.title,
                           known.assignee, known.updated, known.reason, linked_by)
        ref = self._states.ref(url)
        if ref is None:
            return BugView(url, url, None, "unknown", reason="no tracker configured for "
                           "this host", linked_by=linked_by)
        return BugView(url, ref.key, ref.tracker, "unknown", reason="not asked yet",
                       linked_by=linked_by)
