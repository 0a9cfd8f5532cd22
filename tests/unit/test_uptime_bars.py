"""The uptime bars' HTML (templates/_uptime.html): rendered from hand-built histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from bot.web import pages
from bot.web.uptime import (
    MAJOR,
    OPERATIONAL,
    PARTIAL,
    IncidentSpan,
    StatusChange,
    UptimeHistory,
    uptime_history,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
YESTERDAY = datetime(2026, 11, 20, tzinfo=UTC)


class Bars(HTMLParser):
    """Collects the bars (`li.day`) with their titles, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "li" and "day" in (found.get("class") or "").split():
            self.bars.append(found)
        if tag == "a" and found.get("href"):
            self.links.append(found["href"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def render(history: UptimeHistory, name: str = "Gerrit") -> tuple[str, Bars]:
    html = pages._env.from_string(
        '{% from "_uptime.html" import uptime_bars, uptime_legend %}'
        "{{ uptime_legend() }}{{ uptime_bars(id, name, history) }}"
    ).render(id="gerrit", name=name, history=history)
    parsed = Bars()
    parsed.feed(html)
    return html, parsed


def outage_yesterday(title: str = "Gerrit down") -> UptimeHistory:
    return uptime_history(
        [StatusChange(YESTERDAY + timedelta(hours=10), OPERATIONAL, MAJOR, 3),
         StatusChange(YESTERDAY + timedelta(hours=16), MAJOR, PARTIAL, 3),
         StatusChange(YESTERDAY + timedelta(hours=18), PARTIAL, OPERATIONAL, 3)],
        [IncidentSpan(3, title, YESTERDAY + timedelta(hours=10),
                      YESTERDAY + timedelta(hours=18))],
        now=NOW,
    )


def test_ninety_bars_each_with_a_title() -> None:
    _, parsed = render(uptime_history([], now=NOW))
    assert len(parsed.bars) == 90
    assert all(bar.get("title") for bar in parsed.bars)
    assert parsed.bars[-1]["title"] == "2026-11-21 · Operational · 100% uptime"
    assert parsed.bars[0]["title"] == "2026-08-24 · Operational · 100% uptime"


def test_a_bad_day_has_its_status_class_title_and_text_alternative() -> None:
    html, parsed = render(outage_yesterday())
    bar = parsed.bars[-2]
    assert "day-major_outage" in (bar["class"] or "")
    assert bar["title"] == "2026-11-20 · Major outage · 70.83% uptime · #3 Gerrit down"
    text = " ".join("".join(parsed.text).split())
    assert "99.67% uptime over the last 90 days" in text  # 7 h down of 89.5 days
    assert "1 day with problems on Gerrit" in text
    assert "2026-11-20: Major outage, 70.83% uptime · #3 Gerrit down" in text
    assert "/incidents/3" in parsed.links
    assert 'role="img"' in html and "1 day with problems, listed below" in html


def test_a_good_quarter_says_so_without_a_list() -> None:
    html, parsed = render(uptime_history([], now=NOW))
    text = " ".join("".join(parsed.text).split())
    assert "100% uptime over the last 90 days" in text
    assert "No problems in the last 90 days." in text
    assert "<details" not in html


def test_chat_text_is_escaped_in_titles_and_the_list() -> None:
    evil = '"><script>alert(1)</script>'
    html, parsed = render(outage_yesterday(title=evil), name="<b>Gerrit</b>")
    assert "<script>" not in html and "<b>Gerrit" not in html
    assert parsed.bars[-2]["title"] == f"2026-11-20 · Major outage · 70.83% uptime · #3 {evil}"


def test_the_legend_names_every_status() -> None:
    _, parsed = render(uptime_history([], now=NOW))
    text = "".join(parsed.text)
    for label in ("Operational", "Degraded performance", "Partial outage", "Major outage",
                  "Under maintenance", "No data"):
        assert label in text


def test_a_history_that_starts_late_says_since_when() -> None:
    since = YESTERDAY + timedelta(hours=6)
    history = uptime_history([], now=NOW, since=since)
    assert history.since == YESTERDAY.date()
    _, parsed = render(history)
    text = " ".join("".join(parsed.text).split())
    assert "100% uptime since 2026-11-20" in text
    assert "No problems since 2026-11-20." in text
    assert "over the last" not in text
    assert uptime_history([], now=NOW).since is None
