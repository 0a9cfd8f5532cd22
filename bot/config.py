"""Configuration: the YAML schema of DESIGN §1.3, its loader and its error reporting.

Loading goes through four steps, and every problem found on the way is collected into one
`ConfigError` (one `Problem` per mistake, each with a precise path such as `irc[0].port`):

1. read the file and parse it with a `yaml.SafeLoader` (syntax errors carry `FILE:LINE:COL`;
   aliases that expand to a huge or recursive tree are refused);
2. replace `${NAME}` references in string values from the environment (on the parsed tree, so a
   value never breaks YAML quoting and a missing variable is reported at the value's path);
3. validate the tree with the pydantic models below (unknown keys, types and formats);
4. cross-field checks on the tree that need to see several entries at once (duplicates, references
   between sections).  They run on the raw tree, so they are reported together with the schema
   errors of step 3.

Secrets are `pydantic.SecretStr` and never appear in a repr or in an error message;
`Config.secrets()` lists their values so logs can be redacted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from commands.model import Role

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DATABASE_URL",
    "BugzillaTracker",
    "ChatProvider",
    "CommandAllowance",
    "CommandRateLimitConfig",
    "CommandsConfig",
    "Config",
    "ConfigError",
    "Contacts",
    "DatabaseConfig",
    "EmailProvider",
    "EscalationManager",
    "GitHubTracker",
    "GitLabTracker",
    "IncidentsConfig",
    "IrcIdentity",
    "IrcNetwork",
    "JiraTracker",
    "LaunchpadTracker",
    "MatrixConfig",
    "OpsgenieProvider",
    "PagerDutyHook",
    "PagerDutyProvider",
    "PagingConfig",
    "PagingHooks",
    "PlaybooksConfig",
    "Problem",
    "ProvidersConfig",
    "QuietHours",
    "RateConfig",
    "RotationConfig",
    "SaslConfig",
    "StatusPageConfig",
    "TrackersConfig",
    "UserEntry",
    "WebhookProvider",
    "default_config",
    "find_config_file",
    "load_config",
    "load_config_text",
    "parse_duration",
]

DEFAULT_CONFIG_FILE = "config.yaml"
"""Looked up in the current directory when no `-c FILE` is given."""

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///statusdesk.db"
"""SQLite file `./statusdesk.db`, relative to the current directory."""

DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")

FILE_PATH = "(file)"
"""Path of problems that concern the whole file (empty, not a mapping)."""


# --- problems ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One mistake in a configuration: where (`irc[0].port`) and what (`must be 1-65535`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists every mistake found, one per line in str()."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


Loc = tuple[str | int, ...]
"""A location in the parsed YAML tree: mapping keys (str) and list indices (int)."""


def _format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or FILE_PATH


def _q(value: object) -> str:
    """A value quoted for a message: strings in double quotes, others as YAML would write them."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _fail(message: str) -> PydanticCustomError:
    """A validation error whose message is used verbatim in the Problem."""
    return PydanticCustomError("statusdesk", "{message}", {"message": message})


# --- value types ---------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_HINT = "use e.g. 30s, 10m, 1h, 2d"


def parse_duration(text: str) -> timedelta:
    """Parse `30s`, `10m`, `1h`, `2d` or combinations in that order (`1h30m`, `2d12h`).

    Raises ValueError for anything else.
    """
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"invalid duration {_q(text)} ({_DURATION_HINT})")
    try:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except (OverflowError, ValueError):  # more digits than int() takes, or past timedelta.max
        raise ValueError(f"duration {_q(text[:40])} is too long") from None


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    raise _fail(f"invalid duration {_q(value)} ({_DURATION_HINT})")


def _positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise _fail("must be longer than 0s")
    return value


def _non_negative_duration(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise _fail("must not be negative")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_non_negative_duration)]
PositiveDuration = Annotated[
    timedelta, BeforeValidator(_duration), AfterValidator(_positive_duration)
]


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise _fail("must be 1-65535")
    return value


Port = Annotated[StrictInt, AfterValidator(_port)]


def _severity(value: int) -> int:
    if not 1 <= value <= 4:
        raise _fail("must be 1-4")
    return value


Severity = Annotated[StrictInt, AfterValidator(_severity)]


def _non_empty(value: str) -> str:
    if not value.strip():
        raise _fail("must not be empty")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]


def _name(value: str) -> str:
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise _fail(f"invalid name {_q(value)} (must be non-empty, without spaces)")
    return value


Name = Annotated[str, AfterValidator(_name)]

_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?")


def _is_host(value: str) -> bool:
    if _HOSTNAME_RE.fullmatch(value):
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _host(value: str) -> str:
    if not _is_host(value):
        raise _fail(f"invalid host name {_q(value)}")
    return value


Host = Annotated[str, AfterValidator(_host)]


def _http_url(value: str) -> str:
    # URLs may carry credentials (webhook paths, userinfo): never echo them.
    message = "must be an http:// or https:// URL"
    if any(c.isspace() for c in value):
        raise _fail(message)
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _fail(message) from None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        raise _fail(message)
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]

_CHANNEL_RE = re.compile(r"[#&][^\s,\x00-\x1f\x7f]+")
_CHANNEL_HINT = "must start with # or &, without spaces, commas or control characters"


def _irc_channel(value: str) -> str:
    if not _CHANNEL_RE.fullmatch(value):
        raise _fail(f"invalid channel name {_q(value)} ({_CHANNEL_HINT})")
    return value


IrcChannel = Annotated[str, AfterValidator(_irc_channel)]

_NICK_RE = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*")


def _irc_nick(value: str) -> str:
    if not _NICK_RE.fullmatch(value):
        raise _fail(f"invalid IRC nick {_q(value)}")
    return value


IrcNick = Annotated[str, AfterValidator(_irc_nick)]

_MASK_RE = re.compile(r"[^!@\s]+![^!@\s]+@[^!@\s]+")


def _irc_mask(value: str) -> str:
    if not _MASK_RE.fullmatch(value):
        raise _fail(f"invalid host mask {_q(value)} (use nick!user@host, * and ? as wildcards)")
    return value


IrcMask = Annotated[str, AfterValidator(_irc_mask)]

_MATRIX_USER_RE = re.compile(r"@[^:\s]+:[^\s]+")
# Room ids of room version 12 and later carry no server name (`!` and a hash).
_MATRIX_ROOM_RE = re.compile(r"#[^:\s]+:[^\s]+|![^:\s]+(?::[^\s]+)?")


def _matrix_user(value: str) -> str:
    if not _MATRIX_USER_RE.fullmatch(value):
        raise _fail(f"invalid Matrix user id {_q(value)} (use @user:server)")
    return value


MatrixUserId = Annotated[str, AfterValidator(_matrix_user)]


def _matrix_room(value: str) -> str:
    if not _MATRIX_ROOM_RE.fullmatch(value):
        raise _fail(f"invalid Matrix room {_q(value)} (use #alias:server or !id:server)")
    return value


MatrixRoom = Annotated[str, AfterValidator(_matrix_room)]


def _channel_or_room(value: str) -> str:
    if not (_CHANNEL_RE.fullmatch(value) or _MATRIX_ROOM_RE.fullmatch(value)):
        raise _fail(
            f"invalid channel {_q(value)} (an IRC channel like #ops or a Matrix room like "
            "#ops:example.org or !id:example.org)"
        )
    return value


ChannelOrRoom = Annotated[str, AfterValidator(_channel_or_room)]

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def _email(value: str) -> str:
    if not _EMAIL_RE.fullmatch(value):
        raise _fail(f"invalid email address {_q(value)}")
    return value


Email = Annotated[str, AfterValidator(_email)]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _fail(
            f"unknown time zone {_q(value)} (use an IANA name like UTC or Europe/Berlin)"
        ) from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_zone)]

_HHMM_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _hhmm(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # PyYAML reads an unquoted 22:00 as the base-60 number 1320.
        hours, minutes = divmod(value, 60)
        raise _fail(
            f'must be a quoted time, e.g. "{hours:02d}:{minutes:02d}" '
            "(unquoted, YAML reads it as a number)"
        )
    if isinstance(value, str):
        match = _HHMM_RE.fullmatch(value.strip())
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    raise _fail(f'invalid time {_q(value)} (use HH:MM, e.g. "22:00")')


ClockTime = Annotated[time, BeforeValidator(_hhmm)]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _parse_handoff(value: str) -> tuple[int, time]:
    parts = value.split()
    if len(parts) == 2:
        day = parts[0].lower()
        matches = [i for i, name in enumerate(WEEKDAYS) if len(day) >= 3 and name.startswith(day)]
        clock = _HHMM_RE.fullmatch(parts[1])
        if len(matches) == 1 and clock:
            return matches[0], time(int(clock.group(1)), int(clock.group(2)))
    raise ValueError(value)


def _handoff(value: str) -> str:
    try:
        weekday, at = _parse_handoff(value)
    except ValueError:
        raise _fail(
            f'invalid handoff {_q(value)} (use WEEKDAY HH:MM, e.g. "monday 09:00")'
        ) from None
    return f"{WEEKDAYS[weekday]} {at:%H:%M}"


Handoff = Annotated[str, AfterValidator(_handoff)]

_ROLE_NAMES = ", ".join(role.value for role in Role)


def _role(value: object) -> Role:
    if isinstance(value, Role):
        return value
    if not isinstance(value, str):
        raise _fail("must be a string")
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise _fail(f"unknown role {_q(value)} (one of {_ROLE_NAMES})") from None


RoleName = Annotated[Role, BeforeValidator(_role)]


def _path(value: Path) -> Path:
    if not str(value).strip() or str(value) == ".":
        # Path("") is "."; an empty string is almost certainly a mistake, null means "none".
        raise _fail("must not be empty (use null for none)")
    return value


DirPath = Annotated[Path, AfterValidator(_path)]


def _database_url(value: str) -> str:
    # The URL may contain a password: never echo it, only its scheme.
    supported = "supported: sqlite+aiosqlite:///FILE, postgresql+asyncpg://USER:PASSWORD@HOST/DB"
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise _fail(f"must be a database URL ({supported})")
    if scheme.lower() not in DATABASE_SCHEMES:
        raise _fail(f"unsupported database URL scheme {_q(scheme)} ({supported})")
    if scheme.lower() == "postgresql+asyncpg" and not rest.strip("/"):
        raise _fail(f"PostgreSQL URL names no server or database ({supported})")
    try:
        url = make_url(value)
        _ = url.port  # a port that is not a number only fails when read
    except (ArgumentError, ValueError):
        # Not the parser's message: it may quote the URL, password and all.
        raise _fail(f"not a valid database URL ({supported})") from None
    return value


def _capture_tag(value: Any) -> str | None:
    if value is False:
        return "off"
    if isinstance(value, list):
        return "list"
    return None


Capture = Annotated[
    Annotated[Literal[False], Tag("off")] | Annotated[list[ChannelOrRoom], Tag("list")],
    Discriminator(
        _capture_tag,
        custom_error_type="statusdesk",
        custom_error_message="must be false or a list of channels",
    ),
]


# --- schema --------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


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


class IncidentsConfig(_Model):
    capture: Capture = False
    """False, or the channels/rooms whose messages go into open incidents' (private) logs."""
    remind_after: PositiveDuration = timedelta(minutes=30)
    quiet_hours: QuietHours | None = None


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
            raise _fail(
                "set at least one contact (pagerduty, email, irc, matrix, opsgenie, webhook)"
            )
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


class PagerDutyProvider(_Model):
    url: HttpUrl = "https://events.pagerduty.com/v2/enqueue"


class OpsgenieProvider(_Model):
    url: HttpUrl = "https://api.opsgenie.com"
    api_key: SecretStr


class WebhookProvider(_Model):
    url: HttpUrl
    secret: SecretStr | None = None
    """Shared with the receiver to sign requests."""


class EmailProvider(_Model):
    host: Host
    port: Port = 587
    starttls: StrictBool = True
    username: NonEmptyStr | None = None
    password: SecretStr | None = None
    from_: Email = Field(alias="from")


class ChatProvider(_Model):
    """Direct message on IRC / Matrix; no settings."""


class ProvidersConfig(_Model):
    pagerduty: PagerDutyProvider | None = None
    opsgenie: OpsgenieProvider | None = None
    webhook: WebhookProvider | None = None
    email: EmailProvider | None = None
    chat: ChatProvider | None = None


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
    providers: ProvidersConfig = Field(default_factory=ProvidersConfig)
    hooks: PagingHooks = Field(default_factory=PagingHooks)


class GitHubTracker(_Model):
    api_url: HttpUrl = "https://api.github.com"
    token: SecretStr | None = None


class LaunchpadTracker(_Model):
    api_url: HttpUrl = "https://api.launchpad.net/1.0"


class BugzillaTracker(_Model):
    url: HttpUrl


class GitLabTracker(_Model):
    api_url: HttpUrl = "https://gitlab.com/api/v4"
    token: SecretStr | None = None


class JiraTracker(_Model):
    url: HttpUrl
    token: SecretStr | None = None


class TrackersConfig(_Model):
    github: GitHubTracker | None = None
    launchpad: LaunchpadTracker | None = None
    bugzilla: BugzillaTracker | None = None
    gitlab: GitLabTracker | None = None
    jira: JiraTracker | None = None


class PlaybooksConfig(_Model):
    dir: DirPath | None = None
    """Markdown files with YAML front matter; relative to the current directory."""
    trackers: TrackersConfig = Field(default_factory=TrackersConfig)
    cache_ttl: Duration = timedelta(minutes=5)


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


class CommandsConfig(_Model):
    rate_limit: CommandRateLimitConfig | None = Field(default_factory=CommandRateLimitConfig)
    """null = no limit for anyone."""


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


# --- loading -------------------------------------------------------------------------------------


def find_config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    """`-c FILE` if given (even if missing: loading reports it), else `./config.yaml` if it
    exists, else None (the embedded default)."""
    if explicit is not None:
        return Path(explicit)
    candidate = Path(DEFAULT_CONFIG_FILE)
    return candidate if candidate.exists() else None


def default_config() -> Config:
    """The embedded default: SQLite `./statusdesk.db`, the console transport, no IRC, no Matrix,
    no users, status page on 127.0.0.1:8080."""
    return Config.model_validate({"database": {"url": DEFAULT_DATABASE_URL}, "console": True})


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate `path` (None: the embedded default). Raises ConfigError."""
    if path is None:
        return default_config()
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(source, "file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(source, "is a directory, not a file")]) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([Problem(source, f"cannot read: {reason}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(source, f"not valid UTF-8 (byte {exc.start})")]) from None
    return load_config_text(text, source=source, env=env)


def load_config_text(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate configuration text; `source` names it in syntax errors. Raises ConfigError."""
    try:
        tree = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except RecursionError:
        raise ConfigError([Problem(source, "invalid YAML: nested too deeply")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        message = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context:
            message = f"{exc.problem} ({exc.context})"
        raise ConfigError([Problem(where, message)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(source, f"invalid YAML: {exc}")]) from None
    if tree is None:
        raise ConfigError([Problem(FILE_PATH, "empty configuration (expected a mapping)")])
    if not isinstance(tree, dict):
        raise ConfigError(
            [Problem(FILE_PATH, "must be a mapping of sections (database, irc, users, ...)")]
        )
    shape = _shape_problem(tree)
    if shape is not None:
        raise ConfigError([Problem(FILE_PATH, shape)])

    problems: dict[Loc, str] = {}
    tree = _interpolate(tree, (), os.environ if env is None else env, problems)
    env_locs = set(problems)

    config: Config | None = None
    try:
        config = Config.model_validate(tree)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            loc = _clean_loc(error["loc"], tree)
            if any(loc[: len(e)] == e for e in env_locs):
                continue  # the value is an unresolved ${NAME}: that is the problem
            problems.setdefault(loc, _message(error))

    for loc, message in _cross_checks(tree):
        problems.setdefault(loc, message)

    if problems:
        ordered = sorted(problems.items(), key=lambda item: _order_key(item[0], tree))
        raise ConfigError([Problem(_format_path(loc), message) for loc, message in ordered])
    assert config is not None
    return config


# --- hostile YAML ------------------------------------------------------------------------------

MAX_VALUES = 100_000
"""Values in a configuration, aliases expanded: a real one has hundreds. YAML aliases can make
a few lines stand for billions of values (or for themselves), which every later step would walk."""
MAX_DEPTH = 32


class _Loader(yaml.SafeLoader):
    """`yaml.SafeLoader` whose every failure is a `yaml.YAMLError` with a position: the safe
    constructors raise ValueError, KeyError, AttributeError... on values such as `!!int x`,
    `!!bool x`, `2001-02-30` or an integer of 5,000 digits."""

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # The scanner rescans every open bracket's possible key for each token: 10,000 `[`
        # took seconds. No configuration nests that deep, so stop at the limit.
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:
            value = node.value if isinstance(node, yaml.ScalarNode) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid {node.tag.rsplit(':', 1)[-1]} value {_q(value[:40])} "
                f"({type(exc).__name__})", node.start_mark) from None


def _shape_problem(tree: object) -> str | None:
    """Why `tree` is too big or too deep to be a configuration, or None. Walks at most
    MAX_VALUES nodes, so a billion laughs or an alias that contains itself costs nothing."""
    seen = 0
    stack: list[tuple[object, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return f"more than {MAX_VALUES} values (YAML aliases expanding?)"
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep (a YAML alias that contains itself?)"
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
    return None


# --- ${NAME} interpolation -----------------------------------------------------------------------

# `${NAME}` is replaced by the environment variable NAME; `$${` stands for a literal `${`
# (so `$${NAME}` yields the text `${NAME}`). Any other `${` is an error.
_REFERENCE_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


def _interpolate(node: Any, loc: Loc, env: Mapping[str, str], problems: dict[Loc, str]) -> Any:
    if isinstance(node, str):
        return _interpolate_str(node, loc, env, problems)
    if isinstance(node, dict):
        return {
            key: _interpolate(value, (*loc, str(key)), env, problems) for key, value in node.items()
        }
    if isinstance(node, list):
        return [_interpolate(item, (*loc, i), env, problems) for i, item in enumerate(node)]
    return node


def _interpolate_str(text: str, loc: Loc, env: Mapping[str, str], problems: dict[Loc, str]) -> str:
    if "${" not in text:
        return text
    missing: list[str] = []
    malformed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal malformed
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name is None:
            malformed = True
            return match.group(0)
        if name not in env:
            missing.append(name)
            return match.group(0)
        return env[name]

    result = _REFERENCE_RE.sub(replace, text)
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        verb = "is" if len(set(missing)) == 1 else "are"
        plural = "" if len(set(missing)) == 1 else "s"
        problems.setdefault(loc, f"environment variable{plural} {names} {verb} not set")
        return text
    if malformed:
        problems.setdefault(
            loc, "invalid ${...} reference (write ${NAME}, or $${ for a literal ${)"
        )
        return text
    return result


# --- pydantic errors -> problems -----------------------------------------------------------------


def _clean_loc(loc: tuple[int | str, ...], tree: Any) -> Loc:
    """Pydantic's loc, without union tags, as keys and indices of the YAML tree."""
    out: list[str | int] = []
    node = tree
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict):
            if part in node:
                out.append(str(part))
                node = node[part]
            elif last and isinstance(part, str):
                out.append(part)  # a missing key
            # else: a union tag, which consumes no input
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        # else: a union tag
    return tuple(out)


def _order_key(loc: Loc, tree: Any) -> tuple[int, ...]:
    """Document order: the position of each key / index along the path."""
    key: list[int] = []
    node = tree
    for part in loc:
        if isinstance(node, dict):
            keys = [str(k) for k in node]
            if part in keys:
                index = keys.index(str(part))
                key.append(index)
                node = list(node.values())[index]
            else:
                key.append(len(keys))
                node = None
        elif isinstance(node, list) and isinstance(part, int):
            key.append(part)
            node = node[part] if 0 <= part < len(node) else None
        else:
            key.append(0)
            node = None
    return tuple(key)


_TYPE_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown key",
    "invalid_key": "keys must be strings",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "path_type": "must be a path",
    "timedelta_type": "must be a duration",
    "time_type": "must be a time",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "statusdesk":
        return error["msg"]
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be {expected}" if expected else "invalid value"
    bounds: dict[str, Callable[[Any], str]] = {
        "greater_than_equal": lambda v: f"must be at least {v}",
        "greater_than": lambda v: f"must be greater than {v}",
        "less_than_equal": lambda v: f"must be at most {v}",
        "less_than": lambda v: f"must be less than {v}",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return bounds[kind](f"{limit:g}" if isinstance(limit, float) else limit)
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    message = error["msg"]
    return message[:1].lower() + message[1:]


# --- cross-field checks --------------------------------------------------------------------------


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: object) -> list[tuple[int, dict[Any, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _strings(value: object) -> list[tuple[int, str]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, str)]


class _Seen:
    """First occurrence of each (normalised) value, to report duplicates."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.first: dict[object, Loc] = {}

    def check(
        self, key: object, shown: str, loc: Loc, owner: Loc | None = None
    ) -> tuple[Loc, str] | None:
        """Record `key` found at `loc` in the entry `owner` (default: `loc` itself)."""
        if key in self.first:
            other = _format_path(self.first[key])
            return loc, f"duplicate {self.what} {_q(shown)} (also {other})"
        self.first[key] = loc if owner is None else owner
        return None


def _cross_checks(tree: dict[Any, Any]) -> list[tuple[Loc, str]]:
    """Checks that need several entries at once; tolerant of anything the schema rejects."""
    found: list[tuple[Loc, str]] = []

    def add(result: tuple[Loc, str] | None) -> None:
        if result is not None:
            found.append(result)

    # IRC networks: unique names, unique channels per network.
    configured_channels: set[str] = set()
    networks = _Seen("network")
    for i, network in _items(tree.get("irc")):
        name = network.get("name")
        if isinstance(name, str):
            add(networks.check(name.casefold(), name, ("irc", i, "name"), ("irc", i)))
        channels = _Seen("channel")
        for j, channel in _strings(network.get("channels")):
            add(channels.check(channel.casefold(), channel, ("irc", i, "channels", j)))
            configured_channels.add(channel.casefold())

    # Matrix rooms.
    configured_rooms: set[str] = set()
    rooms = _Seen("room")
    for j, room in _strings(_mapping(tree.get("matrix")).get("rooms")):
        add(rooms.check(room, room, ("matrix", "rooms", j)))
        configured_rooms.add(room)

    # Users: unique names and identities.
    names = _Seen("user")
    irc_ids = {kind: _Seen(f"IRC {kind}") for kind in ("account", "nick", "mask")}
    matrix_ids = _Seen("Matrix id")
    for i, user in _items(tree.get("users")):
        name = user.get("name")
        if isinstance(name, str):
            add(names.check(name.casefold(), name, ("users", i, "name"), ("users", i)))
        irc = _mapping(user.get("irc"))
        for kind, seen in irc_ids.items():
            value = irc.get(kind)
            if isinstance(value, str):
                add(seen.check(value.casefold(), value, ("users", i, "irc", kind), ("users", i)))
        matrix = user.get("matrix")
        if isinstance(matrix, str):
            add(matrix_ids.check(matrix, matrix, ("users", i, "matrix"), ("users", i)))

    # Captured channels must be ones the bot is in.
    capture = _mapping(tree.get("incidents")).get("capture")
    for j, channel in _strings(capture):
        if not (_CHANNEL_RE.fullmatch(channel) or _MATRIX_ROOM_RE.fullmatch(channel)):
            continue  # the schema reports the format
        if channel.casefold() not in configured_channels and channel not in configured_rooms:
            found.append(
                (
                    ("incidents", "capture", j),
                    f"{_q(channel)} is not a channel in irc[].channels or matrix.rooms",
                )
            )

    # Escalation managers: unique names; every kind of contact needs its provider.
    paging = _mapping(tree.get("paging"))
    providers = _mapping(paging.get("providers"))
    provider_of = {
        "pagerduty": "pagerduty",
        "opsgenie": "opsgenie",
        "webhook": "webhook",
        "email": "email",
        "irc": "chat",
        "matrix": "chat",
    }
    managers = _Seen("escalation manager")
    for i, manager in _items(paging.get("escalation_managers")):
        name = manager.get("name")
        loc: Loc = ("paging", "escalation_managers", i)
        if isinstance(name, str):
            add(managers.check(name.casefold(), name, (*loc, "name"), loc))
        for contact, value in _mapping(manager.get("contacts")).items():
            provider = provider_of.get(str(contact))
            if provider is None or value is None:
                continue
            if providers.get(provider) is None:
                hint = "{}" if provider == "chat" else "{...}"
                found.append(
                    (
                        (*loc, "contacts", str(contact)),
                        f"no {provider} provider configured "
                        f"(add paging.providers.{provider}: {hint})",
                    )
                )
    return found
