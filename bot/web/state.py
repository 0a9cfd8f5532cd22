"""What the public status page shows, as plain values: read from the store once per change.

Renderers (HTML, Statuspage JSON, Atom) are pure functions of a `PageState`; nothing here is
private. Private timeline entries (notes, captured chat) never enter a `PageState`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.core.events import (
    ActionChanged,
    ActionFilingRequested,
    AlertCleared,
    AlertSet,
    BugLinked,
    DeskEvent,
    KudosRecorded,
    MaintenanceChanged,
    NoteAdded,
    RoleAssigned,
    StatusPosted,
    WhyRecorded,
)
from bot.web.uptime import (
    OPERATIONAL,
    IncidentSpan,
    StatusChange,
    UptimeHistory,
    history_start,
    uptime_history,
)
from commands.component_status import worst
from storage.incident_roles import PUBLIC_ROLES
from storage.incidents import OPEN_STATES
from storage.maintenance import Maintenance
from storage.models import Incident, TimelineEntry, utcnow
from storage.timeline import TimelineRecord
from storage.unit_of_work import Store, Transaction
from storage.uptime import UptimeRows

RECENT_RESOLVED = 50
"""Resolved incidents kept on the hot page state (Statuspage's incidents.json shows 50)."""

RECENT_POSTS = 50
RECENT_KUDOS = 200

PAGE_ID = "statusdesk"
"""The `page.id` of the Statuspage documents: one statusdesk serves one page."""


@dataclass(frozen=True, slots=True)
class UpdateView:
    """One public timeline entry of an incident."""

    id: int
    at: datetime
    kind: str
    actor: str
    state: str | None
    """The incident's state after this entry."""
    text: str | None
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class IncidentPageView:
    id: int
    title: str
    severity: int
    state: str
    is_alert: bool
    opened_at: datetime
    updated_at: datetime
    identified_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None
    updates: tuple[UpdateView, ...]
    """Public entries, oldest first."""
    components: tuple[tuple[str, str], ...] = ()
    """(component id, status it holds it at) of each component the incident affects or
    affected, by id."""
    roles: tuple[tuple[str, str], ...] = ()
    """(role, nick) of the public roles someone holds (lead, comms; never em or scribe)."""
    unfolded: tuple[UpdateView, ...] = field(default=(), compare=False, repr=False)
    """`updates` before `fold_repeats`: the next view of the incident goes on from them."""
    last_state: str = field(default="investigating", compare=False, repr=False)
    """The state its last public entry left the incident in."""

    @property
    def latest(self) -> UpdateView | None:
        return self.updates[-1] if self.updates else None


@dataclass(frozen=True, slots=True)
class ComponentView:
    """One component of the grid (DESIGN §1.6)."""

    id: str
    name: str
    group: str | None
    description: str | None
    status: str
    position: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    """A scheduled maintenance window as the page shows it (public entries only)."""

    id: int
    title: str
    phase: str
    """scheduled | in_progress | completed | cancelled"""
    starts_at: datetime
    ends_at: datetime
    timezone: str
    components: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    end_asked_at: datetime | None
    finished_at: datetime | None
    updates: tuple[UpdateView, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def live(self) -> bool:
        return self.phase in ("scheduled", "in_progress")

    def overrun(self, now: datetime) -> timedelta | None:
        if self.phase != "in_progress" or now <= self.ends_at:
            return None
        return now - self.ends_at


RECENT_MAINTENANCE = timedelta(days=30)
"""Finished windows the page, the feeds and the calendar keep showing this long."""


@dataclass(frozen=True, slots=True)
class PostView:
    id: int
    kind: str
    text: str | None
    author: str
    at: datetime
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class KudosView:
    id: int
    text: str
    author: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertState:
    text: str
    set_by: str
    set_at: datetime
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class PageState:
    title: str
    url: str
    updated_at: datetime
    """The time of the newest change the page shows."""
    alert: AlertState | None
    open_incidents: tuple[IncidentPageView, ...]
    """Newest first."""
    recent_resolved: tuple[IncidentPageView, ...]
    """The last `RECENT_RESOLVED` resolved incidents, newest resolution first."""
    posts: tuple[PostView, ...]
    """Recent `#status` posts, newest first."""
    success: tuple[KudosView, ...]
    thanks: tuple[KudosView, ...]
    components: tuple[ComponentView, ...] = ()
    """The configured components, in page order."""
    uptime: Mapping[str, UptimeHistory] = field(default_factory=dict)
    """Each component's 90 daily bars and uptime (bot/web/uptime.py), by component id."""
    maintenances: tuple[MaintenanceView, ...] = ()
    """Windows to come, going on, or finished within RECENT_MAINTENANCE; soonest first."""
    rendered_at: datetime | None = None
    """The time the state was read: what the overrun of a window is counted to."""
    subscribe: bool = False
    """Whether `/subscribe` takes e-mail subscriptions (the page links to it)."""
    uptime_rows: UptimeRows | None = field(default=None, compare=False, repr=False)
    """The rows `uptime` was computed from: a change that leaves the components alone
    computes the uptime to its own `now` from them instead of reading them again."""
    public_entries: Mapping[int, Sequence[TimelineRecord]] = field(
        default_factory=dict, compare=False, repr=False)
    """The public entries each listed incident's view was made from, in order: the next
    change to an incident reads only the entries after them (`incidents_with_public_entries`)."""

    @property
    def now(self) -> datetime:
        return self.rendered_at or self.updated_at

    @property
    def upcoming_maintenances(self) -> tuple[MaintenanceView, ...]:
        return tuple(m for m in self.maintenances if m.phase == "scheduled")

    @property
    def active_maintenances(self) -> tuple[MaintenanceView, ...]:
        return tuple(m for m in self.maintenances if m.phase == "in_progress")

    @property
    def worst_severity(self) -> int | None:
        # map/attrgetter: a C loop over 1,000 open incidents, not a generator's frame each
        # (`/`, summary.json and status.json each ask, on every change).
        return min(map(_severity, self.open_incidents), default=None)

    @property
    def worst_component_status(self) -> str:
        return worst(c.status for c in self.components)

    @property
    def component_groups(self) -> tuple[tuple[str | None, tuple[ComponentView, ...]], ...]:
        """The grid: (group name or None, its components), in order of first appearance."""
        groups: dict[str | None, list[ComponentView]] = {}
        for component in self.components:
            groups.setdefault(component.group, []).append(component)
        return tuple((name, tuple(members)) for name, members in groups.items())

    def component_names(self, ids: Sequence[str]) -> list[str]:
        """The names readers know for component ids (an id no longer configured stays an id)."""
        names = {c.id: c.name for c in self.components}
        return [names.get(cid, cid) for cid in ids]


_severity = attrgetter("severity")


def incident_view(incident: Incident, entries: Sequence[TimelineRecord],
                  components: Sequence[tuple[str, str]] = (),
                  roles: Sequence[tuple[str, str]] = (), *,
                  before: tuple[Sequence[TimelineRecord], IncidentPageView] | None = None
                  ) -> IncidentPageView:
    """An incident with its public entries, each carrying the state it left the incident in.
    `roles`: (role, nick) of its roles other than lead and em; only public ones are kept.
    `before`: the entries the incident's last view was made from, and that view: when
    `entries` begins with those very objects (the page's read after a change reads only the
    entries after them), their updates are taken from it and only the new entries made into
    updates (an incident's 400th update cost its 400 again on every change)."""
    updates: list[UpdateView] = []
    state = "investigating"
    start = 0
    if before is not None:
        seen, view = before
        if seen and len(entries) >= len(seen) and entries[len(seen) - 1] is seen[-1] \
                and entries[0] is seen[0]:
            updates, state, start = list(view.unfolded), view.last_state, len(seen)
    for entry in entries[start:]:
        # "opened" names the first state too (a maintenance window starts "scheduled").
        if entry.kind in ("state", "opened") and entry.new_value:
            state = entry.new_value
        # The escalation manager is no public role (DESIGN §1.7), whatever older
        # versions wrote into the timeline.
        if entry.public and entry.kind != "manager":
            updates.append(UpdateView(entry.id, entry.at, entry.kind, entry.actor, state,
                                      entry.text, entry.old_value, entry.new_value))
    return IncidentPageView(
        id=incident.id, title=incident.title, severity=incident.severity,
        state=incident.state, is_alert=incident.is_alert, opened_at=incident.opened_at,
        updated_at=incident.updated_at, identified_at=incident.identified_at,
        monitoring_at=incident.monitoring_at, resolved_at=incident.resolved_at,
        updates=fold_repeats(updates),
        components=tuple(components),
        roles=_public_roles(incident, roles),
        unfolded=tuple(updates),
        last_state=state,
    )


def fold_repeats(updates: Sequence[UpdateView]) -> tuple[UpdateView, ...]:
    """The public updates as readers should see them: one command that wrote two entries
    saying the same thing at the same instant shows once. The page, the Statuspage JSON, the
    Atom feed and the operators' console all read `IncidentPageView.updates`, so this is the
    one place that decides.

    - An alert that opens an incident writes `opened` (its title, cut from the alert) and
      `status.alert` (the alert's text): the `status.alert` stays, as the feed shows it as
      the alert post.
    - `#incident open` writes `opened` and `severity` (the opening severity, no old value):
      the severity is in the incident's impact already, so the entry goes.
    - `#status ok TEXT` writes `status.ok` and the `state` entry that resolves the incident,
      both with TEXT: the `status.ok` stays, carrying the state the incident was left in.
    """
    out: list[UpdateView] = []
    for update in updates:
        previous = out[-1] if out else None
        if previous is None or previous.at != update.at:
            out.append(update)
        elif previous.kind == "opened" and update.kind == "status.alert":
            out[-1] = update
        elif previous.kind == "opened" and update.kind == "severity" and update.old is None:
            continue
        elif (previous.kind == "status.ok" and update.kind == "state"
              and update.text in (None, previous.text)):
            out[-1] = replace(previous, state=update.state)
        else:
            out.append(update)
    return tuple(out)


def _public_roles(incident: Incident, roles: Sequence[tuple[str, str]]
                  ) -> tuple[tuple[str, str], ...]:
    held = dict([("lead", incident.lead), *roles])
    return tuple((role, nick) for role in PUBLIC_ROLES if (nick := held.get(role)))


def maintenance_view(maintenance: Maintenance,
                     entries: Sequence[TimelineEntry]) -> MaintenanceView:
    incident, window = maintenance.incident, maintenance.window
    return MaintenanceView(
        id=incident.id, title=incident.title, phase=window.phase, starts_at=window.starts_at,
        ends_at=window.ends_at, timezone=window.timezone,
        components=tuple(window.components), created_at=incident.opened_at,
        updated_at=incident.updated_at, started_at=window.started_at,
        end_asked_at=window.end_asked_at, finished_at=window.finished_at,
        updates=_maintenance_updates(entries),
    )


def _maintenance_updates(entries: Sequence[TimelineEntry]) -> tuple[UpdateView, ...]:
    """Public entries, each carrying the phase it left the window in."""
    updates = []
    phase = "scheduled"
    for entry in entries:
        if entry.kind == "state" and entry.new_value:
            phase = entry.new_value
        if entry.public:
            updates.append(UpdateView(entry.id, entry.at, entry.kind, entry.actor, phase,
                                      entry.text, entry.old_value, entry.new_value))
    return tuple(updates)


@dataclass(frozen=True, slots=True)
class Touched:
    """What a batch of committed changes may have altered, as far as the page's state goes:
    the incidents they name, whether a kudos list grew, whether components or maintenance
    windows changed; or (`everything`) unknown."""

    incidents: frozenset[int] = frozenset()
    kudos: bool = False
    components: bool = False
    maintenance: bool = False
    roles: bool = True
    """Whether someone's role changed (else the roles of the incidents on the page stay)."""
    alert: bool = True
    """Whether the alert was set or cleared (else the previous state's alert stays)."""
    posts: bool = True
    """Whether a `#status` post was written (else the previous state's posts stay)."""
    everything: bool = False


EVERYTHING = Touched(everything=True)


def touched_by(events: Sequence[DeskEvent]) -> Touched:
    """The part of the page state `events` change. Every event names the incident it
    changed, if any (a window shares the incidents' ids); an incident's change may change
    the components it holds. Only `#status` commands write posts and the alert
    (bot/core/applying.py: AddPost, SetAlert, ClearAlert), each with its event: every other
    batch keeps the previous state's, one read fewer each (the alert, the 50 posts)."""
    incidents = frozenset(e.incident_id for e in events if e.incident_id is not None)
    maintenance = any(isinstance(e, MaintenanceChanged) for e in events)
    alert = any(isinstance(e, AlertSet | AlertCleared) for e in events)
    return Touched(
        incidents, kudos=any(isinstance(e, KudosRecorded) for e in events),
        components=not all(isinstance(e, LEAVE_COMPONENTS) for e in events),
        maintenance=maintenance, roles=any(isinstance(e, RoleAssigned) for e in events),
        alert=alert, posts=alert or any(isinstance(e, StatusPosted) for e in events))


LEAVE_COMPONENTS = (StatusPosted, KudosRecorded, NoteAdded, BugLinked, RoleAssigned,
                    WhyRecorded, ActionChanged, ActionFilingRequested)
"""Events of commands that never touch a component's status nor what an incident holds:
a batch of only these reuses the components, their uptime and the incidents' holds of
the previous state (a `#status notice` is three reads fewer)."""


async def load_page_state(store: Store, *, title: str, url: str,
                          now: datetime | None = None, subscribe: bool = False,
                          previous: PageState | None = None,
                          touched: Touched = EVERYTHING) -> PageState:
    """`now` ends the uptime history (the time of the rebuild; the clock's now if None).

    With `previous` (the state of the last load) and `touched` (what changed since), only
    the incidents `touched` names are read again: the views of the others are `previous`'s
    own objects, so a renderer can tell them unchanged by identity. With 1,000 open
    incidents, reading every public entry of each on every change took most of a rebuild."""
    now = now or utcnow()
    full = previous is None or touched.everything
    async with store.reading() as tx:
        if full or previous is None or touched.alert:
            alert = await tx.alert.current()
            alert_view = (AlertState(alert.text, alert.set_by, alert.set_at,
                                     alert.incident_id) if alert else None)
        else:
            alert_view = previous.alert
        if full or previous is None:
            open_incidents = list(await tx.incidents.list_open())
            resolved = list(await tx.incidents.list_resolved(limit=RECENT_RESOLVED))
            kept: dict[int, IncidentPageView] = {}
            read: dict[int, Sequence[TimelineRecord]] = {}
        else:
            open_incidents, resolved, kept, read = await _changed_incidents(
                tx, previous, touched.incidents)
        incidents = [i for i in (*open_incidents, *resolved) if i.id not in kept]
        # Public entries only: the page never shows the others, and a long incident's
        # captured chat would otherwise be read on every change.
        # (A change's incidents came with theirs, read with their rows.)
        entries: dict[int, Sequence[TimelineRecord]] = read
        missing = [i.id for i in incidents if i.id not in read]
        if missing:
            entries = {**read, **await tx.timeline.entries_of(missing, public_only=True)}
        if full or previous is None or touched.posts:
            post_views = tuple(PostView(*fields) for fields
                               in await tx.status_posts.recent_fields(RECENT_POSTS))
        else:
            post_views = previous.posts
        if full or touched.kudos or previous is None:
            success = tuple(KudosView(k.id, k.text, k.author, k.at)
                            for k in await tx.kudos.recent("success", RECENT_KUDOS))
            thanks = tuple(KudosView(k.id, k.text, k.author, k.at)
                           for k in await tx.kudos.recent("thanks", RECENT_KUDOS))
        else:
            success, thanks = previous.success, previous.thanks
        maintenances: list[MaintenanceView] | None = None
        if full or previous is None or touched.maintenance or any(
                m.id in touched.incidents for m in previous.maintenances):
            windows = await tx.maintenance.recent(now - RECENT_MAINTENANCE)
            window_entries = await tx.timeline.entries_of([w.id for w in windows],
                                                          public_only=True)
            maintenances = sorted((maintenance_view(w, window_entries.get(w.id, ()))
                                   for w in windows), key=lambda m: (m.starts_at, m.id))
        history = None
        if full or previous is None or touched.components:
            components = await tx.components.all()
            history = await tx.uptime.since(history_start(now)) if components else None
        else:
            components = None
        configured = (components if components is not None
                      else previous.components if previous is not None else ())
        before = ({v.id: v for v in (*previous.open_incidents, *previous.recent_resolved)}
                  if previous is not None else {})
        if configured and (components is not None or any(i.id not in before
                                                         for i in incidents)):
            held = await tx.components.of_incidents([i.id for i in incidents])
            holds = {i: [(h.component_id, h.status) for h in rows]
                     for i, rows in held.items()}
        else:
            holds = {i.id: list(before[i.id].components) for i in incidents
                     if i.id in before}
        if incidents and (full or touched.roles or any(i.id not in before
                                                       for i in incidents)):
            roles = {i: [(r.role, r.nick) for r in rows]
                     for i, rows in (await tx.roles.of_many([i.id for i in incidents])).items()}
        else:  # roles change only with a RoleAssigned event (bot/core/rules.py)
            roles = {i.id: list(before[i.id].roles) for i in incidents}
    seen = previous.public_entries if previous is not None else {}
    views = {i.id: incident_view(i, entries.get(i.id, ()),
                                 holds.get(i.id, ()),
                                 roles.get(i.id, ()),
                                 before=((seen[i.id], before[i.id])
                                         if i.id in seen and i.id in before else None))
             for i in incidents}
    views.update(kept)
    if maintenances is None:
        assert previous is not None
        maintenances = list(previous.maintenances)
    open_views = tuple(sorted((views[i.id] for i in open_incidents),
                              key=lambda v: v.id, reverse=True))
    resolved_views = tuple(views[i.id] for i in resolved)
    if components is None:
        assert previous is not None
        component_views, history = previous.components, previous.uptime_rows
        uptime = (uptime_of(component_views, history, now) if history is not None
                  else previous.uptime)
    else:
        component_views = tuple(ComponentView(c.id, c.name, c.group_name, c.description,
                                              c.status, c.position, c.created_at, c.updated_at)
                                for c in components)
        uptime = uptime_of(components, history, now) if history is not None else {}
    return PageState(
        title=title,
        url=url,
        updated_at=newest(
            [v.updated_at for v in (*open_views, *resolved_views)],
            [p.at for p in post_views], [c.updated_at for c in component_views],
            [k.at for k in (*success, *thanks)], [m.updated_at for m in maintenances],
            [alert_view.set_at] if alert_view else []),
        alert=alert_view,
        open_incidents=open_views,
        recent_resolved=resolved_views,
        posts=post_views,
        success=success,
        thanks=thanks,
        maintenances=tuple(maintenances),
        rendered_at=now,
        components=component_views,
        uptime=uptime,
        subscribe=subscribe,
        uptime_rows=history,
        public_entries={**{v.id: previous.public_entries[v.id] for v in kept.values()
                           if previous is not None and v.id in previous.public_entries},
                        **{i.id: entries.get(i.id, ()) for i in incidents}},
    )


async def _changed_incidents(
    tx: Transaction, previous: PageState, touched: frozenset[int]
) -> tuple[list[Any], list[Any], dict[int, IncidentPageView],
           dict[int, Sequence[TimelineRecord]]]:
    """(open rows, recent resolved rows, views kept from `previous` by id, public entries
    of the incidents read): rows of the incidents to view again, and for the others their
    previous views as stand-ins (only their ids are read), in page order. The touched
    incidents and their public entries are one statement."""
    read = await tx.timeline.incidents_with_public_entries(sorted(touched),
                                                           known=previous.public_entries)
    rows = {i: row for i, (row, _) in read.items()}
    kept = {v.id: v for v in (*previous.open_incidents, *previous.recent_resolved)
            if v.id not in rows}
    open_rows: list[Any] = [row for row in rows.values() if row.state in OPEN_STATES]
    # The views themselves, not a stand-in object each: with 1,000 open incidents making
    # 1,000 frozen objects was milliseconds of every change.
    open_rows += [v for v in previous.open_incidents if v.id not in rows]
    was_recent = {v.id for v in previous.recent_resolved}
    if any(i in was_recent and row.state != "resolved" for i, row in rows.items()):
        # Reopened: the 51st most recent moves up, and only the database knows which.
        listed = await tx.incidents.list_resolved(limit=RECENT_RESOLVED)
        resolved: list[Any] = [rows.get(r.id) or kept.get(r.id) or r for r in listed]
    else:
        # Same order as list_resolved: the latest resolution first, then the higher id.
        candidates: list[tuple[datetime, int, Any]] = [
            (v.resolved_at or v.updated_at, v.id, v)
            for v in previous.recent_resolved if v.id not in rows]
        candidates += [(row.resolved_at or row.updated_at, row.id, row)
                       for row in rows.values() if row.state == "resolved"]
        candidates.sort(key=lambda c: (_aware(c[0]), c[1]), reverse=True)
        resolved = [c[2] for c in candidates[:RECENT_RESOLVED]]
    return open_rows, resolved, kept, {i: entries for i, (_, entries) in read.items()}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def newest(*groups: Sequence[datetime]) -> datetime:
    """The latest time of all `groups` (a fixed old date when all are empty)."""
    tops = [top for group in groups if (top := latest(group)) is not None]
    return max(tops, key=_aware, default=EPOCH)


def latest(times: Sequence[datetime]) -> datetime | None:
    """The latest of `times` (None when empty). Stored times are all aware, and comparing
    them directly is a C loop: with 1,000 open incidents a rebuild takes the latest of
    their times a dozen times, and a key function per item made that milliseconds."""
    if not times:
        return None
    try:
        return max(times)
    except TypeError:  # naive and aware mixed (a state made by hand)
        return max(times, key=_aware)


def uptime_of(components: Sequence[ComponentLike], rows: UptimeRows,
              now: datetime) -> dict[str, UptimeHistory]:
    """Each component's uptime history from one read of every component's rows. A
    component's history begins when it was first declared: the days before are no data."""
    changes: dict[str, list[StatusChange]] = {}
    for change in rows.changes:
        changes.setdefault(change.component_id, []).append(StatusChange(
            change.at, change.old_status or OPERATIONAL, change.new_status,
            change.incident_id))
    spans: dict[str, list[IncidentSpan]] = {}
    for hold in rows.holds:
        spans.setdefault(hold.component_id, []).append(
            IncidentSpan(hold.incident_id, hold.title, hold.start, hold.end))
    return {c.id: uptime_history(changes.get(c.id, ()), spans.get(c.id, ()), now=now,
                                 current=c.status, since=c.created_at)
            for c in components}


class ComponentLike(Protocol):
    """What `uptime_of` needs of a component (a `storage.models.Component` row)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


# --- playbooks and linked bugs (filled by bot/playbooks when it is configured) ------------


@dataclass(frozen=True, slots=True)
class BugView:
    """A linked bug, with what the tracker cache knows of it (nothing, without playbooks)."""

    url: str
    key: str
    """`#1234`, `OPS-12`, or the URL when no tracker knows it."""
    tracker: str | None = None
    state: str = "unknown"
    """open, closed or unknown."""
    title: str | None = None
    assignee: str | None = None
    updated: datetime | None = None
    reason: str | None = None
    linked_by: str | None = None
    """Who linked it from chat (None: in the playbook file, or on an incident)."""


@dataclass(frozen=True, slots=True)
class PlaybookLinkView:
    slug: str
    title: str


@dataclass(frozen=True, slots=True)
class IncidentLinks:
    """What an incident page shows beside its timeline: its bugs and matching playbooks."""

    bugs: tuple[BugView, ...] = ()
    playbooks: tuple[PlaybookLinkView, ...] = ()


@dataclass(frozen=True, slots=True)
class PlaybookView:
    slug: str
    title: str
    summary: str
    keywords: tuple[str, ...]
    owner: str | None
    updated: date | None
    bugs: tuple[BugView, ...]
    html: str
    """The entry's Markdown rendered and sanitized: safe to insert as it is."""


def linked_bugs(incident: IncidentPageView) -> tuple[BugView, ...]:
    """The bugs `#bug` linked to an incident, oldest first, each once."""
    urls = dict.fromkeys(u.new for u in incident.updates if u.kind == "bug" and u.new)
    return tuple(BugView(url, url) for url in urls)
