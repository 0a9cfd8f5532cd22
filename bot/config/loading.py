"""Loading a configuration: the file, YAML, `${NAME}` interpolation, validation against the
schema (the core's sections and every plug-in's), cross-field checks, and the problems
reported as `PATH: message`.

Loading goes through four steps, and every problem found on the way is collected into one
`ConfigError` (one `Problem` per mistake, each with a precise path such as `irc[0].port`):

1. read the file and parse it with a `yaml.SafeLoader` (syntax errors carry `FILE:LINE:COL`;
   aliases that expand to a huge or recursive tree are refused);
2. replace `${NAME}` references in string values from the environment, `${file:PATH}` and
   `${cred:NAME}` from files (on the parsed tree, so a value never breaks YAML quoting and a
   missing variable or file is reported at the value's path);
3. validate the tree with the pydantic models (unknown keys, types and formats);
4. cross-field checks on the tree that need to see several entries at once (duplicates, references
   between sections).  They run on the raw tree, so they are reported together with the schema
   errors of step 3.

Secrets are `pydantic.SecretStr` and never appear in a repr or in an error message;
`Config.secrets()` lists their values so logs can be redacted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic_core import ErrorDetails

from bot.config import plugins
from bot.config.extras import missing_extras
from bot.config.fields import (
    _CHANNEL_RE,
    _MATRIX_ROOM_RE,
    DEFAULT_CONFIG_FILE,
    DEFAULT_DATABASE_URL,
    FILE_PATH,
    _q,
)
from bot.config.models import Config
from commands.component_names import slug
from commands.filing_targets import FilingTarget

# --- problems ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One mistake in a configuration: where (`irc[0].port`) and what (`must be 1-65535`)."""

    path: str
    message: str
    file: str | None = None
    """The configuration file it is in, named first when the path does not already name it
    (operators must see which file was read: `-c`, `$STATUSDESK_CONFIG`, ./config.yaml...)."""

    def __str__(self) -> str:
        if self.file is None or self.path == self.file or self.path.startswith(self.file + ":"):
            return f"{self.path}: {self.message}"
        return f"{self.file}: {self.path}: {self.message}"


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



# --- loading -------------------------------------------------------------------------------------


ETC_CONFIG_FILE = "/etc/statusdesk/config.yaml"
"""The system-wide configuration, read when neither `-c`, `$STATUSDESK_CONFIG` nor
./config.yaml says otherwise (DESIGN §1.9)."""

CONFIG_ENV = "STATUSDESK_CONFIG"

ETC_CONFIG_OVERRIDE_ENV = "STATUSDESK_INTERNAL_ETC_CONFIG"
"""Internal, for the tests only (they cannot write /etc): where to look instead of
ETC_CONFIG_FILE. Not documented for users; `$STATUSDESK_CONFIG` is the way to name a file."""


def find_config_file(explicit: str | os.PathLike[str] | None,
                     env: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file to read, in the order of DESIGN §1.9: `-c FILE`, else
    `$STATUSDESK_CONFIG` (both returned even if missing: loading reports it), else
    ./config.yaml, else /etc/statusdesk/config.yaml if it exists, else None (the embedded
    default)."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    for candidate in (DEFAULT_CONFIG_FILE, env.get(ETC_CONFIG_OVERRIDE_ENV) or ETC_CONFIG_FILE):
        try:
            if Path(candidate).exists():
                return Path(candidate)
        except PermissionError:
            return Path(candidate)  # there, but not for us: loading says so, naming it
    return None


def default_config() -> Config:
    """The embedded default: SQLite `./statusdesk.db`, the console transport, no IRC, no Matrix,
    no users, status page on 127.0.0.1:8080."""
    return plugins.schema().model_validate(
        {"database": {"url": DEFAULT_DATABASE_URL}, "console": True})


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
    try:
        return load_config_text(text, source=source, env=env)
    except ConfigError as error:
        raise ConfigError([replace(p, file=source) for p in error.problems]) from None


def load_config_text(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate configuration text; `source` names it in syntax errors and in problems of
    the whole file (empty, not a mapping). Raises ConfigError."""
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
        raise ConfigError([Problem(source, "empty configuration (expected a mapping)")])
    if not isinstance(tree, dict):
        raise ConfigError(
            [Problem(source, "must be a mapping of sections (database, irc, users, ...)")]
        )
    shape = _shape_problem(tree)
    if shape is not None:
        raise ConfigError([Problem(source, shape)])

    problems: dict[Loc, str] = {}
    tree = _interpolate(tree, (), os.environ if env is None else env, problems)
    env_locs = set(problems)
    # First: a missing extra explains whatever else is wrong at the same place.
    for loc, message in missing_extras(tree):
        problems.setdefault(loc, message)

    config: Config | None = None
    try:
        config = plugins.schema().model_validate(tree)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            loc = _clean_loc(error["loc"], tree)
            if any(loc[: len(e)] == e for e in env_locs):
                continue  # the value is an unresolved ${...}: that is the problem
            problems.setdefault(loc, _message(error, loc))

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


_MERGE_TAG = "tag:yaml.org,2002:merge"


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

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of two equal keys: a second `users:` section would silently
        # replace the first. Checked before merges (`<<: *base`), which may override.
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_q(key)} (first at line "
                    f"{first[key].start_mark.line + 1})", key_node.start_mark)
            first[key] = key_node
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping

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


# --- ${NAME}, ${file:PATH}, ${cred:NAME} ---------------------------------------------------------

# `${NAME}` is replaced by the environment variable NAME, `${file:PATH}` by the content of the
# file PATH (relative to the current directory, like every path in the configuration) and
# `${cred:NAME}` by that of `$CREDENTIALS_DIRECTORY/NAME` (systemd's LoadCredential=), one
# trailing newline dropped from both; `$${` stands for a literal `${` (so `$${NAME}` yields
# the text `${NAME}`). Any other `${` is an error. Problems name the reference, never what a
# file holds: it is a secret more often than not.
_REFERENCE_RE = re.compile(
    r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{(file|cred):([^{}]+)\}|\$\{")
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
_CREDENTIAL_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")
"""What systemd accepts as a credential's name: a file name, no `/`, not `.` or `..`."""
MAX_REFERENCED_FILE = 1 << 20
"""A secret is a few hundred bytes; a megabyte is a mistake (`${file:/dev/zero}`)."""


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
    unreadable: list[str] = []
    malformed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal malformed
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if match.group(2) is not None:
            content, problem = _read_reference(match.group(2), match.group(3), env)
            if problem is not None:
                unreadable.append(f"{match.group(0)}: {problem}")
                return match.group(0)
            return content
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
    if unreadable:
        problems.setdefault(loc, "; ".join(unreadable))
        return text
    if malformed:
        problems.setdefault(
            loc, "invalid ${...} reference (write ${NAME}, ${file:PATH}, ${cred:NAME}, "
            "or $${ for a literal ${)"
        )
        return text
    return result


def _read_reference(kind: str, name: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    """The content `${file:NAME}` or `${cred:NAME}` stands for, or why there is none."""
    if kind == "cred":
        directory = env.get(CREDENTIALS_ENV)
        if not directory:
            return "", (f"${CREDENTIALS_ENV} is not set (systemd sets it for a unit with "
                        "LoadCredential=)")
        if not _CREDENTIAL_NAME_RE.fullmatch(name) or name in (".", ".."):
            return "", "not a credential name (a file name in $CREDENTIALS_DIRECTORY)"
        path = Path(directory) / name
    else:
        path = Path(name)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_REFERENCED_FILE + 1)
    except FileNotFoundError:
        where = f" in ${CREDENTIALS_ENV} ({path.parent})" if kind == "cred" else ""
        return "", f"no such file{where}"
    except IsADirectoryError:
        return "", "is a directory, not a file"
    except OSError as exc:
        return "", f"cannot read: {exc.strerror or type(exc).__name__}"
    if len(data) > MAX_REFERENCED_FILE:
        return "", f"larger than {MAX_REFERENCED_FILE} bytes"
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "", f"not valid UTF-8 (byte {exc.start})"
    return content.removesuffix("\n").removesuffix("\r"), None


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


_PLUGIN_SECTIONS: dict[Loc, plugins.Kind] = {
    ("paging", "providers"): plugins.PAGING_PROVIDERS,
    ("playbooks", "trackers"): plugins.TRACKERS,
}


def _message(error: ErrorDetails, loc: Loc = ()) -> str:
    kind = error["type"]
    if kind == "extra_forbidden" and loc[:-1] in _PLUGIN_SECTIONS:
        return plugins.unknown_message(_PLUGIN_SECTIONS[loc[:-1]])
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


_FILING_CREDENTIALS = {
    "github": ("token",), "gitlab": ("token",), "jira": ("token",), "redmine": ("api_key",),
    "launchpad": ("oauth_token", "oauth_token_secret"),
}
"""What each tracker needs to create issues (`postmortem.file_actions_in`)."""


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

    # Components: unique ids (the slug of the name: "Code review" and "code-review" clash).
    components = _Seen("component")
    for i, component in _items(tree.get("components")):
        name = component.get("name")
        if isinstance(name, str) and slug(name):
            add(components.check(slug(name), name, ("components", i, "name"),
                                 ("components", i)))
    # A group is published as a component with id "group-<slug>" (Statuspage has no separate
    # group objects), so a component named "Group CI" would share an id with group "CI".
    group_ids = {"group-" + slug(c["group"]): c["group"]
                 for _, c in _items(tree.get("components"))
                 if isinstance(c.get("group"), str) and slug(c["group"])}
    for i, component in _items(tree.get("components")):
        name = component.get("name")
        if isinstance(name, str) and slug(name) in group_ids:
            found.append((("components", i, "name"),
                          f"id {_q(slug(name))} is the id of group "
                          f"{_q(group_ids[slug(name)])} on the page; rename one of them"))

    # Subscribers' webhooks choose among the declared components.
    declared = {slug(c["name"]) for _, c in _items(tree.get("components"))
                if isinstance(c.get("name"), str)}
    for i, hook in _items(_mapping(tree.get("subscribers")).get("webhooks")):
        for j, chosen in _strings(hook.get("components")):
            if chosen not in declared:
                found.append((("subscribers", "webhooks", i, "components", j),
                              f"unknown component {_q(chosen)} (not in components:)"))

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

    # Filing action items needs the named tracker configured (it writes: a token).
    postmortem = _mapping(tree.get("postmortem"))
    target = postmortem.get("file_actions_in")
    if isinstance(target, str) and (parsed := FilingTarget.parse(target)) is not None:
        trackers = _mapping(_mapping(tree.get("playbooks")).get("trackers"))
        entry = trackers.get(parsed.tracker)
        needs = _FILING_CREDENTIALS[parsed.tracker]
        if entry is None:
            found.append((("postmortem", "file_actions_in"),
                          f"no {parsed.tracker} tracker configured "
                          f"(add playbooks.trackers.{parsed.tracker}: {{...}})"))
        elif isinstance(entry, dict) and not all(entry.get(key) for key in needs):
            found.append((("postmortem", "file_actions_in"),
                          f"filing writes: set playbooks.trackers.{parsed.tracker}."
                          f"{' and '.join(needs)}"))
    elif postmortem.get("file_every_action") is True and target is None:
        found.append((("postmortem", "file_every_action"),
                      "needs postmortem.file_actions_in (where to file them)"))

    # Escalation managers: unique names; every kind of contact needs its provider.
    paging = _mapping(tree.get("paging"))
    providers = _mapping(paging.get("providers"))
    # Which provider plug-ins deliver to each kind of contact (`contacts` they declare).
    provider_of: dict[str, list[str]] = {}
    schemas: dict[str, type[BaseModel]] = {}
    for name, plugin in plugins.usable(plugins.PAGING_PROVIDERS).items():
        schemas[name] = plugin.CONFIG_SCHEMA
        for contact in getattr(plugin, "contacts", ()):
            provider_of.setdefault(contact, []).append(name)
    managers = _Seen("escalation manager")
    for i, manager in _items(paging.get("escalation_managers")):
        name = manager.get("name")
        loc: Loc = ("paging", "escalation_managers", i)
        if isinstance(name, str):
            add(managers.check(name.casefold(), name, (*loc, "name"), loc))
        for contact, value in _mapping(manager.get("contacts")).items():
            candidates = provider_of.get(str(contact))
            if not candidates or value is None:
                continue
            if all(providers.get(name) is None for name in candidates):
                provider = candidates[0]
                hint = "{...}" if schemas[provider].model_fields else "{}"
                found.append(
                    (
                        (*loc, "contacts", str(contact)),
                        f"no {provider} provider configured "
                        f"(add paging.providers.{provider}: {hint})",
                    )
                )
    return found
