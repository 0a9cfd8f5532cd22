"""The sections of the configuration (DESIGN §1.3) that belong to the core.

`paging.providers` and `playbooks.trackers` are declared here only as bases
(`ProvidersBase`, `TrackersBase`): their keys are the plug-ins found through entry points, each
with the schema it declares next to its code; `bot.config.plugins` builds the real models.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    model_validator,
)

from bot.config.fields import (
    _HOSTNAME_RE,
    DEFAULT_DATABASE_URL,
    Capture,
    ClockTime,
    DirPath,
    Duration,
    Email,
    Handoff,
    Host,
    HttpUrl,
    IrcChannel,
    IrcMask,
    IrcNick,
    MatrixRoom,
    MatrixUserId,
    Name,
    NonEmptyStr,
    Port,
    PositiveDuration,
    RoleName,
    Severity,
    TimeZoneName,
    _database_url,
    _duration,
    _fail,
    _Model,
    _parse_handoff,
    _q,
)
from bot.config.postmortem_template import check_template
from commands.component_names import MAX_COMPONENT_NAME, slug
from commands.filing_targets import FilingTarget
from commands.model import MAX_ROLE, Role
from commands.text import clean_text

MIN_LEASE = timedelta(seconds=3)
MAX_LEASE = timedelta(minutes=10)


def _lease_length(value: timedelta) -> timedelta:
    # The leader renews every second and stops acting a second before the expiry: anything
    # shorter than 3s leaves it no time to renew.
    if not MIN_LEASE <= value <= MAX_LEASE:
        raise _fail("must be between 3s and 10m")
    return value


class DatabaseConfig(_Model):
    url: Annotated[str, AfterValidator(_database_url)] = DEFAULT_DATABASE_URL
    """`sqlite+aiosqlite:///FILE` (relative to the current directory) or
    `postgresql+asyncpg://USER:PASSWORD@HOST/DB`."""
    lease: Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_lease_length)] = (
        timedelta(seconds=5))
    """PostgreSQL: how long the leader's lease lasts unrenewed. A leader that hangs, is
    stopped or is cut off is replaced after about this long (SQLite ignores it)."""

    @property
    def password(self) -> str | None:
        """The password in the URL (percent-decoded), if any."""
        try:
            password = urlsplit(self.url).password
        except ValueError:
            return None
        return unquote(password) if password else None

    @property
    def redacted_url(self) -> str:
        """The URL with its password replaced by `***`, safe to log."""
        scheme, sep, rest = self.url.partition("://")
        netloc, slash, tail = rest.partition("/")
        userinfo, at, hostport = netloc.rpartition("@")
        if not at or ":" not in userinfo:
            return self.url
        user = userinfo.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{hostport}{slash}{tail}"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield "url", self.redacted_url


class SaslConfig(_Model):
    """SASL PLAIN credentials."""

    username: NonEmptyStr
    password: SecretStr


class RateConfig(_Model):
    """Outgoing flood control: a token bucket of `burst` messages refilled at `per_second`."""

    burst: Annotated[StrictInt, Field(ge=1)] = 5
    per_second: Annotated[float, Field(strict=True, gt=0)] = 1.0


class IrcNetwork(_Model):
    name: Name
    host: Host
    port: Port = 6697
    """Defaults to 6697, or 6667 when `tls: false`."""
    tls: StrictBool = True
    tls_verify: StrictBool = True
    nick: IrcNick = "statusdesk"
    password: SecretStr | None = None
    """Server password (PASS)."""
    sasl: SaslConfig | None = None
    channels: list[IrcChannel]
    rate: RateConfig = Field(default_factory=RateConfig)
    topic_via: Literal["topic", "chanserv"] = "topic"

    @model_validator(mode="before")
    @classmethod
    def _plain_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("tls") is False and "port" not in data:
            return {**data, "port": 6667}
        return data


class MatrixConfig(_Model):
    homeserver: HttpUrl
    user_id: MatrixUserId
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    device_name: NonEmptyStr = "statusdesk"
    rooms: list[MatrixRoom]
    trust: Literal["tofu", "verified"] = "tofu"
    verified_devices: dict[MatrixUserId, dict[NonEmptyStr, NonEmptyStr]] = Field(
        default_factory=dict)
    """Under `trust: verified`: user id → {device id: Ed25519 key} of the devices trusted."""
    store_path: NonEmptyStr | None = None
    """Directory of the end-to-end encryption store; default beside the SQLite database."""

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if (self.password is None) == (self.access_token is None):
            raise _fail("set exactly one of password, access_token")
        return self


class IrcIdentity(_Model):
    """How a user is recognised on IRC: exactly one of these."""

    account: NonEmptyStr | None = None
    """Services account (IRCv3 account-tag / WHOX)."""
    nick: IrcNick | None = None
    """Bare nick: only on a network where nicks cannot be taken over."""
    mask: IrcMask | None = None
    """Host mask `nick!user@host` with * and ? wildcards."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if sum(v is not None for v in (self.account, self.nick, self.mask)) != 1:
            raise _fail("set exactly one of account, nick, mask")
        return self

    @property
    def kind(self) -> Literal["account", "nick", "mask"]:
        if self.account is not None:
            return "account"
        if self.nick is not None:
            return "nick"
        return "mask"

    @property
    def value(self) -> str:
        value = self.account or self.nick or self.mask
        assert value is not None
        return value


class UserEntry(_Model):
    name: Name
    roles: list[RoleName] = Field(default_factory=list)
    irc: IrcIdentity | None = None
    matrix: MatrixUserId | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _has_identity(self) -> Self:
        if self.irc is None and self.matrix is None:
            raise _fail("no identity (set irc or matrix)")
        return self

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(self.roles)


def _split_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:8080` -> ("127.0.0.1", 8080); `[::1]:8080` -> ("::1", 8080)."""
    hint = "must be HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)"
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(hint)
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(hint)
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(hint) from None
    elif not _HOSTNAME_RE.fullmatch(host):
        raise ValueError(hint)
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError("port must be 1-65535")
    return host, port


def _listen(value: str) -> str:
    try:
        _split_listen(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    return value


class StatusPageLimits(_Model):
    """What one client, or a crowd, may hold of the status page (SECURITY.md, "The status
    page under a hostile crowd")."""

    header_timeout: PositiveDuration = timedelta(seconds=10)
    """A connection must send a whole request head this soon after it opens or after its
    previous response; otherwise (half-sent headers, idle keep-alive) it is closed."""
    body_timeout: PositiveDuration = timedelta(seconds=30)
    """A request body (POST) must have arrived this soon after its head: else 408."""
    live_clients: Annotated[StrictInt, Field(ge=1)] = 5000
    """Live-update (`/api/events`) clients at once; the next is answered 503."""
    live_clients_per_address: Annotated[StrictInt, Field(ge=1)] = 100
    """Live-update clients at once from one IPv4 address or IPv6 /64. Behind a reverse
    proxy every client has the proxy's address: set it to live_clients there."""
    reserve_fds: Annotated[StrictInt, Field(ge=64)] = 1024
    """Open files kept out of the status page's reach, for the chat transports' reconnects,
    the database pool, log and export files. HTTP connections get the rest of the process's
    open-file limit (bot/web/connection_budget.py)."""

    @model_validator(mode="after")
    def _per_address_within_total(self) -> Self:
        if self.live_clients_per_address > self.live_clients:
            raise _fail(f"live_clients_per_address ({self.live_clients_per_address}) must "
                        f"not be more than live_clients ({self.live_clients})")
        return self


class StatusPageConfig(_Model):
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"
    title: NonEmptyStr = "Status"
    public_url: HttpUrl | None = None
    export_dir: DirPath | None = None
    api_token: SecretStr | None = None
    limits: StatusPageLimits = Field(default_factory=StatusPageLimits)

    @property
    def host(self) -> str:
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_listen(self.listen)[1]


class QuietHours(_Model):
    from_: ClockTime = Field(alias="from")
    to: ClockTime
    timezone: TimeZoneName = "UTC"
    below_severity: Severity = 2

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.from_ == self.to:
            raise _fail("from and to must differ")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_ROLE_NAME = re.compile(r"[a-z][a-z0-9_]*")
DEFAULT_ROLES = ("lead", "em", "comms", "scribe")


def _incident_role(value: str) -> str:
    if not _ROLE_NAME.fullmatch(value):
        raise _fail(f"{_q(value)} is not a role name: one lowercase word (a-z, 0-9, _)")
    if len(value) > MAX_ROLE:
        raise _fail(f"{_q(value)} is longer than {MAX_ROLE} characters")
    return value


def _incident_roles(value: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in value:
        if name in seen:
            raise _fail(f"{_q(name)} is listed twice")
        seen.add(name)
    # lead and em always exist (DESIGN §1.7): the core has always known them.
    return list(dict.fromkeys(["lead", "em", *value]))


class IncidentsConfig(_Model):
    capture: Capture = False
    """False, or the channels/rooms whose messages go into open incidents' (private) logs."""
    remind_after: PositiveDuration = timedelta(minutes=30)
    quiet_hours: QuietHours | None = None
    roles: Annotated[list[Annotated[str, AfterValidator(_incident_role)]],
                     AfterValidator(_incident_roles)] = Field(
        default_factory=lambda: list(DEFAULT_ROLES))
    """Names usable in `#incident ID role ROLE NICK`; `lead` and `em` are always among them."""


class Contacts(_Model):
    """How to reach an escalation manager; at least one."""

    pagerduty: SecretStr | None = None
    """PagerDuty Events v2 routing (integration) key."""
    email: Email | None = None
    irc: IrcNick | None = None
    matrix: MatrixUserId | None = None
    opsgenie: NonEmptyStr | None = None
    """Opsgenie responder (user name or e-mail)."""
    webhook: NonEmptyStr | None = None
    """Identifier passed in the webhook payload."""

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            kinds = ", ".join(type(self).model_fields)  # with plug-ins' contact kinds
            raise _fail(f"set at least one contact ({kinds})")
        return self


class EscalationManager(_Model):
    name: Name
    contacts: Contacts


class RotationConfig(_Model):
    """Weekly rotation through `escalation_managers`, handing off at `handoff` local time."""

    handoff: Handoff
    timezone: TimeZoneName = "UTC"
    start: date | None = None
    """The date of the first manager's first shift (from the first handoff on or after it);
    null: counted from 2024-01-01."""

    @property
    def handoff_weekday(self) -> int:
        """0 = Monday ... 6 = Sunday."""
        return _parse_handoff(self.handoff)[0]

    @property
    def handoff_time(self) -> time:
        return _parse_handoff(self.handoff)[1]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class _PluginSection(_Model):
    """A section whose keys are plug-ins (`bot.config.plugins` adds one field per plug-in)."""

    def configured(self) -> dict[str, BaseModel]:
        """The plug-ins given a configuration, by name, in registry order."""
        found: dict[str, BaseModel] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, BaseModel):
                found[name] = value
        return found


class ProvidersBase(_PluginSection):
    """`paging.providers`: one key per paging provider plug-in (entry point group
    `statusdesk.paging_providers`), each validated by the plug-in's own `CONFIG_SCHEMA`."""


class TrackersBase(_PluginSection):
    """`playbooks.trackers`: one key per bug tracker plug-in (entry point group
    `statusdesk.trackers`), each validated by the plug-in's own `CONFIG_SCHEMA`."""


class PagerDutyHook(_Model):
    """Inbound PagerDuty v3 webhooks (`POST /hooks/pagerduty`): acknowledgements made in
    PagerDuty stop the escalation here too."""

    secret: SecretStr
    """The webhook subscription's signing secret (X-PagerDuty-Signature)."""


class PagingHooks(_Model):
    pagerduty: PagerDutyHook | None = None


class PagingConfig(_Model):
    auto_page_severity: Severity | None = 1
    escalation_managers: list[EscalationManager] = Field(default_factory=list)
    rotation: RotationConfig | None = None
    ack_timeout: PositiveDuration = timedelta(minutes=10)
    providers: ProvidersBase = Field(default_factory=ProvidersBase)
    hooks: PagingHooks = Field(default_factory=PagingHooks)


def _component_id(value: str) -> str:
    # The id of a component is the slug of its name ("Code review" -> code-review).
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value):
        raise _fail(f"not a component id {value!r} (lower-case letters, digits and dashes)")
    return value


ComponentId = Annotated[str, AfterValidator(_component_id)]


class SubscriberEmail(_Model):
    """`subscribers.email`: the SMTP server that mails subscribers."""

    host: Host
    port: Port = 587
    starttls: StrictBool = True
    username: NonEmptyStr | None = None
    password: SecretStr | None = None
    from_: Email = Field(alias="from")
    per_minute: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 600
    """At most this many mails a minute, so a burst to thousands does not hammer the server."""


class SubscriberWebhook(_Model):
    """`subscribers.webhooks[]`: a signed JSON POST for every notice (like the paging
    webhook's signature)."""

    url: HttpUrl
    secret: SecretStr | None = None
    components: list[ComponentId] = Field(default_factory=list)
    """Only notices touching these components (empty: every notice)."""


class SubscribersConfig(_Model):
    email: SubscriberEmail | None = None
    """null = no e-mail subscriptions (the form says so)."""
    confirm_within: PositiveDuration = timedelta(hours=48)
    """An unconfirmed address is forgotten after this; no second mail to it before."""
    webhooks: list[SubscriberWebhook] = Field(default_factory=list)


class PlaybooksConfig(_Model):
    dir: DirPath | None = None
    """Markdown files with YAML front matter; relative to the current directory."""
    trackers: TrackersBase = Field(default_factory=TrackersBase)
    cache_ttl: Duration = timedelta(minutes=5)


def _filing_target(value: str) -> str:
    if FilingTarget.parse(value) is None:
        raise _fail(f"{_q(value)} is not TRACKER:PROJECT (github:OWNER/REPO, "
                    "gitlab:GROUP/PROJECT, jira:KEY, redmine:IDENTIFIER, launchpad:PROJECT)")
    return value


def _postmortem_template(value: Path) -> Path:
    # Compiled here so a broken template fails check-config, not the first export.
    problem = check_template(value)
    if problem is not None:
        raise _fail(problem)
    return value


class PostmortemConfig(_Model):
    """`postmortem:` (DESIGN §1.7): what happens after the incident."""

    file_actions_in: Annotated[NonEmptyStr, AfterValidator(_filing_target)] | None = None
    """Where `#action A7 file` files a ticket; its tracker must be configured under
    `playbooks.trackers` (with a token: filing writes)."""
    file_every_action: StrictBool = False
    """File every new action item as it is recorded, without `#action A7 file`."""
    template: Annotated[Path, AfterValidator(_postmortem_template)] | None = None
    """A Jinja2 file replacing the built-in Markdown postmortem; relative to the current
    directory (README "Custom postmortem template")."""

    @property
    def filing_target(self) -> FilingTarget | None:
        return FilingTarget.parse(self.file_actions_in) if self.file_actions_in else None


class CommandAllowance(_Model):
    """How many commands one person may send: `burst` at once, then `per_second`."""

    burst: Annotated[StrictInt, Field(ge=1)]
    per_second: Annotated[float, Field(strict=True, gt=0)]


class CommandRateLimitConfig(_Model):
    """Incoming flood control, per verified identity (the console is never limited)."""

    burst: Annotated[StrictInt, Field(ge=1)] = 10
    per_second: Annotated[float, Field(strict=True, gt=0)] = 0.5
    whitelisted: CommandAllowance | None = Field(
        default_factory=lambda: CommandAllowance(burst=30, per_second=1.0))
    """People on `users:`; null = never limited."""


class MaintenanceConfig(_Model):
    """Scheduled maintenance (DESIGN §1.6): how `#maintenance schedule` reads its times and
    how early the channels hear of a window."""

    timezone: TimeZoneName = "UTC"
    announce_before: PositiveDuration | None = timedelta(hours=1)
    """A heads-up in every channel this long before the start; None = no heads-up."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class RetentionConfig(_Model):
    """How long the bookkeeping tables keep rows (README "Retention"): the leader prunes
    older ones in small batches. None = keep forever. Incident timelines are never pruned."""

    outbox_delivered: PositiveDuration | None = timedelta(days=30)
    """Effects delivered (broadcasts, topics, pages, mails) this long ago; pending and failed
    effects are always kept."""
    audit: PositiveDuration | None = timedelta(days=365)
    """Audit log records (privileged commands, accepted or refused) this old."""


class CommandsConfig(_Model):
    rate_limit: CommandRateLimitConfig | None = Field(default_factory=CommandRateLimitConfig)
    """null = no limit for anyone."""


def _component_name(value: str) -> str:
    if not value.strip() or clean_text(value) != value:
        raise _fail("must be one line of plain text, without leading or trailing spaces")
    if len(value) > MAX_COMPONENT_NAME:
        raise _fail(f"must be at most {MAX_COMPONENT_NAME} characters")
    if not slug(value):
        raise _fail(f"{_q(value)} has no letter or digit to make an id from")
    return value


def _group_name(value: str) -> str:
    if not value.strip() or clean_text(value) != value:
        raise _fail("must be one line of plain text, without leading or trailing spaces")
    if len(value) > MAX_COMPONENT_NAME:
        raise _fail(f"must be at most {MAX_COMPONENT_NAME} characters")
    return value


class ComponentEntry(_Model):
    """One component of the page's grid (DESIGN §1.6); its id is the slug of its name."""

    name: Annotated[str, AfterValidator(_component_name)]
    group: Annotated[str, AfterValidator(_group_name)] | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None

    @property
    def id(self) -> str:
        return slug(self.name)


class LoggingConfig(_Model):
    """`logging:` what goes to stderr (DESIGN §1.9); `--log-level` and `--debug` win."""

    level: Annotated[Literal["debug", "info", "warning", "error"],
                     BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)] = "info"
    format: Literal["text", "json"] = "text"
    """`json`: one JSON object per line (time, level, logger, message, exc_info)."""


class Config(_Model):
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    irc: list[IrcNetwork] = Field(default_factory=list)
    matrix: MatrixConfig | None = None
    console: StrictBool = False
    users: list[UserEntry] = Field(default_factory=list)
    status_page: StatusPageConfig = Field(default_factory=StatusPageConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    paging: PagingConfig = Field(default_factory=PagingConfig)
    playbooks: PlaybooksConfig = Field(default_factory=PlaybooksConfig)
    commands: CommandsConfig = Field(default_factory=CommandsConfig)
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    components: list[ComponentEntry] = Field(default_factory=list)
    postmortem: PostmortemConfig = Field(default_factory=PostmortemConfig)
    subscribers: SubscribersConfig = Field(default_factory=SubscribersConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    def secrets(self) -> list[str]:
        """Every secret value in the configuration (for log redaction), without duplicates."""
        found: list[str] = []
        _collect_secrets(self, found)
        password = self.database.password
        if password:
            found.append(password)
            try:
                raw = urlsplit(self.database.url).password
            except ValueError:
                raw = None
            if raw:
                found.append(raw)  # as written in the URL (percent-encoded)
        return list(dict.fromkeys(s for s in found if s))


def _collect_secrets(value: object, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_secrets(item, found)

