"""The status page's HTML documents: pure functions of a `PageState` (no I/O, no database).

Every template is autoescaped and undefined names are errors. Chat text only ever reaches the
HTML as template *data*, so markup or Jinja syntax in it is shown, never interpreted. Links are
root-relative, so an exported copy works under any host name.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from bot.web import maintenances
from bot.web.state import (
    IncidentLinks,
    IncidentPageView,
    PageState,
    PlaybookView,
    PostView,
    UpdateView,
    linked_bugs,
)
from bot.web.statuspage import indicator, update_body
from bot.web.uptime import bar_title, format_uptime, status_label
from bot.web.view_memo import ViewMemo
from commands.component_status import label, worst

SEVERITY_NAMES = {1: "critical", 2: "major", 3: "minor", 4: "low"}
STATES = ("investigating", "identified", "monitoring", "resolved")
POST_KINDS = {"alert": "Alert", "notice": "Notice", "log": "Log", "ok": "OK"}
RECENTLY_RESOLVED_ON_INDEX = 5

_HTTP_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.ASCII | re.IGNORECASE)

_env = Environment(
    loader=PackageLoader("bot.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    # The templates are package data: they change with an upgrade, which restarts the
    # process. Reloading would stat a template file on every `get_template` (about a dozen
    # per change, before the change's event).
    auto_reload=False,
)


# --- formatting helpers (also the templates' filters) ----------------------------------------

def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """The `datetime` attribute of a `<time>` element: `2024-03-01T14:05:00Z`."""
    return utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def fmt_datetime(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def fmt_date(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%d")


def fmt_time(moment: datetime) -> str:
    return utc(moment).strftime("%H:%M UTC")


def _duration_parts(start: datetime, end: datetime) -> tuple[int, int, int, int]:
    seconds = max(0, int((utc(end) - utc(start)).total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return days, hours, minutes, seconds


def duration(start: datetime, end: datetime) -> str:
    """A human duration: `2 d 3 h`, `1 h 5 min`, `12 min`, `less than a minute`."""
    days, hours, minutes, _ = _duration_parts(start, end)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return "less than a minute"


def iso_duration(start: datetime, end: datetime) -> str:
    """The same duration for a `<time datetime>`: `P2DT3H`, `PT1H5M`, `PT0S`."""
    days, hours, minutes, seconds = _duration_parts(start, end)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
                    if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")
    return text if text != "P" else "PT0S"


def severity_label(severity: int) -> str:
    name = SEVERITY_NAMES.get(severity)
    return f"SEV{severity} · {name}" if name else f"SEV{severity}"


def severity_class(severity: int) -> str:
    return f"sev-{severity}" if severity in SEVERITY_NAMES else "sev-unknown"


def state_label(state: str | None) -> str:
    return (state or "unknown").replace("_", " ").capitalize()


def state_class(state: str | None) -> str:
    return f"state-{state}" if state in STATES else "state-unknown"


def post_label(kind: str) -> str:
    return POST_KINDS.get(kind, kind.capitalize())


def post_class(kind: str) -> str:
    return f"kind-{kind}" if kind in POST_KINDS else "kind-other"


def http_url(value: str | None) -> str | None:
    """`value` if it is a plain http(s) URL, safe to put in an `href`; otherwise None."""
    if value is None or not _HTTP_URL.fullmatch(value):
        return None
    return value


def spans_days(incident: IncidentPageView) -> bool:
    """Whether the incident's times fall on more than one UTC day."""
    moments = [incident.opened_at, incident.identified_at, incident.monitoring_at,
               incident.resolved_at, *(u.at for u in incident.updates)]
    days: set[date] = {utc(m).date() for m in moments if m is not None}
    return len(days) > 1


# --- components ----------------------------------------------------------------------------

COMPONENT_ICONS = {
    "operational": "✓",
    "under_maintenance": "⚙",
    "degraded_performance": "!",
    "partial_outage": "!",
    "major_outage": "✕",
}


def component_label(status: str) -> str:
    """`major_outage` -> `Major outage`."""
    text = label(status)
    return text[:1].upper() + text[1:]


def component_class(status: str) -> str:
    return f"component-{status}" if status in COMPONENT_ICONS else "component-unknown"


def component_icon(status: str) -> str:
    return COMPONENT_ICONS.get(status, "?")


# --- pages -------------------------------------------------------------------------------------

_env.filters.update(
    iso=iso,
    datetime=fmt_datetime,
    date=fmt_date,
    time=fmt_time,
    severity_label=severity_label,
    severity_class=severity_class,
    state_label=state_label,
    state_class=state_class,
    post_label=post_label,
    post_class=post_class,
    http_url=http_url,
    body=update_body,
    component_label=component_label,
    component_class=component_class,
    component_icon=component_icon,
    worst_status=worst,
)
_env.globals.update(duration=duration, iso_duration=iso_duration, spans_days=spans_days)
_env.globals.update(maintenance_state=maintenances.state_text,
                    maintenance_window=maintenances.window_text)
# Uptime history (templates/_uptime.html).
_env.filters.update(uptime_percent=format_uptime, uptime_title=bar_title,
                    uptime_status=status_label)


def _render(name: str, state: PageState, current: str, **context: Any) -> str:
    return _env.get_template(name).render(state=state, current=current, **context)


_CARDS: ViewMemo[bytes] = ViewMemo()

_last_cards: tuple[tuple[IncidentPageView, ...], list[bytes]] = ((), [])
"""The open incidents of the last `/` rendered, and their cards in the same order. A change
hands back the previous views of the incidents it left alone (load_page_state): with 1,000
open incidents, looking up 1,000 cards on every change (~2 ms before the change's event
could go out) became a pass of identity checks and the look-ups of the views that differ."""

_CARDS_HERE = "<!--statusdesk:open-cards-->"
"""Where `/`'s cards go, in the template's output. Data is escaped in every template, so no
text from chat can make this comment: the first one is the template's own."""


def render_index(state: PageState) -> str:
    """`/`: overall state, the current alert, open incidents, recent status posts."""
    return index_body(state).decode()


def index_body(state: PageState) -> bytes:
    """`/`, encoded. With 1,000 open incidents the cards are ~590 KB of the page: they are
    kept encoded, and joined as bytes around the rest of the page (a few KB through Jinja),
    rather than joined into the template's text and the whole page encoded again on every
    change (~1 ms before the change's event)."""
    level, description = indicator(state)
    cards = _open_cards(state.open_incidents)
    html = _render(
        "index.html", state, "index", indicator=level, description=description,
        recently_resolved=state.recent_resolved[:RECENTLY_RESOLVED_ON_INDEX],
        open_cards=Markup(_CARDS_HERE if cards else ""),
        post_items=[_post_item(post) for post in state.posts],
    )
    if not cards:
        return html.encode()
    head, _, tail = html.partition(_CARDS_HERE)
    return b"".join((head.encode(), b"\n".join(cards), tail.encode()))


def _open_cards(incidents: tuple[IncidentPageView, ...]) -> list[bytes]:
    global _last_cards
    last, last_cards = _last_cards
    if len(incidents) == len(last):
        # Same number open (a notice, an update): the views at the same place as last time
        # are the same cards (a card is a function of its view alone).
        cards = list(last_cards)
        for place in [n for n, same in enumerate(map(operator.is_, incidents, last))
                      if not same]:
            cards[place] = _card(incidents[place])
    else:
        cards = [_card(incident) for incident in incidents]
    _last_cards = (incidents, cards)
    return cards


def _card(incident: IncidentPageView) -> bytes:
    return _CARDS.get(incident, None, functools.partial(_open_card, incident))


def _open_card(incident: IncidentPageView) -> bytes:
    """An open incident's card on `/`, indented as the page nests it (markup, encoded): a
    function of its view alone, so made once per change of the incident (not of the
    page)."""
    return ("  " + _env.get_template("_open_incident.html").render(incident=incident)).encode()


def render_incident(
    state: PageState, incident: IncidentPageView, links: IncidentLinks | None = None
) -> str:
    """`/incidents/ID`: one incident and its public timeline, newest entry first; its
    linked bugs and matching playbook entries (`links`, else the bugs without state)."""
    names = {c.id: c.name for c in state.components}
    multi_day = spans_days(incident)
    return _render(
        "incident.html", state, "incident", incident=incident,
        # Items are Markup already: joined as plain text, not escaped once more each.
        timeline=Markup("".join([_update_item(update, multi_day)
                                 for update in reversed(incident.updates)])),
        links=links or IncidentLinks(bugs=linked_bugs(incident)),
        affected=[(names[cid], status) for cid, status in incident.components
                  if cid in names],
    )


_POST_ITEMS: dict[PostView, Markup] = {}
"""`/`'s status posts by post: a new post leaves the other 49 items as they were."""

POST_ITEMS_LIMIT = 4096
"""Posts kept at most; past that the memo starts over."""


def _post_item(post: PostView) -> Markup:
    """One `<li>` of `/`'s recent status posts (templates/_post.html)."""
    item = _POST_ITEMS.get(post)
    if item is None:
        item = Markup(_env.get_template("_post.html").render(post=post))
        if len(_POST_ITEMS) >= POST_ITEMS_LIMIT:
            _POST_ITEMS.clear()
        _POST_ITEMS[post] = item
    return item


_UPDATE_ITEMS: dict[tuple[UpdateView, bool], Markup] = {}
"""Timeline items by (update, whether its incident spans days): what one shows is a function
of these alone. The alert's incident takes every `#status notice`: with hundreds of updates,
rendering each item again on every notice was most of its page's time before the event."""

UPDATE_ITEMS_LIMIT = 16384
"""Items kept at most; past that the memo starts over."""


def _update_item(update: UpdateView, multi_day: bool) -> Markup:
    """One `<li>` of an incident page's timeline (templates/_update.html)."""
    key = (update, multi_day)
    item = _UPDATE_ITEMS.get(key)
    if item is None:
        item = Markup(_env.get_template("_update.html").render(update=update,
                                                                multi_day=multi_day))
        if len(_UPDATE_ITEMS) >= UPDATE_ITEMS_LIMIT:
            _UPDATE_ITEMS.clear()
        _UPDATE_ITEMS[key] = item
    return item


def render_playbooks(state: PageState, entries: Sequence[PlaybookView]) -> str:
    """`/playbooks`: every entry with its summary and the state of its bugs."""
    return _render("playbooks.html", state, "playbooks", entries=entries)


def render_playbook(state: PageState, entry: PlaybookView) -> str:
    """`/playbooks/SLUG`: one entry; `entry.html` is sanitized already."""
    return _render("playbook.html", state, "playbook", entry=entry, body=Markup(entry.html))


def render_history(
    state: PageState, incidents: Sequence[IncidentPageView], page: int, has_next: bool
) -> str:
    """`/history?page=N`: one page of resolved incidents, newest resolution first."""
    ordered = sorted(incidents, key=lambda i: utc(i.resolved_at or i.updated_at), reverse=True)
    return _render("history.html", state, "history", incidents=ordered, page=page,
                   has_next=has_next)


def render_kudos(state: PageState, kind: Literal["success", "thanks"]) -> str:
    """`/success`, `/thanks`: the statusbot-style lists, newest first."""
    entries = state.success if kind == "success" else state.thanks
    heading = "Successes" if kind == "success" else "Thanks"
    return _render("kudos.html", state, kind, kind=kind, heading=heading, entries=entries)


def render_not_found(state: PageState) -> str:
    """The body of a 404."""
    return _render("not_found.html", state, "not_found")
