"""The Atom feed, read back the way feed readers read it (feedparser) and as plain XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser  # type: ignore[import-untyped]
import pytest

from bot.web.feed import FEED_ENTRIES, atom
from bot.web.state import AlertState, IncidentPageView, PageState, PostView, UpdateView

URL = "https://status.example.org"
T0 = datetime(2026, 11, 21, 14, 2, tzinfo=UTC)
A = "{http://www.w3.org/2005/Atom}"
ENTRY_CHILDREN = ["id", "title", "updated", "published", "link", "author", "content"]

XSS_CORPUS = [
    "<script>alert(1)</script>",
    "]]><injected/>",
    "&amp; literal &lt;b&gt; &#x3C;script&#x3E;",
    "\"double\" and 'single' quotes",
    "</content><entry><id>evil</id></entry>",
    "</title></entry></feed><feed>",
    "<![CDATA[x]]>",
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>&e;',
    "Ünïcødé — 日本語 🚨 \u202ertl override",
    "<img src=x onerror=alert(1)>",
]


# --- a hand-built PageState ----------------------------------------------------------------


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def update(
    id: int, kind: str, minutes: float, *, state: str = "investigating", text: str | None = None,
    old: str | None = None, new: str | None = None, actor: str = "alice",
) -> UpdateView:
    return UpdateView(id, at(minutes), kind, actor, state, text, old, new)


def incident(
    id: int, updates: Iterable[UpdateView], *, title: str = "Gerrit is down",
    state: str = "investigating", opened: float = 0,
) -> IncidentPageView:
    updates = tuple(updates)
    return IncidentPageView(
        id=id, title=title, severity=3, state=state, is_alert=False, opened_at=at(opened),
        updated_at=max([at(opened), *(u.at for u in updates)]), identified_at=None,
        monitoring_at=None, resolved_at=at(99) if state == "resolved" else None,
        updates=updates,
    )


def post(
    id: int, kind: str, minutes: float, text: str | None, *, author: str = "alice",
    incident_id: int | None = None,
) -> PostView:
    return PostView(id, kind, text, author, at(minutes), incident_id)


def page_state(
    *, open: Iterable[IncidentPageView] = (), resolved: Iterable[IncidentPageView] = (),
    posts: Iterable[PostView] = (), title: str = "Example status", url: str = URL,
    updated: float = 120, alert: str | None = None,
) -> PageState:
    return PageState(
        title=title, url=url, updated_at=at(updated),
        alert=AlertState(alert, "alice", at(0), None) if alert else None,
        open_incidents=tuple(open), recent_resolved=tuple(resolved),
        posts=tuple(sorted(posts, key=lambda p: p.at, reverse=True)), success=(), thanks=(),
    )


def parse(body: bytes) -> Any:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def sample_state() -> PageState:
    """An `#status alert` that opened incident 7, a notice on it, a log line, a resolved one."""
    gerrit = incident(7, [
        update(701, "opened", 10, text="Gerrit is down", new="investigating"),
        update(702, "status.alert", 10, text="Gerrit is down"),
        update(703, "state", 20, state="identified", old="investigating", new="identified"),
        update(704, "status.notice", 30, state="identified", text="Restarting the database"),
    ], opened=10)
    dns = incident(5, [
        update(501, "opened", -60, text="DNS outage", new="investigating"),
        update(502, "state", -30, state="resolved", old="investigating", new="resolved"),
    ], title="DNS outage", state="resolved", opened=-60)
    posts = [
        post(1, "alert", 10, "Gerrit is down", incident_id=7),
        post(2, "notice", 30, "Restarting the database", author="bob", incident_id=7),
        post(3, "log", 40, "Rebooted mirror01", author="carol"),
    ]
    return page_state(open=[gerrit], resolved=[dns], posts=posts, alert="Gerrit is down")


# --- the feed ------------------------------------------------------------------------------


def test_feed_metadata() -> None:
    feed = parse(atom(sample_state()))
    assert feed.version == "atom10"
    assert feed.feed.id == f"{URL}/feed.atom"
    assert feed.feed.title == "Example status"
    assert feed.feed.updated == "2026-11-21T16:02:00.000Z"
    links = {(link.rel, link.href, link.type) for link in feed.feed.links}
    assert links == {("self", f"{URL}/feed.atom", "application/atom+xml"),
                     ("alternate", f"{URL}/", "text/html")}
    assert feed.feed.author_detail.name == "Example status"


def test_entries_newest_first_with_ids_links_and_times() -> None:
    feed = parse(atom(sample_state()))
    got = [(e.id, e.link, e.updated, e.title, e.content[0].value, e.author)
           for e in feed.entries]
    incident7, incident5 = f"{URL}/incidents/7", f"{URL}/incidents/5"
    assert got == [
        (f"{URL}/posts/3", f"{URL}/", "2026-11-21T14:42:00.000Z",
         "Log: Rebooted mirror01", "Rebooted mirror01", "carol"),
        (f"{URL}/posts/2", incident7, "2026-11-21T14:32:00.000Z",
         "Notice: Restarting the database (incident #7)", "Restarting the database", "bob"),
        (f"{incident7}#update-703", incident7, "2026-11-21T14:22:00.000Z",
         "#7 Gerrit is down — identified", "Status changed to identified.", "alice"),
        (f"{URL}/posts/1", incident7, "2026-11-21T14:12:00.000Z",
         "Alert: Gerrit is down (incident #7)", "Gerrit is down", "alice"),
        (f"{incident7}#update-701", incident7, "2026-11-21T14:12:00.000Z",
         "#7 Gerrit is down — investigating", "Gerrit is down", "alice"),
        (f"{incident5}#update-502", incident5, "2026-11-21T13:32:00.000Z",
         "#5 DNS outage — resolved", "Status changed to resolved.", "alice"),
        (f"{incident5}#update-501", incident5, "2026-11-21T13:02:00.000Z",
         "#5 DNS outage — investigating", "DNS outage", "alice"),
    ]
    for entry in feed.entries:
        assert entry.content[0].type == "text/plain"
        assert entry.published == entry.updated


def test_a_status_post_on_an_incident_appears_once() -> None:
    # 702 and 704 mirror posts 1 and 2 (same incident, kind, time and text): they are the posts.
    ids = [e.id for e in parse(atom(sample_state())).entries]
    assert f"{URL}/incidents/7#update-702" not in ids
    assert f"{URL}/incidents/7#update-704" not in ids
    # Without the post (aged out of the recent posts), the timeline entry carries it.
    state = sample_state()
    alone = page_state(open=state.open_incidents, resolved=state.recent_resolved)
    ids = [e.id for e in parse(atom(alone)).entries]
    assert f"{URL}/incidents/7#update-702" in ids and f"{URL}/incidents/7#update-704" in ids


def test_ids_are_unique_and_stable() -> None:
    body = atom(sample_state())
    assert atom(sample_state()) == body
    ids = [e.id for e in parse(body).entries]
    assert len(ids) == len(set(ids))


def test_at_most_100_entries_newest_first() -> None:
    posts = [post(i, "log", i, f"log {i}") for i in range(1, 81)]
    busy = incident(9, [update(900 + i, "status.notice", i + 0.5, text=f"update {i}")
                        for i in range(60)])
    feed = parse(atom(page_state(open=[busy], posts=posts, updated=200)))
    assert len(feed.entries) == FEED_ENTRIES == 100
    stamps = [e.updated for e in feed.entries]
    assert stamps == sorted(stamps, reverse=True)
    # 140 candidates: posts at minutes 1..80, updates at 0.5..59.5. The 40 oldest (posts 1..20,
    # updates 0.5..19.5) are left out: the oldest kept is the update at minute 20.5.
    assert feed.entries[-1].id == f"{URL}/incidents/9#update-920"
    assert feed.entries[-1].updated == "2026-11-21T14:22:30.000Z"
    assert feed.entries[0].id == f"{URL}/posts/80"


def test_empty_feed_is_valid() -> None:
    feed = parse(atom(page_state()))
    assert feed.entries == []
    assert feed.feed.id == f"{URL}/feed.atom"


def test_trailing_slash_in_the_page_url() -> None:
    state = page_state(url=f"{URL}/", posts=[post(1, "log", 1, "x")],
                       open=[incident(2, [update(21, "opened", 0, text="t")])])
    feed = parse(atom(state))
    assert feed.feed.id == f"{URL}/feed.atom"
    assert [e.id for e in feed.entries] == [f"{URL}/posts/1", f"{URL}/incidents/2#update-21"]
    assert [e.link for e in feed.entries] == [f"{URL}/", f"{URL}/incidents/2"]


def test_post_titles() -> None:
    long = "x" * 150
    posts = [post(1, "ok", 4, None), post(2, "log", 3, "first line\nsecond line"),
             post(3, "notice", 2, long), post(4, "alert", 1, "   ")]
    entries = parse(atom(page_state(posts=posts))).entries
    assert [e.title for e in entries] == [
        "Alert cleared", "Log: first line", "Notice: " + "x" * 99 + "…", "Alert"]
    assert [e.content[0].value for e in entries] == [
        "The alert has been cleared.", "first line\nsecond line", long, "Alert"]


# --- text from chat ------------------------------------------------------------------------


def _xss_state(text: str) -> PageState:
    hostile = incident(3, [update(31, "opened", 0, text=text, actor=text),
                           update(32, "status.notice", 1, text=text, actor=text)], title=text)
    return page_state(open=[hostile], title=text,
                      posts=[post(1, "log", 2, text, author=text)])


@pytest.mark.parametrize("text", XSS_CORPUS)
def test_chat_text_survives_exactly(text: str) -> None:
    feed = parse(atom(_xss_state(text)))
    assert feed.feed.title == text
    assert [e.id for e in feed.entries] == [
        f"{URL}/posts/1", f"{URL}/incidents/3#update-32", f"{URL}/incidents/3#update-31"]
    for entry in feed.entries:
        assert entry.content[0].value == text
        assert entry.author == text
    assert feed.entries[0].title == f"Log: {text}"
    assert feed.entries[1].title == f"#3 {text} — investigating"


@pytest.mark.parametrize("text", XSS_CORPUS)
def test_chat_text_adds_no_elements(text: str) -> None:
    root = ET.fromstring(atom(_xss_state(text)))
    assert root.tag == f"{A}feed"
    assert [child.tag for child in root] == [
        f"{A}{tag}" for tag in ("id", "title", "updated", "link", "link", "author")
    ] + [f"{A}entry"] * 3
    for entry in root.iter(f"{A}entry"):
        assert [child.tag for child in entry] == [f"{A}{tag}" for tag in ENTRY_CHILDREN]
        assert entry.findtext(f"{A}content") == text
        author = entry.find(f"{A}author")
        assert author is not None
        assert [child.tag for child in author] == [f"{A}name"]
        assert author.findtext(f"{A}name") == text
    # feed, its 6 children, author's name and uri; per entry: itself, its children, author's name
    assert sum(1 for _ in root.iter()) == 1 + 6 + 2 + 3 * (1 + len(ENTRY_CHILDREN) + 1)


def test_characters_xml_cannot_carry_are_removed() -> None:
    text = "a\x00b\x08c\x0bd\x1fe\x7ff\x85g\ufffeh\udce2i\tj\r\nk\rl"
    feed = parse(atom(page_state(title=text, posts=[post(1, "log", 1, text, author=text)])))
    assert feed.feed.title == "abcdefghi\tj\nk\nl"
    (entry,) = feed.entries
    assert entry.content[0].value == "abcdefghi\tj\nk\nl"
    assert entry.author == "abcdefghi\tj\nk\nl"
    assert entry.title == "Log: abcdefghi\tj"
