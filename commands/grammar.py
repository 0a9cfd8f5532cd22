"""The chat grammar (DESIGN §1.4): text -> `Command`, and `Command` -> canonical text.

`parse` is called for every line the bot sees, so it rejects chatter before doing any work: a
line is only looked at when it starts with `#` or with the bot's nick (or `@nick`).

    parse("#status alert gerrit is down")        -> StatusAlert("gerrit is down")
    parse("statusdesk: what's happening?")       -> Now()
    parse("#status alrt x")                      -> ParseError("#status", STATUS_HELP)
    parse("#openstack-infra is busy")            -> None (not ours)

`render` gives the canonical text of a command, with ids written `#12`, such that
`parse(render(c)) == c`. A few values have no text that parses back to them; `render` raises
`ValueError` for those instead of producing text that means something else:

- free text that is empty, longer than its limit or not already clean (`clean_text(t) != t`);
- `Note(text="3 servers down")` without an incident id: `#log 3 servers down` is a note on
  incident 3. Likewise `Page(text="3 ...")` without an id (`#page 3` pages for incident 3);
- `PlaybookShow(topic="link ...")`: `#playbook link ...` links a bug;
- ids outside 1..2_147_483_647, severities outside 1..4, nicks that are neither an IRC nick nor
  a Matrix user id, URLs that are not http(s).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Final, NoReturn, assert_never
from urllib.parse import urlsplit

from commands.component_names import MAX_COMPONENT_NAME
from commands.component_status import STATUS_WORDS_HELP, parse_status
from commands.model import (
    DEFAULT_SEVERITY,
    MAX_COMPONENTS,
    MAX_INCIDENT_ID,
    MAX_MAINTENANCE,
    MAX_NICK,
    MAX_ROLE,
    MAX_TEXT,
    MAX_TITLE,
    MAX_TOPIC,
    MAX_URL,
    MAX_WHY_NUMBER,
    SEVERITIES,
    Ack,
    ActionAdd,
    ActionClose,
    ActionFile,
    ActionList,
    BugLink,
    Command,
    ComponentList,
    ComponentSet,
    IncidentAffects,
    IncidentHelp,
    IncidentList,
    IncidentLog,
    IncidentOpen,
    IncidentSetLead,
    IncidentSetManager,
    IncidentSetRole,
    IncidentSetSeverity,
    IncidentSetState,
    IncidentShow,
    IncidentState,
    MaintenanceAct,
    MaintenanceList,
    MaintenanceSchedule,
    MaintenanceStep,
    Note,
    Now,
    OnCall,
    OnCallOverride,
    Page,
    ParseError,
    PlaybookLink,
    PlaybookShow,
    StatusAlert,
    StatusHelp,
    StatusLog,
    StatusNotice,
    StatusOk,
    Success,
    Thanks,
    Why,
)
from commands.text import clean_text
from commands.usage import GENERAL_HELP, USAGE

__all__ = [
    "KEYWORDS",
    "MAX_INCIDENT_ID",
    "MAX_NICK",
    "MAX_TOPIC",
    "MAX_URL",
    "command_name",
    "is_incident_id",
    "is_nick",
    "is_url",
    "parse",
    "render",
]

KEYWORDS: Final = frozenset(
    {
        "status",
        "success",
        "thanks",
        "incident",
        "log",
        "page",
        "ack",
        "oncall",
        "playbook",
        "bug",
        "now",
        "maintenance",
        "component",
        "components",
        "why",
        "action",
        "actions",
    }
)
"""The `#word`s that make a message a command (matched case-insensitively)."""

_MAX_MATRIX_ID: Final = 255

_STATES: Final = {state.value: state for state in IncidentState}

# Raw text must start like this to be a command; the keyword is checked before any cleaning.
_HEAD: Final = re.compile(r"#([A-Za-z]+)")
_ID: Final = re.compile(r"#?([0-9]+)")
_NUMBER: Final = re.compile(r"[0-9]+")
_SEV_N: Final = re.compile(r"sev([0-9]+)", re.IGNORECASE)
_DATE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_ACTION_ID: Final = re.compile(r"[Aa]([0-9]+)")
_ROLE: Final = re.compile(r"[a-z][a-z0-9_]*")
_CLOCK: Final = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
IRC_NICK: Final = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}\-]*")
"""An IRC nick (RFC 2812 letters and specials, not starting with a digit or -): the one
definition, also used to check the configured nicks."""
# @localpart:server[:port]. Localparts may be any printable ASCII but ':' (historical ids);
# the server is a DNS name, an IPv4 address or a bracketed IPv6 literal.
_MATRIX_ID: Final = re.compile(
    r"@[\x21-\x39\x3b-\x7e]+:(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)

# Questions the bot answers with `Now()` when addressed, compared after lower-casing, turning
# typographic apostrophes into ' and dropping trailing ?, ! and full stops.
_QUESTIONS: Final = frozenset(
    {
        "what's happening",
        "whats happening",
        "what is happening",
        "what's going on",
        "whats going on",
        "what is going on",
        "what's up",
        "whats up",
        "status",
        "now",
        "#now",
    }
)
_APOSTROPHES: Final = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})


class _Refused(Exception):
    """Raised inside the parser; `parse` returns its `ParseError`."""

    def __init__(self, error: ParseError) -> None:
        super().__init__(error.command)
        self.error = error


def _refuse(name: str, reason: str | None = None) -> NoReturn:
    raise _Refused(ParseError(command=name, usage=USAGE[name], reason=reason))


# --- parse -----------------------------------------------------------------------------------


def parse(
    text: str, bot_nick: str = "statusdesk", *, addressed: bool = False
) -> Command | ParseError | None:
    """Parse one chat message.

    Returns the `Command`, a `ParseError` when the message is meant for the bot but malformed
    (answer with its `usage`), or None when the message is not for the bot. Never raises.

    A message is for the bot when it starts with `#keyword`, or when it is addressed to the bot:
    `nick: ...`, `nick, ...`, `@nick ...` or the bare nick (case-insensitive). Addressed text is
    a command, a question (`what's happening?`, `status?`, ...) or else gets the general help.
    `nick ...` with only a space after the nick is also accepted for commands and questions,
    but anything else after it is taken for talk *about* the bot and ignored.
    Leading whitespace or formatting before `#` or the nick makes a message chatter.

    `addressed=True` says the whole conversation is with the bot (a private message, the
    console): then every message is read as if it started with `nick: `.
    """
    if addressed:
        result = parse(text, bot_nick)
        return result if result is not None else _parse_addressed(text, bot_nick, True)
    first = text[:1]
    if first == "#":
        return _parse_command(text)
    if not bot_nick:
        return None
    if first == "@":
        start, explicit = 1, True
    elif first.lower() == bot_nick[:1].lower():
        start, explicit = 0, False
    else:
        return None
    end = start + len(bot_nick)
    if text[start:end].lower() != bot_nick.lower():
        return None
    separator = text[end : end + 1]
    if separator in (":", ","):
        explicit, rest = True, text[end + 1 :]
    elif not separator:
        explicit, rest = True, ""
    elif separator.isspace():
        rest = text[end:]
    else:
        return None  # another nick that starts with ours: statusdesk2, statusdesk_
    return _parse_addressed(rest, bot_nick, explicit)


def may_be_for_bot(text: str, bot_nick: str = "statusdesk", *, addressed: bool = False) -> bool:
    """False only when `parse` is sure to return None (chatter), decided from the first
    character: cheap enough to ask of every line in a busy channel."""
    first = text[:1]
    return addressed or first in ("#", "@") or (
        bool(bot_nick) and first.lower() == bot_nick[:1].lower())


def _parse_addressed(rest: str, bot_nick: str, explicit: bool) -> Command | ParseError | None:
    body = clean_text(rest)
    if body.startswith("#"):
        result = _parse_command(body)
        if result is not None:
            return result
    if _is_question(body):
        return Now()
    if explicit or not body:
        return ParseError(command=bot_nick, usage=GENERAL_HELP)
    return None


def _is_question(body: str) -> bool:
    return body.lower().translate(_APOSTROPHES).rstrip("?!. ") in _QUESTIONS


def _parse_command(text: str) -> Command | ParseError | None:
    head = _HEAD.match(text)
    if head is None or head.group(1).lower() not in KEYWORDS:
        return None
    words = clean_text(text).split(" ")
    handler = _HANDLERS.get(words[0].lower())
    if handler is None:
        return None  # `#status-page is slow`: the word goes on after the keyword
    try:
        return handler(words[1:])
    except _Refused as refused:
        return refused.error


# --- pieces ------------------------------------------------------------------------------------


def _required(words: list[str], name: str, limit: int = MAX_TEXT, what: str = "text") -> str:
    """The rest of the line as required free text (already clean: it comes from clean_text)."""
    text = " ".join(words)
    if not text:
        _refuse(name)
    if len(text) > limit:
        _refuse(name, f"{what} is {len(text)} characters; the limit is {limit}")
    return text


def _optional(words: list[str], name: str) -> str | None:
    return _required(words, name) if words else None


def _looks_like_id(token: str) -> bool:
    return _ID.fullmatch(token) is not None


def _id_number(token: str) -> int | None:
    """The incident id `token` (`12` or `#12`) stands for, or None if it is not a valid id."""
    match = _ID.fullmatch(token)
    if match is None:
        return None
    digits = match.group(1).lstrip("0")
    if not digits or len(digits) > len(str(MAX_INCIDENT_ID)):
        return None  # also keeps int() away from absurdly long digit strings
    number = int(digits)
    return number if number <= MAX_INCIDENT_ID else None


def _incident_id(token: str, name: str) -> int:
    number = _id_number(token)
    if number is None:
        _refuse(name, "incident ids are positive integers")
    return number


def _severity(digits: str, name: str) -> int:
    value = digits.lstrip("0")
    if len(value) != 1 or int(value) not in SEVERITIES:
        _refuse(name, "severities are sev1 (the worst) to sev4")
    return int(value)


def _nick(token: str, name: str) -> str:
    if token[-1:] in (":", ","):  # tab completion leaves `alice:` or `alice,`
        token = token[:-1]
    if not is_nick(token):
        _refuse(name, "NICK is an IRC nick or a Matrix user id (@user:server)")
    return token


def _url(token: str, name: str) -> str:
    if not is_url(token):
        _refuse(name, "not an http(s) URL")
    return token


def is_incident_id(value: object) -> bool:
    """True for a valid incident id: an int (not a bool) in 1..MAX_INCIDENT_ID."""
    return type(value) is int and 1 <= value <= MAX_INCIDENT_ID


def is_nick(nick: str) -> bool:
    """True for an IRC nick (letters, digits and []\\`_^{|}-, not starting with a digit or -,
    at most MAX_NICK characters) or a Matrix user id `@local:server`."""
    if IRC_NICK.fullmatch(nick) is not None:
        return len(nick) <= MAX_NICK
    return len(nick) <= _MAX_MATRIX_ID and _MATRIX_ID.fullmatch(nick) is not None


def is_url(url: str) -> bool:
    """True for an http(s) URL with a host, no whitespace or control characters, at most
    MAX_URL characters."""
    if not url or len(url) > MAX_URL or " " in url or clean_text(url) != url:
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --- one handler per keyword -------------------------------------------------------------------


def _status(args: list[str]) -> Command:
    if not args or args[0].lower() == "help":
        return StatusHelp()
    sub, rest = args[0].lower(), args[1:]
    if sub == "alert":
        return StatusAlert(_required(rest, "#status alert"))
    if sub == "notice":
        return StatusNotice(_required(rest, "#status notice"))
    if sub == "log":
        return StatusLog(_required(rest, "#status log"))
    if sub == "ok":
        return StatusOk(_optional(rest, "#status ok"))
    _refuse("#status")


def _success(args: list[str]) -> Command:
    return Success(_required(args, "#success"))


def _thanks(args: list[str]) -> Command:
    return Thanks(_required(args, "#thanks"))


def _incident(args: list[str]) -> Command:
    if not args or args[0].lower() == "help":
        return IncidentHelp()
    sub = args[0].lower()
    if sub == "open":
        return _incident_open(args[1:])
    if sub == "list":
        if len(args) > 1:
            _refuse("#incident list")
        return IncidentList()
    if _looks_like_id(args[0]):
        return _incident_with_id(args)
    _refuse("#incident")


def _incident_open(args: list[str]) -> Command:
    name = "#incident open"
    severity = DEFAULT_SEVERITY
    if args:
        first = args[0].lower()
        sev_n = _SEV_N.fullmatch(first)
        if sev_n is not None:  # sev2
            severity, args = _severity(sev_n.group(1), name), args[1:]
        elif first == "sev":  # sev 2
            if len(args) < 2 or _NUMBER.fullmatch(args[1]) is None:
                _refuse(name, "severities are sev1 (the worst) to sev4")
            severity, args = _severity(args[1], name), args[2:]
    return IncidentOpen(title=_required(args, name, MAX_TITLE, "title"), severity=severity)


def _incident_with_id(args: list[str]) -> Command:
    sub = args[1].lower() if len(args) > 1 else ""
    sev_n = _SEV_N.fullmatch(sub)
    if not sub:
        name = "#incident ID"
    elif sub in _STATES:
        name = "#incident ID STATE"
    elif sub == "sev" or sev_n is not None:
        name = "#incident ID sev"
    elif sub in ("lead", "em", "log", "affects", "role"):
        name = f"#incident ID {sub}"
    else:
        _refuse(
            "#incident",
            "after the id comes investigating, identified, monitoring, resolved, sev, lead, "
            "em, role, log or affects",
        )
    incident_id = _incident_id(args[0], name)
    rest = args[2:]
    if not sub:
        return IncidentShow(incident_id)
    if sub in _STATES:
        return IncidentSetState(incident_id, _STATES[sub], _optional(rest, name))
    if sev_n is not None:
        if rest:
            _refuse(name)
        return IncidentSetSeverity(incident_id, _severity(sev_n.group(1), name))
    if sub == "sev":
        if len(rest) != 1 or _NUMBER.fullmatch(rest[0]) is None:
            _refuse(name)
        return IncidentSetSeverity(incident_id, _severity(rest[0], name))
    if sub == "log":
        if rest:
            _refuse(name)
        return IncidentLog(incident_id)
    if sub == "affects":
        return _affects(incident_id, rest, name)
    if sub == "role":
        return _role(incident_id, rest, name)
    if len(rest) != 1:
        _refuse(name)
    if sub == "lead":
        return IncidentSetLead(incident_id, _nick(rest[0], name))
    return IncidentSetManager(incident_id, _nick(rest[0], name))


MAX_AFFECTED = 50
"""Most components one `#incident ID affects` may name."""


def _affects(incident_id: int, rest: list[str], name: str) -> Command:
    """`NAME[,NAME...] [STATUS]`: names may hold spaces (`Code review`); commas part them."""
    status = "partial_outage"
    if len(rest) > 1 and (given := parse_status(rest[-1])) is not None:
        status, rest = given, rest[:-1]
    names = tuple(part.strip() for part in " ".join(rest).split(",") if part.strip())
    if not names:
        _refuse(name)
    if len(names) > MAX_AFFECTED:
        _refuse(name, f"{len(names)} components; the limit is {MAX_AFFECTED}")
    for one in names:
        _component_name(one, name)
    return IncidentAffects(incident_id, names, status)


def _component_name(text: str, name: str) -> str:
    if len(text) > MAX_COMPONENT_NAME:
        _refuse(name, f"a component name is at most {MAX_COMPONENT_NAME} characters")
    return text


def _component(args: list[str]) -> Command:
    name = "#component"
    if not args or args[0].lower() == "help":
        _refuse(name)
    if args[0].lower() == "list":
        if len(args) > 1:
            _refuse("#component list")
        return ComponentList()
    # NAME may be several words (`Code review`): it ends at the first status word.
    at = next((i for i in range(1, len(args)) if parse_status(args[i]) is not None), None)
    if at is None:
        if len(args) == 1:
            _refuse(name, "STATUS is missing")
        _refuse(name, f"no status word after the name (one of {STATUS_WORDS_HELP})")
    status = parse_status(args[at])
    assert status is not None
    component = _component_name(" ".join(args[:at]), name)
    return ComponentSet(component, status, _optional(args[at + 1:], name))


def _components(args: list[str]) -> Command:
    if args:
        _refuse("#component list")
    return ComponentList()


def _role(incident_id: int, rest: list[str], name: str) -> Command:
    """`ROLE NICK`; `lead` and `em` are the two roles the core has always known."""
    if len(rest) != 2:
        _refuse(name)
    role = rest[0].lower()
    if len(role) > MAX_ROLE or _ROLE.fullmatch(role) is None:
        _refuse(name, f"a role is one lowercase word of at most {MAX_ROLE} characters")
    nick = _nick(rest[1], name)
    if role == "lead":
        return IncidentSetLead(incident_id, nick)
    if role == "em":
        return IncidentSetManager(incident_id, nick)
    return IncidentSetRole(incident_id, role, nick)


def _why(args: list[str]) -> Command:
    name = "#why"
    incident_id = number = None
    # As for #log, a leading id followed by more text names the incident; a second number
    # after it names the entry to replace (so replacing needs the id: "#why 12 2 TEXT").
    if len(args) > 1 and _looks_like_id(args[0]):
        incident_id, args = _incident_id(args[0], name), args[1:]
        if len(args) > 1 and _NUMBER.fullmatch(args[0]) is not None:
            value = args[0].lstrip("0")
            if not value or len(value) > 2 or int(value) > MAX_WHY_NUMBER:
                _refuse(name, f"entries are numbered 1 to {MAX_WHY_NUMBER}")
            number, args = int(value), args[1:]
    return Why(_required(args, name), incident_id, number)


def _action_id(token: str) -> int | None:
    """The action id `A7` (or `a7`) stands for, or None when it is not one."""
    match = _ACTION_ID.fullmatch(token)
    if match is None:
        return None
    return _id_number(match.group(1))


def _action(args: list[str]) -> Command:
    if not args or args[0].lower() == "help":
        _refuse("#action")
    action_id = _action_id(args[0])
    if action_id is not None and len(args) > 1 and args[1].lower() in ("done", "drop", "file"):
        verb, rest = args[1].lower(), args[2:]
        if verb == "file":
            if rest:
                _refuse("#action file")
            return ActionFile(action_id)
        return ActionClose(action_id, verb, _optional(rest, f"#action {verb}"))
    if _ACTION_ID.fullmatch(args[0]) is not None:
        _refuse("#action", "after an action id comes done, drop or file")
    name = "#action"
    incident_id = None
    if len(args) > 1 and _looks_like_id(args[0]):
        incident_id, args = _incident_id(args[0], name), args[1:]
    owner: str | None = None
    due: date | None = None
    # `owner NICK` and `due DATE` end the line, in either order, each at most once.
    while len(args) > 2:
        word = args[-2].lower()
        if word == "owner" and owner is None:
            owner, args = _nick(args[-1], name), args[:-2]
        elif word == "due" and due is None:
            due, args = _due(args[-1], name), args[:-2]
        else:
            break
    return ActionAdd(_required(args, name), incident_id, owner, due)


def _due(token: str, name: str) -> date:
    day = _DATE.fullmatch(token)
    if day is None:
        _refuse(name, "write the due date as YYYY-MM-DD, e.g. 2026-12-24")
    try:
        return date(int(day.group(1)), int(day.group(2)), int(day.group(3)))
    except ValueError:
        _refuse(name, f"there is no date {token}")


def _actions(args: list[str]) -> Command:
    if not args:
        return ActionList()
    if len(args) > 1 or not _looks_like_id(args[0]):
        _refuse("#actions")
    return ActionList(_incident_id(args[0], "#actions"))


def _log(args: list[str]) -> Command:
    incident_id = None
    # A leading id followed by more text names the incident (DESIGN §1.4: chat accepts 12 or
    # #12), so "#log 3 servers down" is the note "servers down" on incident 3, not the note
    # "3 servers down". "#log 3" alone is the note "3".
    if len(args) > 1 and _looks_like_id(args[0]):
        incident_id, args = _incident_id(args[0], "#log"), args[1:]
    return Note(text=_required(args, "#log"), incident_id=incident_id)


def _page(args: list[str]) -> Command:
    incident_id = None
    # As for #log, a leading id names the incident: "#page 3 db down" pages for incident 3.
    if args and _looks_like_id(args[0]):
        incident_id, args = _incident_id(args[0], "#page"), args[1:]
    return Page(incident_id=incident_id, text=_optional(args, "#page"))


def _ack(args: list[str]) -> Command:
    if not args:
        return Ack()
    if len(args) > 1 or not _looks_like_id(args[0]):
        _refuse("#ack")
    return Ack(_incident_id(args[0], "#ack"))


def _oncall(args: list[str]) -> Command:
    if not args:
        return OnCall()
    if args[0].lower() != "override":
        _refuse("#oncall")
    name = "#oncall override"
    rest = args[1:]
    if len(rest) not in (3, 4) or rest[1].lower() != "until":
        _refuse(name)
    return OnCallOverride(nick=_nick(rest[0], name), until=_until(rest[2:], name))


def _until(words: list[str], name: str) -> datetime:
    """`2026-12-01 09:00` or `2026-12-01` (midnight): a wall-clock time to the minute."""
    day = _DATE.fullmatch(words[0])
    clock = _CLOCK.fullmatch(words[1]) if len(words) > 1 else None
    if day is None or (len(words) > 1 and clock is None):
        _refuse(name, "write the end as YYYY-MM-DD HH:MM, e.g. 2026-12-01 09:00")
    hour, minute = (int(clock.group(1)), int(clock.group(2))) if clock else (0, 0)
    try:
        return datetime(int(day.group(1)), int(day.group(2)), int(day.group(3)), hour, minute)
    except ValueError:
        _refuse(name, f"there is no date {words[0]}")


def _now(args: list[str]) -> Command:
    if args:
        _refuse("#now")
    return Now()


def _playbook(args: list[str]) -> Command:
    if not args:
        return PlaybookShow()
    if args[0].lower() == "link":
        name = "#playbook link"
        if len(args) < 3:
            _refuse(name)
        url = _url(args[-1], name)
        return PlaybookLink(topic=_required(args[1:-1], name, MAX_TOPIC, "topic"), url=url)
    return PlaybookShow(_required(args, "#playbook", MAX_TOPIC, "topic"))


def _bug(args: list[str]) -> Command:
    if len(args) == 1:
        return BugLink(url=_url(args[0], "#bug"))
    if len(args) == 2 and _looks_like_id(args[0]):
        incident_id = _incident_id(args[0], "#bug")
        return BugLink(url=_url(args[1], "#bug"), incident_id=incident_id)
    _refuse("#bug")


_DURATION: Final = re.compile(r"(?:([0-9]{1,3})d)?(?:([0-9]{1,4})h)?(?:([0-9]{1,5})m)?")
_COMPONENT: Final = re.compile(r"[^\s,]+")
_STEPS: Final = {step.value: step for step in MaintenanceStep}


def parse_window_duration(token: str) -> timedelta | None:
    """`30m`, `2h`, `1h30m`, `1d` (days, hours, minutes in that order): a window's length,
    or None when `token` is not one, is 0 or is longer than MAX_MAINTENANCE."""
    match = _DURATION.fullmatch(token.lower())
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    length = timedelta(days=days, hours=hours, minutes=minutes)
    return length if timedelta(0) < length <= MAX_MAINTENANCE else None


def _maintenance(args: list[str]) -> Command:
    if not args:
        _refuse("#maintenance")
    sub = args[0].lower()
    if sub == "schedule":
        return _maintenance_schedule(args[1:])
    if sub == "list":
        if len(args) > 1:
            _refuse("#maintenance list")
        return MaintenanceList()
    if _looks_like_id(args[0]):
        name = "#maintenance ID"
        if len(args) < 2 or args[1].lower() not in _STEPS:
            _refuse(name)
        return MaintenanceAct(_incident_id(args[0], name), _STEPS[args[1].lower()],
                              _optional(args[2:], name))
    _refuse("#maintenance")


def _maintenance_schedule(args: list[str]) -> Command:
    name = "#maintenance schedule"
    if len(args) < 4:
        _refuse(name)
    if _DATE.fullmatch(args[0]) is None or _CLOCK.fullmatch(args[1]) is None:
        _refuse(name, "write the start as YYYY-MM-DD HH:MM, e.g. 2026-12-01 09:00")
    start = _until(args[:2], name)
    duration = parse_window_duration(args[2])
    if duration is None:
        _refuse(name, "DURATION is like 30m, 2h or 1h30m, longer than 0 and at most 30d")
    rest = args[3:]
    components: tuple[str, ...] = ()
    if rest[0].lower() == "on":
        if len(rest) < 3:
            _refuse(name)
        names = [n for n in rest[1].split(",") if n]
        if (not names or len(names) > MAX_COMPONENTS
                or any(len(n) > MAX_COMPONENT_NAME or _COMPONENT.fullmatch(n) is None
                       for n in names)):
            _refuse(name, "name the components as NAME,NAME (their ids, no spaces)")
        components, rest = tuple(dict.fromkeys(names)), rest[2:]
    return MaintenanceSchedule(start=start, duration=duration,
                               title=_required(rest, name, MAX_TITLE, "title"),
                               components=components)


_HANDLERS: Final[dict[str, Callable[[list[str]], Command]]] = {
    "#status": _status,
    "#success": _success,
    "#thanks": _thanks,
    "#incident": _incident,
    "#log": _log,
    "#page": _page,
    "#ack": _ack,
    "#oncall": _oncall,
    "#now": _now,
    "#playbook": _playbook,
    "#bug": _bug,
    "#maintenance": _maintenance,
    "#component": _component,
    "#components": _components,
    "#why": _why,
    "#action": _action,
    "#actions": _actions,
}
assert set(_HANDLERS) == {f"#{keyword}" for keyword in KEYWORDS}


# --- render ------------------------------------------------------------------------------------


def render(command: Command) -> str:
    """The canonical text of `command`: `parse(render(command)) == command`.

    Raises ValueError for values that no text parses back to (see the module docstring).
    """
    match command:
        case StatusAlert(text=text):
            return f"#status alert {_text_out(text)}"
        case StatusNotice(text=text):
            return f"#status notice {_text_out(text)}"
        case StatusLog(text=text):
            return f"#status log {_text_out(text)}"
        case StatusOk(text=text):
            return "#status ok" + _optional_out(text)
        case StatusHelp():
            return "#status"
        case Success(text=text):
            return f"#success {_text_out(text)}"
        case Thanks(text=text):
            return f"#thanks {_text_out(text)}"
        case IncidentOpen(title=title, severity=severity):
            return f"#incident open sev{_severity_out(severity)} {_text_out(title, MAX_TITLE)}"
        case IncidentSetState(incident_id=incident_id, state=state, text=text):
            state_word = IncidentState(state).value
            return f"#incident {_id_out(incident_id)} {state_word}" + _optional_out(text)
        case IncidentSetSeverity(incident_id=incident_id, severity=severity):
            return f"#incident {_id_out(incident_id)} sev {_severity_out(severity)}"
        case IncidentSetLead(incident_id=incident_id, nick=nick):
            return f"#incident {_id_out(incident_id)} lead {_nick_out(nick)}"
        case IncidentSetManager(incident_id=incident_id, nick=nick):
            return f"#incident {_id_out(incident_id)} em {_nick_out(nick)}"
        case IncidentList():
            return "#incident list"
        case IncidentShow(incident_id=incident_id):
            return f"#incident {_id_out(incident_id)}"
        case IncidentLog(incident_id=incident_id):
            return f"#incident {_id_out(incident_id)} log"
        case IncidentHelp():
            return "#incident"
        case Note(text=text, incident_id=None):
            first, space, _ = _text_out(text).partition(" ")
            if space and _looks_like_id(first):
                raise ValueError(f"#log {text!r} would be read as a note on incident {first}")
            return f"#log {text}"
        case Note(text=text, incident_id=incident_id):
            return f"#log {_id_out(incident_id)} {_text_out(text)}"
        case Page(incident_id=incident_id, text=text):
            suffix = _optional_out(text)
            if incident_id is not None:
                return f"#page {_id_out(incident_id)}{suffix}"
            if _looks_like_id(suffix[1:].partition(" ")[0]):
                raise ValueError(f"#page{suffix} would be read as a page for an incident id")
            return f"#page{suffix}"
        case Ack(incident_id=incident_id):
            return "#ack" if incident_id is None else f"#ack {_id_out(incident_id)}"
        case OnCall():
            return "#oncall"
        case OnCallOverride(nick=nick, until=until):
            return f"#oncall override {_nick_out(nick)} until {_until_out(until)}"
        case PlaybookShow(topic=topic):
            if topic is None:
                return "#playbook"
            if _text_out(topic, MAX_TOPIC).split(" ")[0].lower() == "link":
                raise ValueError(f"#playbook {topic!r} would be read as #playbook link")
            return f"#playbook {topic}"
        case PlaybookLink(topic=topic, url=url):
            return f"#playbook link {_text_out(topic, MAX_TOPIC)} {_url_out(url)}"
        case BugLink(url=url, incident_id=None):
            return f"#bug {_url_out(url)}"
        case BugLink(url=url, incident_id=incident_id):
            return f"#bug {_id_out(incident_id)} {_url_out(url)}"
        case Now():
            return "#now"
        case MaintenanceSchedule(start=start, duration=duration, title=title,
                                 components=components):
            title = _text_out(title, MAX_TITLE)
            on = ""
            if components:
                if (len(components) > MAX_COMPONENTS or len(set(components)) != len(components)
                        or any(not isinstance(c, str) or len(c) > MAX_COMPONENT_NAME
                               or _COMPONENT.fullmatch(c) is None for c in components)):
                    raise ValueError(f"not component names: {components!r}")
                on = f" on {','.join(components)}"
            elif title.split(" ")[0].lower() == "on":
                raise ValueError(f"title {title!r} would be read as a list of components")
            return (f"#maintenance schedule {_until_out(start)} {_window_out(duration)}{on} "
                    f"{title}")
        case MaintenanceAct(maintenance_id=maintenance_id, step=step, text=text):
            return (f"#maintenance {_id_out(maintenance_id)} {MaintenanceStep(step).value}"
                    + _optional_out(text))
        case MaintenanceList():
            return "#maintenance list"
        case ComponentSet(name=name, status=status, text=text):
            return f"#component {_component_out(name)} {_status_out(status)}" + \
                _optional_out(text)
        case ComponentList():
            return "#component list"
        case IncidentAffects(incident_id=incident_id, names=names, status=status):
            listed = ",".join(_affected_out(one) for one in names)
            if not names or len(names) > MAX_AFFECTED:
                raise ValueError(f"not 1 to {MAX_AFFECTED} component names: {names!r}")
            return f"#incident {_id_out(incident_id)} affects {listed} {_status_out(status)}"
        case Why(text=text, incident_id=incident_id, number=number):
            return _why_out(text, incident_id, number)
        case ActionAdd(text=text, incident_id=incident_id, owner=owner, due=due):
            return _action_out(text, incident_id, owner, due)
        case ActionClose(action_id=action_id, outcome=outcome, text=text):
            if outcome not in ("done", "drop"):
                raise ValueError(f"not done or drop: {outcome!r}")
            return f"#action {_action_id_out(action_id)} {outcome}" + _optional_out(text)
        case ActionFile(action_id=action_id):
            return f"#action {_action_id_out(action_id)} file"
        case ActionList(incident_id=None):
            return "#actions"
        case ActionList(incident_id=incident_id):
            return f"#actions {_id_out(incident_id)}"
        case IncidentSetRole(incident_id=incident_id, role=role, nick=nick):
            if (not isinstance(role, str) or role in ("lead", "em") or len(role) > MAX_ROLE
                    or _ROLE.fullmatch(role) is None):
                raise ValueError(f"not a role other than lead and em: {role!r}")
            return f"#incident {_id_out(incident_id)} role {role} {_nick_out(nick)}"
        case _:
            assert_never(command)


def _why_out(text: str, incident_id: int | None, number: int | None) -> str:
    body = _text_out(text)
    first, space, _ = body.partition(" ")
    if incident_id is None:
        if number is not None:
            raise ValueError("#why N TEXT needs the incident id before N")
        if space and _looks_like_id(first):
            raise ValueError(f"#why {text!r} would be read as a why on incident {first}")
        return f"#why {body}"
    if number is None:
        if space and _NUMBER.fullmatch(first):
            raise ValueError(f"#why {text!r} would be read as replacing entry {first}")
        return f"#why {_id_out(incident_id)} {body}"
    if type(number) is not int or not 1 <= number <= MAX_WHY_NUMBER:
        raise ValueError(f"not an entry number: {number!r}")
    return f"#why {_id_out(incident_id)} {number} {body}"


def _action_out(text: str, incident_id: int | None, owner: str | None,
                due: date | None) -> str:
    body = _text_out(text)
    words = body.split(" ")
    if len(words) >= 3 and words[-2].lower() in ("owner", "due"):
        raise ValueError(f"#action {text!r} would be read with an owner or a due date")
    line = "#action"
    if incident_id is not None:
        line += f" {_id_out(incident_id)}"
    elif _ACTION_ID.fullmatch(words[0]) is not None:
        raise ValueError(f"#action {text!r} would be read as an action id")
    elif (len(words) > 1 or owner is not None or due is not None) and \
            _looks_like_id(words[0]):
        raise ValueError(f"#action {text!r} would be read as an item on incident {words[0]}")
    elif words[0].lower() == "help":
        raise ValueError("#action help is the usage")
    line += f" {body}"
    if owner is not None:
        line += f" owner {_nick_out(owner)}"
    if due is not None:
        if isinstance(due, datetime) or not isinstance(due, date):
            raise ValueError(f"not a date: {due!r}")
        line += f" due {due.year:04d}-{due.month:02d}-{due.day:02d}"
    return line


def _action_id_out(action_id: int) -> str:
    if not is_incident_id(action_id):
        raise ValueError(f"not an action id: {action_id!r}")
    return f"A{action_id}"


def _text_out(text: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(text, str) or not text or len(text) > limit or clean_text(text) != text:
        raise ValueError(f"not clean non-empty text of at most {limit} characters: {text!r}")
    return text


def _optional_out(text: str | None) -> str:
    return "" if text is None else f" {_text_out(text)}"


def _id_out(incident_id: int | None) -> str:
    if not is_incident_id(incident_id):
        raise ValueError(f"not an incident id: {incident_id!r}")
    return f"#{incident_id}"


def _severity_out(severity: int) -> int:
    if type(severity) is not int or severity not in SEVERITIES:
        raise ValueError(f"not a severity: {severity!r}")
    return severity


def _nick_out(nick: str) -> str:
    if not isinstance(nick, str) or not is_nick(nick):
        raise ValueError(f"not an IRC nick or Matrix user id: {nick!r}")
    return nick


def _until_out(until: datetime) -> str:
    if (not isinstance(until, datetime) or until.tzinfo is not None or until.second
            or until.microsecond):
        raise ValueError(f"not a naive wall-clock time to the minute: {until!r}")
    return (f"{until.year:04d}-{until.month:02d}-{until.day:02d} "
            f"{until.hour:02d}:{until.minute:02d}")


def _window_out(duration: timedelta) -> str:
    if (not isinstance(duration, timedelta) or duration % timedelta(minutes=1)
            or not timedelta(0) < duration <= MAX_MAINTENANCE):
        raise ValueError(f"not a window length in whole minutes up to 30d: {duration!r}")
    days, minutes = duration.days, duration.seconds // 60
    text = (f"{days}d" if days else "") + (f"{minutes // 60}h" if minutes // 60 else "")
    return text + (f"{minutes % 60}m" if minutes % 60 else "")
def _status_out(status: str) -> str:
    if not isinstance(status, str) or parse_status(status) != status:
        raise ValueError(f"not a component status: {status!r}")
    return status


def _component_out(name: str) -> str:
    text = _text_out(name, MAX_COMPONENT_NAME)
    words = text.split(" ")
    if words[0].lower() in ("list", "help") or any(parse_status(w) for w in words[1:]):
        raise ValueError(f"#component {name!r} would be read differently")
    return text


def _affected_out(name: str) -> str:
    text = _text_out(name, MAX_COMPONENT_NAME)
    if "," in text:
        raise ValueError(f"a component name with a comma cannot be listed: {name!r}")
    return text


def _url_out(url: str) -> str:
    if not isinstance(url, str) or not is_url(url):
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


# --- names -------------------------------------------------------------------------------------

_NAMES: Final[dict[type[object], str]] = {
    StatusAlert: "#status alert",
    StatusNotice: "#status notice",
    StatusLog: "#status log",
    StatusOk: "#status ok",
    StatusHelp: "#status",
    Success: "#success",
    Thanks: "#thanks",
    IncidentOpen: "#incident open",
    IncidentSetState: "#incident ID STATE",
    IncidentSetSeverity: "#incident ID sev",
    IncidentSetLead: "#incident ID lead",
    IncidentSetManager: "#incident ID em",
    IncidentList: "#incident list",
    IncidentShow: "#incident ID",
    IncidentLog: "#incident ID log",
    IncidentHelp: "#incident",
    Note: "#log",
    Page: "#page",
    Ack: "#ack",
    OnCall: "#oncall",
    OnCallOverride: "#oncall override",
    PlaybookShow: "#playbook",
    PlaybookLink: "#playbook link",
    BugLink: "#bug",
    Now: "#now",
    MaintenanceSchedule: "#maintenance schedule",
    MaintenanceAct: "#maintenance ID",
    MaintenanceList: "#maintenance list",
    ComponentSet: "#component",
    ComponentList: "#component list",
    IncidentAffects: "#incident ID affects",
    Why: "#why",
    ActionAdd: "#action",
    ActionClose: "#action done",  # or "#action drop": see command_name
    ActionFile: "#action file",
    ActionList: "#actions",
    IncidentSetRole: "#incident ID role",
}


def command_name(command: Command) -> str:
    """The command's name as users type it, a key of `USAGE` (`#status alert`,
    `#incident ID lead`): for replies such as "you are not authorized to use #status alert"."""
    if isinstance(command, ActionClose):
        return f"#action {command.outcome}"
    return _NAMES[type(command)]
