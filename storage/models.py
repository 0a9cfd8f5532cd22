"""SQLAlchemy models: the tables behind incidents, their timelines, status posts and the outbox.

Timestamps are stored as UTC and always come back timezone-aware (`UTCDateTime`), on SQLite
(which has no time zones) as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is written as UTC and read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: statusdesk stores UTC only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Incident(Base):
    __tablename__ = "incidents"
    # /history lists resolved incidents by resolution time, newest first.
    __table_args__ = (Index("ix_incidents_resolved_at", "resolved_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), index=True)
    lead: Mapped[str | None] = mapped_column(String(255))
    manager: Mapped[str | None] = mapped_column(String(255))
    # The incident that `#status alert` opened: `#status ok` resolves it.
    is_alert: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_by: Mapped[str] = mapped_column(String(255))
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    identified_at: Mapped[datetime | None]
    monitoring_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # `incident`, or `maintenance` for a scheduled window (its schedule is in
    # `maintenance_windows`); both share the id space, so `#incident ID` works for either.
    kind: Mapped[str] = mapped_column(String(20), default="incident",
                                      server_default="incident")


class TimelineEntry(Base):
    """One append-only event of an incident's life. Never updated, never deleted."""

    __tablename__ = "incident_events"
    # Public reads use the second: captured chat (private) never gets in their way.
    __table_args__ = (Index("ix_incident_events_incident_at", "incident_id", "id"),
                      Index("ix_incident_events_public", "incident_id", "public", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(255))
    identity: Mapped[str | None] = mapped_column(String(512))
    transport: Mapped[str | None] = mapped_column(String(40))
    network: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str | None] = mapped_column(String(255))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=True)


class StatusPost(Base):
    """The history of `#status alert|notice|log|ok`."""

    __tablename__ = "status_posts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))


class CurrentAlert(Base):
    """The alert in force: at most one row (id 1)."""

    __tablename__ = "current_alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(255))
    set_at: Mapped[datetime]
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    status_post_id: Mapped[int] = mapped_column(ForeignKey("status_posts.id"))


class SavedTopic(Base):
    """A channel's topic from before the alert, restored by `#status ok`."""

    __tablename__ = "saved_topics"

    transport: Mapped[str] = mapped_column(String(40), primary_key=True)
    network: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str | None] = mapped_column(Text)
    saved_at: Mapped[datetime]


class Kudos(Base):
    """`#success` and `#thanks` entries."""

    __tablename__ = "kudos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10), index=True)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]


class AuditRecord(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(255))
    identity: Mapped[str | None] = mapped_column(String(512))
    transport: Mapped[str] = mapped_column(String(40))
    network: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str | None] = mapped_column(String(255))
    command: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)


class OutboxEffect(Base):
    """An outgoing effect committed with the state change that caused it, delivered later.

    `lane` orders delivery: effects in the same lane (one channel, say) go out one at a time
    in id order, so a topic restore can never overtake the topic change it undoes.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_pending", "delivered_at", "failed_at", "lane", "id"),
        # Counting failed effects reads this small index, not every delivered one.
        Index("ix_outbox_failed", "failed_at", sqlite_where=text("failed_at IS NOT NULL"),
              postgresql_where=text("failed_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    lane: Mapped[str] = mapped_column(String(600))
    payload: Mapped[dict[str, Any]]
    idempotency_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    # Set when retrying is pointless (a permanent error): the effect stays for inspection.
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Which instance is delivering it, until when: a new leader takes over what a dead one
    # had claimed, and two workers never deliver the same effect at the same time.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    # Set just before a delivery that must not be repeated (a channel notice) starts: if its
    # instance dies before recording the outcome, nobody can know whether it went out.
    sending_since: Mapped[datetime | None]


class TransportState(Base):
    """Small key/value state a transport keeps across restarts (sync tokens, device ids...)."""

    __tablename__ = "transport_state"

    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class InboundEvent(Base):
    """A chat event whose command was applied (a Matrix event id), recorded in the command's
    own transaction: an event a network hands over again after a crash (a sync replayed
    from an older token) is recognised, and applied neither twice nor never."""

    __tablename__ = "inbound_events"
    __table_args__ = (Index("ix_inbound_events_at", "at"),)

    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    """`transport/network` the id belongs to."""
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    at: Mapped[datetime]


class PlaybookLink(Base):
    """A bug linked to a playbook entry from chat (`#playbook link TOPIC BUG-URL`); the
    entries themselves are files, so only the links added from chat live here."""

    __tablename__ = "playbook_links"
    __table_args__ = (UniqueConstraint("slug", "url"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    added_by: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime]


class PageRecord(Base):
    """One step of paging an incident: who was paged, and where that page stands.

    A `#page` starts a round; each escalation adds the next step of that round, paging the
    next manager of `chain` (the escalation order fixed when the round began, so a handoff
    half-way through does not reshuffle it). `escalate_at` is the durable escalation timer.
    """

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint("dedup_key"),
        Index("ix_pages_incident_round_step", "incident_id", "round", "step"),
        Index("ix_pages_status_escalate_at", "status", "escalate_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    round: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    manager: Mapped[str] = mapped_column(String(255))
    chain: Mapped[list[str]] = mapped_column(JSON)
    # triggered | escalated | acknowledged | resolved | failed
    status: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str] = mapped_column(String(255))
    text: Mapped[str | None] = mapped_column(Text)
    paged_by: Mapped[str] = mapped_column(String(255))
    # Trigger deliveries queued for this step, and how many of them the providers refused.
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    escalate_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class OnCallOverride(Base):
    """`#oncall override NICK until ...`: NICK is on call instead of the rotation until then."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    manager: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class LeaderLease(Base):
    """The one row that says which instance leads, for which term, until when (PostgreSQL
    only: SQLite is one host and uses a file lock). Times are the database's own clock, so
    instances whose clocks disagree still agree on who leads."""

    __tablename__ = "leader_lease"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Always 1: one deployment per database."""
    term: Mapped[int] = mapped_column(BigInteger)
    """Grows by one each time another instance takes the lease: the fencing token every
    side effect of the leader is checked against."""
    holder: Mapped[str | None] = mapped_column(String(100))
    holder_pid: Mapped[int | None] = mapped_column(Integer)
    """The server process of the holder's lease session: when it is gone, so is the holder
    (or its network), and a standby need not wait for the expiry."""
    expires_at: Mapped[datetime]
    renewed_at: Mapped[datetime | None]


class MaintenanceWindow(Base):
    """The schedule of a maintenance (an `Incident` of kind `maintenance`) and what the
    timers have done about it. Each `*_at` mark is set in the transaction that queues its
    announcement, so a restart or a new leader never announces the same thing twice."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (Index("ix_maintenance_windows_phase", "phase", "starts_at"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))
    """The zone its times were typed in (maintenance.timezone then), for answers."""
    components: Mapped[list[str]] = mapped_column(JSON)
    """Ids of the components it holds under maintenance while in progress."""
    # scheduled | in_progress | completed | cancelled (also the incident's `state`)
    phase: Mapped[str] = mapped_column(String(20))
    heads_up_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    end_asked_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    """When it was completed or cancelled."""
class Component(Base):
    """A component of the page's grid (`components:` in the configuration; DESIGN §1.6).

    The configuration declares them; the row keeps the status. One dropped from the
    configuration keeps its row (its history stays) with `declared` false and leaves the page.
    """

    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    """The slug of the name (`Code review` -> `code-review`)."""
    name: Mapped[str] = mapped_column(String(100))
    group_name: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(30))
    declared: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ComponentChange(Base):
    """One change of a component's status, append-only: the component's own timeline and
    what uptime history is computed from."""

    __tablename__ = "component_changes"
    __table_args__ = (Index("ix_component_changes_component_at", "component_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"))
    old_status: Mapped[str | None] = mapped_column(String(30))
    """None for the first status a component ever had."""
    new_status: Mapped[str] = mapped_column(String(30))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    actor: Mapped[str] = mapped_column(String(255))
    text: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(index=True)


class IncidentComponent(Base):
    """An incident (or maintenance window: the same id space) holding a component at a status.

    The hold is live until `released_at` (its incident resolved); the row stays, so a
    resolved incident still lists the components it affected.
    """

    __tablename__ = "incident_components"
    __table_args__ = (Index("ix_incident_components_component", "component_id",
                            "released_at"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(30))
    linked_by: Mapped[str] = mapped_column(String(255))
    linked_at: Mapped[datetime]
    released_at: Mapped[datetime | None]


class WhyEntry(Base):
    """One entry of an incident's Five Whys (`#why`; DESIGN §1.7), numbered from 1 in order.

    `#why ID N TEXT` rewrites the row; the timeline keeps every version (private entries)."""

    __tablename__ = "incident_whys"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    """Who wrote the current text (the last to replace it)."""
    at: Mapped[datetime]


class ActionItem(Base):
    """A follow-up action item (`#action`; DESIGN §1.7). Its id is one sequence for every
    incident, written `A7` in chat.

    The ticket columns belong to filing (`#action A7 file`): the tracker's URL, its last
    known state and when that was read, and `filed_marker`, what makes creating the ticket
    idempotent (the marker the tracker can be searched for, or the created id recorded
    before anything can repeat it)."""

    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(255))
    due: Mapped[date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10), index=True)
    """`open`, `done` or `dropped`."""
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    closed_by: Mapped[str | None] = mapped_column(String(255))
    closed_at: Mapped[datetime | None]
    close_text: Mapped[str | None] = mapped_column(Text)
    ticket_url: Mapped[str | None] = mapped_column(String(2000))
    ticket_state: Mapped[str | None] = mapped_column(String(40))
    ticket_checked_at: Mapped[datetime | None]
    filed_marker: Mapped[str | None] = mapped_column(String(255))


class IncidentRole(Base):
    """Who holds a role (`incidents.roles`) in an incident, other than `lead` and `em`,
    which stay on the incident row (`lead`, `manager`) where the core has always kept them.
    `storage.incident_roles.roles_of` reads both as one store."""

    __tablename__ = "incident_roles"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    nick: Mapped[str] = mapped_column(String(255))
    assigned_by: Mapped[str] = mapped_column(String(255))
    assigned_at: Mapped[datetime]


class IncidentPrompt(Base):
    """A one-time prompt the bot made about an incident (`kind` `em`: no escalation manager
    within `paging.ack_timeout`). Its row is what makes it once per incident across
    restarts and instances."""

    __tablename__ = "incident_prompts"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    at: Mapped[datetime]


class Subscriber(Base):
    """An e-mail address subscribed to the status page's notices (double opt-in).

    The address is stored (mail must reach it) but never published or logged. The tokens
    in its links are not stored, only their hashes: a copy of the database lets nobody
    confirm or unsubscribe anyone.
    """

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("address"),
        UniqueConstraint("confirm_hash"),
        UniqueConstraint("unsubscribe_hash"),
        Index("ix_subscribers_confirmed_at", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(320))
    """As given, but with the domain lower-cased: one row per address."""
    components: Mapped[list[str]] = mapped_column(JSON)
    """Component ids chosen; empty: every notice."""
    created_at: Mapped[datetime]
    created_from: Mapped[str | None] = mapped_column(String(64))
    """The network the request came from (a /24 or /48), not the full address: for abuse
    reports, without keeping who exactly subscribed from where."""
    confirm_hash: Mapped[str | None] = mapped_column(String(64))
    confirm_sent_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    unsubscribe_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(32))
    """Part of what the tokens are derived from: a new subscription, new tokens."""


class SubscriberNotice(Base):
    """One notice (an incident opened, updated, resolved...) to one subscriber: the unique
    pair is what makes each go out once, whatever crashes or retries in between."""

    __tablename__ = "subscriber_notices"
    __table_args__ = (
        UniqueConstraint("notice_key", "subscriber_id"),
        Index("ix_subscriber_notices_batch", "notice_key", "batch"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_key: Mapped[str] = mapped_column(String(255))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"))
    batch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    sending_since: Mapped[datetime | None]
    """Set just before the mail goes out: after a crash, the mail may or may not have left;
    it is sent again with the same Message-ID, which mail clients fold into one."""
    sent_at: Mapped[datetime | None]


class ApiToken(Base):
    """A personal API token (DESIGN §1.8): only its salted hash is kept, never the token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(255))
    salt: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
