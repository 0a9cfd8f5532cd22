"""The Atom feed (RFC 4287) of `#status` posts and public incident updates: `/feed.atom`.

A pure function of a `PageState`. Built with ElementTree, which escapes every text and attribute;
characters XML 1.0 cannot carry (most C0 controls, lone surrogates, U+FFFE/U+FFFF) are removed
first, and so are C1 controls, which XML allows but discourages.

A `#status alert|notice|ok` attached to an incident is both a status post and a `status.*` entry
of the incident's timeline, with the same text at the same time: the feed shows it once, as the
post (linked to the incident page).
"""

from __future__ import annotations

import heapq
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from bot.web.state import IncidentPageView, MaintenanceView, PageState, PostView, UpdateView
from bot.web.statuspage import iso, update_body

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 100
TITLE_CHARS = 100

_NOT_XML = re.compile(
    "[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_POST_LABELS = {"alert": "Alert", "notice": "Notice", "log": "Log", "ok": "Alert cleared"}


def clean(text: str) -> str:
    """Text that XML 1.0 can carry. CR is normalized to LF (a parser would do it anyway)."""
    return _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    title: str
    at: datetime
    link: str
    author: str
    content: str
    order: tuple[int, int]
    """Tie-break among entries of the same instant: (posts 1 / updates 0, id)."""


def atom(state: PageState) -> bytes:
    base = state.url.rstrip("/")
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _sub(feed, "id", f"{base}/feed.atom")
    _sub(feed, "title", state.title)
    _sub(feed, "updated", iso(state.updated_at))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/feed.atom")
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/")
    author = _sub(feed, "author")
    _sub(author, "name", state.title)
    _sub(author, "uri", f"{base}/")
    for entry in _entries(state, base):
        element = _sub(feed, "entry")
        _sub(element, "id", entry.id)
        _sub(element, "title", entry.title, type="text")
        _sub(element, "updated", iso(entry.at))
        _sub(element, "published", iso(entry.at))
        _sub(element, "link", rel="alternate", type="text/html", href=entry.link)
        entry_author = _sub(element, "author")
        _sub(entry_author, "name", entry.author)
        _sub(element, "content", entry.content, type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def _entries(state: PageState, base: str) -> list[_Entry]:
    incidents: dict[int, IncidentPageView] = {}
    for view in (*state.open_incidents, *state.recent_resolved):
        incidents.setdefault(view.id, view)
    entries = [_post_entry(post, base) for post in state.posts]
    mirrored = {
        (p.incident_id, f"status.{p.kind}", p.at, p.text or "") for p in state.posts
        if p.incident_id is not None
    }
    # Every update of 1,000 open incidents is a candidate, but only the newest
    # FEED_ENTRIES become entries: choose by (time, order) first, format those alone.
    candidates = heapq.nlargest(FEED_ENTRIES, (
        (update.at, (0, update.id), update, view)
        for view in incidents.values() for update in view.updates
        if (view.id, update.kind, update.at, update.text or "") not in mirrored
    ), key=lambda c: (c[0], c[1]))
    entries += [_update_entry(update, view, base) for _, _, update, view in candidates]
    for window in state.maintenances:
        entries.extend(_maintenance_entry(update, window, base) for update in window.updates)
    entries.sort(key=lambda e: (e.at, e.order), reverse=True)
    return entries[:FEED_ENTRIES]


def _post_entry(post: PostView, base: str) -> _Entry:
    label = _POST_LABELS.get(post.kind, post.kind.capitalize())
    first = _first_line(post.text or "")
    title = f"{label}: {first}" if first else label
    if post.incident_id is not None:
        link = f"{base}/incidents/{post.incident_id}"
        title = f"{title} (incident #{post.incident_id})"
    else:
        link = f"{base}/"
    content = post.text if post.text and first else (
        "The alert has been cleared." if post.kind == "ok" else label)
    return _Entry(id=f"{base}/posts/{post.id}", title=title, at=post.at, link=link,
                  author=post.author, content=content, order=(1, post.id))


def _update_entry(update: UpdateView, incident: IncidentPageView, base: str) -> _Entry:
    state = update.state or incident.state
    link = f"{base}/incidents/{incident.id}"
    return _Entry(
        id=f"{link}#update-{update.id}",
        title=f"#{incident.id} {_first_line(incident.title)} — {state}",
        at=update.at, link=link, author=update.actor, content=update_body(update),
        order=(0, update.id),
    )


def _maintenance_entry(update: UpdateView, window: MaintenanceView, base: str) -> _Entry:
    phase = (update.state or window.phase).replace("_", " ")
    link = f"{base}/incidents/{window.id}"
    content = (f"Scheduled: {update.text}" if update.kind == "opened" and update.text
               else update_body(update))
    return _Entry(
        id=f"{link}#update-{update.id}",
        title=f"Maintenance #{window.id} {_first_line(window.title)} — {phase}",
        at=update.at, link=link, author=update.actor, content=content,
        order=(0, update.id),
    )


def _first_line(text: str) -> str:
    lines = clean(text).strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1].rstrip() + "…"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: clean(v) for k, v in attributes.items()})
    if text is not None:
        element.text = clean(text)
    return element
