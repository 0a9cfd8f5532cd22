"""The status page's HTML: pure renders of hand-built `PageState` values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from bot.web.pages import (
    render_history,
    render_incident,
    render_index,
    render_kudos,
    render_not_found,
)
from bot.web.state import (
    AlertState,
    IncidentPageView,
    KudosView,
    PageState,
    PostView,
    UpdateView,
)
from bot.web.statuspage import indicator, update_body

T0 = datetime(2024, 3, 1, 9, 15, tzinfo=UTC)

# --- factories --------------------------------------------------------------------------------


def update(
    id: int = 1,
    at: datetime = T0,
    kind: str = "status.notice",
    actor: str = "alice",
    state: str | None = "investigating",
    text: str | None = "looking into it",
    old: str | None = None,
    new: str | None = None,
) -> UpdateView:
    return UpdateView(id=id, at=at, kind=kind, actor=actor, state=state, text=text, old=old,
                      new=new)


def incident(
    id: int = 1,
    title: str = "gerrit is down",
    severity: int = 2,
    state: str = "investigating",
    opened_at: datetime = T0,
    updates: tuple[UpdateView, ...] | None = None,
    resolved_at: datetime | None = None,
    **fields: Any,
) -> IncidentPageView:
    if updates is None:
        updates = (update(id=id * 100, at=opened_at, kind="opened", text=title, new=state),)
    updated_at = max([opened_at, *(u.at for u in updates),
                      *([resolved_at] if resolved_at else [])])
    values: dict[str, Any] = dict(
        id=id, title=title, severity=severity, state=state, is_alert=False,
        opened_at=opened_at, updated_at=updated_at, identified_at=None, monitoring_at=None,
        resolved_at=resolved_at, updates=updates,
    )
    values.update(fields)
    return IncidentPageView(**values)


def resolved(id: int, opened_at: datetime, minutes: int, title: str = "") -> IncidentPageView:
    end = opened_at + timedelta(minutes=minutes)
    return incident(id=id, title=title or f"resolved incident {id}", state="resolved",
                    opened_at=opened_at, resolved_at=end,
                    updates=(update(id=id * 100, at=opened_at, kind="opened", text="x"),
                             update(id=id * 100 + 1, at=end, kind="state", state="resolved",
                                    old="investigating", new="resolved", text=None)))


def post(id: int = 1, kind: str = "notice", text: str | None = "restarting gerrit",
         author: str = "alice", at: datetime = T0, incident_id: int | None = None) -> PostView:
    return PostView(id=id, kind=kind, text=text, author=author, at=at, incident_id=incident_id)


def kudos(id: int = 1, text: str = "zuul is fast again", author: str = "bob",
          at: datetime = T0) -> KudosView:
    return KudosView(id=id, text=text, author=author, at=at)


def page_state(**fields: Any) -> PageState:
    values: dict[str, Any] = dict(
        title="Example Infra Status", url="https://status.example.org", updated_at=T0,
        alert=None, open_incidents=(), recent_resolved=(), posts=(), success=(), thanks=(),
    )
    values.update(fields)
    return PageState(**values)


# --- an HTML reader -----------------------------------------------------------------------------


@dataclasses.dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


class Page(HTMLParser):
    """Every element with its attributes and its own direct text, plus all text data."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.data: list[str] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in ("meta", "link", "br", "img", "input", "hr"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                break

    def handle_data(self, data: str) -> None:
        self.data.append(data)
        for element in self._open:
            element.text += data

    @property
    def text(self) -> str:
        return "".join(self.data)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag
                and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def with_class(self, name: str) -> list[Element]:
        return [e for e in self.elements if name in (e.attrs.get("class") or "").split()]

    def hrefs(self) -> list[str]:
        return [e.attrs["href"] or "" for e in self.elements if "href" in e.attrs]


def assert_well_formed_page(html: str) -> Page:
    page = Page(html)
    (root,) = page.find("html")
    assert root.attrs["lang"] == "en"
    assert page.find("meta", name="viewport")
    assert page.find("main", id="content")[0].attrs["aria-live"] == "polite"
    assert page.find("header") and page.find("nav")
    assert len(page.find("h1")) == 1
    scripts = page.find("script")
    assert [s.attrs.get("src") for s in scripts] == ["/static/live.js"]
    assert "defer" in scripts[0].attrs
    assert page.find("link", rel="stylesheet")[0].attrs["href"] == "/static/statusdesk.css"
    for href in page.hrefs():
        # Relative links only (an exported copy works on any host); no third-party assets.
        assert href.startswith(("/", "#")) or href.startswith("https://bugs."), href
    for element in page.find("time"):
        assert element.attrs.get("datetime"), element
    return page


def time_texts(page: Page, css_class: str) -> list[str]:
    return [e.text for e in page.with_class(css_class) if e.tag == "time"]


# --- the pages --------------------------------------------------------------------------------


def test_index_all_clear() -> None:
    page = assert_well_formed_page(render_index(page_state()))
    assert "All Systems Operational" in page.find("h1")[0].text
    assert page.with_class("banner-none")
    assert "No open incidents." in page.text
    assert not page.with_class("alert")
    assert page.find("link", rel="alternate")[0].attrs == {
        "rel": "alternate", "type": "application/atom+xml", "href": "/feed.atom",
        "title": "Status updates (Atom)"}
    hrefs = page.hrefs()
    for path in ("/", "/history", "/success", "/thanks", "/feed.atom"):
        assert path in hrefs
    assert page.find("a", href="/")[1].attrs.get("aria-current") == "page"


def test_index_shows_alert_open_incidents_and_posts() -> None:
    older = incident(id=3, title="zuul queue stuck", severity=3, state="identified",
                     updates=(update(id=30, kind="opened", text="zuul queue stuck"),
                              update(id=31, at=T0 + timedelta(minutes=20), kind="state",
                                     state="identified", old="investigating",
                                     new="identified", text="a bad config change")))
    newer = incident(id=7, title="gerrit is down", severity=1, is_alert=True)
    state = page_state(
        alert=AlertState("gerrit is down, do not recheck", "alice", T0, 7),
        open_incidents=(newer, older),
        posts=(post(id=2, kind="alert", text="gerrit is down, do not recheck", incident_id=7),
               post(id=1, kind="log", text="rebooted mirror01", author="bob",
                    at=T0 - timedelta(days=1))),
        recent_resolved=(resolved(2, T0 - timedelta(days=3), 30),),
    )
    page = assert_well_formed_page(render_index(state))

    assert page.with_class("banner-critical")
    assert indicator(state) == ("critical", "Major Service Outage")
    assert "Major Service Outage" in page.find("h1")[0].text
    (alert,) = page.with_class("alert")
    assert "gerrit is down, do not recheck" in alert.text
    assert "alice" in alert.text
    assert any(t.attrs["datetime"] == "2024-03-01T09:15:00Z" for t in page.find("time"))
    assert "/incidents/7" in page.hrefs()

    links = {a.text for a in page.find("a", href="/incidents/7")}
    assert {"gerrit is down", "Follow incident #7", "Incident #7"} <= links
    assert page.find("a", href="/incidents/3")[0].text == "zuul queue stuck"
    articles = [e for e in page.find("article")]
    assert [a.attrs["class"] for a in articles] == ["incident sev-1", "incident sev-3"]
    assert "SEV3 · minor" in articles[1].text and "Identified" in articles[1].text
    latest = page.with_class("latest")
    assert "a bad config change" in latest[1].text
    assert "09:35 UTC" in latest[1].text

    posts = page.with_class("posts")[0].text
    assert "rebooted mirror01" in posts and "bob" in posts
    assert "2024-02-29 09:15 UTC" in posts
    assert "Alert" in posts and "Log" in posts
    assert "/incidents/2" in page.hrefs()  # recently resolved


@pytest.mark.parametrize("severity", [1, 2, 3, 4])
@pytest.mark.parametrize("alert", [False, True])
def test_index_banner_follows_the_indicator(severity: int, alert: bool) -> None:
    state = page_state(open_incidents=(incident(severity=severity),),
                       alert=AlertState("down", "alice", T0, 1) if alert else None)
    level, description = indicator(state)
    if not alert and severity <= 3:
        assert level == {1: "critical", 2: "major", 3: "minor"}[severity]
    page = Page(render_index(state))
    assert page.with_class(f"banner-{level}")
    assert description in page.find("h1")[0].text
    assert f"SEV{severity}" in page.text


def test_incident_same_day_shows_times_only_newest_first() -> None:
    updates = (update(id=1, kind="opened", text="gerrit is down", new="investigating"),
               update(id=2, at=T0 + timedelta(minutes=5), kind="severity", old="2", new="1"),
               update(id=3, at=T0 + timedelta(minutes=40), kind="lead", new="carol"),
               update(id=4, at=T0 + timedelta(hours=2), kind="state", state="resolved",
                      old="investigating", new="resolved", text="fixed"))
    view = incident(id=5, updates=updates, state="resolved", severity=1,
                    resolved_at=T0 + timedelta(hours=2))
    page = assert_well_formed_page(render_incident(page_state(), view))
    assert page.find("h1")[0].text == "gerrit is down"
    assert page.find("title")[0].text.startswith("Incident #5: gerrit is down")
    assert "SEV1 · critical" in page.text and "Resolved" in page.text
    assert time_texts(page, "entry-time") == ["11:15 UTC", "09:55 UTC", "09:20 UTC",
                                              "09:15 UTC"]
    entries = [e.text for e in page.with_class("entry")]
    assert "Resolved" in entries[0] and "fixed" in entries[0]
    assert "carol" in entries[1]
    assert update_body(updates[1]) in entries[2]
    times = page.with_class("times")[0].text
    assert "2024-03-01 09:15 UTC" in times and "2024-03-01 11:15 UTC" in times
    assert "2 h" in times


def test_incident_spanning_days_shows_dates() -> None:
    updates = (update(id=1, at=T0, kind="opened", text="slow mirrors"),
               update(id=2, at=T0 + timedelta(days=1, hours=1), kind="status.notice",
                      text="still slow"))
    view = incident(id=6, title="slow mirrors", updates=updates)
    page = Page(render_incident(page_state(), view))
    assert time_texts(page, "entry-time") == ["2024-03-02 10:15 UTC", "2024-03-01 09:15 UTC"]


def test_an_update_shown_again_once_its_incident_spans_days_shows_its_date() -> None:
    # Timeline items are made once per update and kept (pages._update_item): the same
    # update on an incident that has come to span days must not reuse its time-only item.
    first = update(id=1, at=T0, kind="opened", text="slow mirrors")
    same_day = Page(render_incident(page_state(), incident(id=7, updates=(first,))))
    assert time_texts(same_day, "entry-time") == ["09:15 UTC"]
    later = update(id=2, at=T0 + timedelta(days=1), text="still slow")
    two_days = Page(render_incident(page_state(), incident(id=7, updates=(first, later))))
    assert time_texts(two_days, "entry-time") == ["2024-03-02 09:15 UTC",
                                                  "2024-03-01 09:15 UTC"]
    again = Page(render_incident(page_state(), incident(id=7, updates=(first,))))
    assert time_texts(again, "entry-time") == ["09:15 UTC"]


def test_incident_midnight_crossing_counts_as_two_days() -> None:
    late = datetime(2024, 3, 1, 23, 50, tzinfo=UTC)
    updates = (update(id=1, at=late, kind="opened"),
               update(id=2, at=late + timedelta(minutes=20)))
    page = Page(render_incident(page_state(), incident(updates=updates, opened_at=late)))
    assert time_texts(page, "entry-time") == ["2024-03-02 00:10 UTC", "2024-03-01 23:50 UTC"]


def test_incident_bug_link_only_for_http_urls() -> None:
    updates = (update(id=1, kind="bug", new="https://bugs.example.org/123"),
               update(id=2, kind="bug", new="javascript:alert(1)"))
    page = Page(render_incident(page_state(), incident(updates=updates)))
    assert page.find("a", href="https://bugs.example.org/123")
    assert not [h for h in page.hrefs() if "javascript" in h]
    assert "javascript:alert(1)" in page.text


def test_history_pagination() -> None:
    items = [resolved(i, T0 - timedelta(days=i), 65 + i) for i in (1, 2, 3)]
    first = assert_well_formed_page(render_history(page_state(), items, 1, True))
    assert "/history?page=2" in first.hrefs()
    assert not [h for h in first.hrefs() if h.startswith("/history?page=0")]
    assert not first.find("a", rel="prev")
    assert [a.attrs["href"] for a in first.find("a", rel="next")] == ["/history?page=2"]
    titles = [e.text for e in first.find("h2")]
    assert titles == ["resolved incident 1", "resolved incident 2", "resolved incident 3"]
    assert "1 h 6 min" in first.text
    assert first.find("time", datetime="PT1H6M")

    middle = Page(render_history(page_state(), items, 2, True))
    assert [a.attrs["href"] for a in middle.find("a", rel="prev")] == ["/history?page=1"]
    assert [a.attrs["href"] for a in middle.find("a", rel="next")] == ["/history?page=3"]

    last = Page(render_history(page_state(), items[:1], 3, False))
    assert [a.attrs["href"] for a in last.find("a", rel="prev")] == ["/history?page=2"]
    assert not last.find("a", rel="next")

    only = Page(render_history(page_state(), [], 1, False))
    assert not only.find("a", rel="prev") and not only.find("a", rel="next")
    assert "No resolved incidents" in only.text


def test_history_sorts_newest_resolution_first() -> None:
    items = [resolved(1, T0 - timedelta(days=5), 10), resolved(2, T0 - timedelta(days=1), 10)]
    page = Page(render_history(page_state(), items, 1, False))
    assert [e.text for e in page.find("h2")] == ["resolved incident 2", "resolved incident 1"]


@pytest.mark.parametrize("kind", ["success", "thanks"])
def test_kudos_lists(kind: str) -> None:
    state = page_state(
        success=(kudos(2, "zuul is fast again", "bob", T0),
                 kudos(1, "mirrors rebuilt", "carol", T0 - timedelta(days=40))),
        thanks=(kudos(3, "thanks dave for the reboot", "erin", T0),),
    )
    page = assert_well_formed_page(render_kudos(state, kind))  # type: ignore[arg-type]
    items = [e.text for e in page.find("li") if e.text and "—" in e.text]
    if kind == "success":
        assert page.find("h1")[0].text == "Successes"
        assert len(items) == 2
        assert "zuul is fast again" in items[0] and "bob" in items[0]
        assert "2024-03-01" in items[0]
        assert "mirrors rebuilt" in items[1] and "2024-01-21" in items[1]
        assert "thanks dave" not in page.text
    else:
        assert page.find("h1")[0].text == "Thanks"
        assert len(items) == 1 and "erin" in items[0]
    assert page.find("a", href=f"/{kind}")[0].attrs.get("aria-current") == "page"


def test_kudos_empty() -> None:
    assert "Nothing recorded yet." in Page(render_kudos(page_state(), "thanks")).text


def test_not_found() -> None:
    page = assert_well_formed_page(render_not_found(page_state()))
    assert page.find("h1")[0].text == "Page not found"
    assert "/" in page.hrefs()


def test_naive_and_non_utc_times_are_shown_in_utc() -> None:
    from datetime import timezone
    cet = datetime(2024, 3, 1, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    page = Page(render_index(page_state(posts=(post(at=cet),))))
    assert page.find("time", datetime="2024-03-01T09:15:00Z")
    assert "2024-03-01 09:15 UTC" in page.text


# --- XSS ------------------------------------------------------------------------------------------

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "</title><script>alert(2)</script>",
    "{{ 7*7 }}",
    "{% raw %}",
    "\u202eevil\u202c \u2067rtl\u2069 🔥🚒",
    "' onmouseover='alert(3)",
    "<!-- comment --><style>*{}</style>",
]


def hostile_state(payload: str) -> tuple[PageState, IncidentPageView]:
    updates = tuple(
        update(id=i, at=T0 + timedelta(hours=i), kind=kind, actor=payload, text=payload,
               old=payload, new=payload, state=payload if kind == "state" else "identified")
        for i, kind in enumerate(["opened", "state", "severity", "lead", "manager",
                                  "status.alert", "status.notice", "status.ok", "bug",
                                  "something-new"])
    )
    hostile = incident(id=9, title=payload, severity=1, state="identified", updates=updates)
    done = incident(id=8, title=payload, severity=2, state="resolved", updates=updates,
                    resolved_at=T0 + timedelta(days=2))
    state = page_state(
        title=payload,
        alert=AlertState(payload, payload, T0, 9),
        open_incidents=(hostile,),
        recent_resolved=(done,),
        posts=tuple(post(id=i, kind=kind, text=payload, author=payload, incident_id=9)
                    for i, kind in enumerate(["alert", "notice", "log", "ok", payload])),
        success=(kudos(1, payload, payload),),
        thanks=(kudos(2, payload, payload),),
    )
    return state, hostile


def all_pages(payload: str) -> dict[str, str]:
    state, hostile = hostile_state(payload)
    return {
        "index": render_index(state),
        "incident": render_incident(state, hostile),
        "history": render_history(state, state.recent_resolved, 2, True),
        "success": render_kudos(state, "success"),
        "thanks": render_kudos(state, "thanks"),
        "not_found": render_not_found(state),
    }


ALLOWED_TAGS = {"html", "head", "meta", "title", "link", "script", "body", "a", "header", "div",
                "p", "nav", "ul", "ol", "li", "main", "section", "h1", "h2", "h3", "span",
                "article", "time", "bdi", "dl", "dt", "dd", "code"}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_chat_text_is_escaped_everywhere(payload: str) -> None:
    for name, html in all_pages(payload).items():
        page = Page(html)
        assert {e.tag for e in page.elements} <= ALLOWED_TAGS, name
        scripts = page.find("script")
        assert [s.attrs.get("src") for s in scripts] == ["/static/live.js"], name
        assert all(not s.text for s in scripts), name
        for element in page.elements:
            for attribute in element.attrs:
                assert not attribute.lower().startswith("on"), (name, element)
        for href in page.hrefs():
            assert not href.strip().lower().startswith("javascript:"), (name, href)
        assert payload in page.text, name
        assert page.find("title")[0].text.count(payload) >= 1, name


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_reaches_every_chat_field(payload: str) -> None:
    pages = {name: Page(html) for name, html in all_pages(payload).items()}
    index, incident_page = pages["index"], pages["incident"]
    assert payload in index.with_class("alert-text")[0].text
    assert payload in index.with_class("alert")[0].text.replace(payload, "", 1)  # set_by
    assert payload in index.find("h3")[0].text
    assert payload in index.with_class("latest")[0].text
    assert all(payload in li.text for li in index.with_class("posts")[0:1])
    entries = incident_page.with_class("entry")
    assert len(entries) == 10
    assert all(payload in e.text for e in entries)
    assert payload in pages["history"].find("h2")[0].text
    assert payload in pages["success"].with_class("kudos")[0].text
    assert payload in pages["thanks"].with_class("kudos")[0].text


def test_jinja_syntax_in_data_is_not_evaluated() -> None:
    for name, html in all_pages("{{ 7*7 }} {% if true %}yes{% endif %}").items():
        assert "{{ 7*7 }}" in Page(html).text, name
        assert "49" not in html, name
        assert "{% if true %}yes{% endif %}" in Page(html).text, name


def test_markup_is_escaped_in_the_source() -> None:
    html = all_pages("<script>alert(1)</script>")["index"]
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
