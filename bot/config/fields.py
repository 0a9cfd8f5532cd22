"""Field types shared by every configuration section, the core's and the plug-ins'.

A plug-in (paging provider, bug tracker) declares its schema with these: a `ConfigModel`
subclass whose fields use `HttpUrl`, `SecretStr`, `Port`, `Duration`..., and `fail(message)` in
its own validators. Messages are shown verbatim after the value's path (`PATH: message`).
This module knows nothing of loading files (`bot.config.loading`) or of the plug-ins.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    StrictInt,
    Tag,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from commands.grammar import IRC_NICK
from commands.model import Role

DEFAULT_CONFIG_FILE = "config.yaml"
"""Looked up in the current directory when no `-c FILE` is given."""

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///statusdesk.db"
"""SQLite file `./statusdesk.db`, relative to the current directory."""

DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")

FILE_PATH = "(file)"
"""Path of problems that concern the whole file (empty, not a mapping)."""


def _q(value: object) -> str:
    """A value quoted for a message: strings in double quotes, others as YAML would write them."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _fail(message: str) -> PydanticCustomError:
    """A validation error whose message is used verbatim in the Problem."""
    return PydanticCustomError("statusdesk", "{message}", {"message": message})



def fail(message: str) -> PydanticCustomError:
    """A validation error whose message is reported verbatim: `PATH: message`."""
    return _fail(message)

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

def _irc_nick(value: str) -> str:
    if not IRC_NICK.fullmatch(value):
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



ConfigModel = _Model
"""Base of every configuration section: unknown keys are errors, input never echoed."""
