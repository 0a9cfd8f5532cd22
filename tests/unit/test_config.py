"""bot.config: the schema of DESIGN §1.3, its loader and its error messages."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from bot.config import (
    DEFAULT_DATABASE_URL,
    Config,
    ConfigError,
    Problem,
    default_config,
    find_config_file,
    load_config,
    load_config_text,
    parse_duration,
)
from commands.model import Role

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.yaml"

MINIMAL = "database: {url: 'sqlite+aiosqlite:///test.db'}\n"


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    """The problem lines load_config_text reports for `text` (fails if it loads)."""
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source="config.yaml", env=env or {})
    lines = [str(p) for p in info.value.problems]
    assert str(info.value) == "\n".join(lines)
    return lines


def one_problem(text: str, env: dict[str, str] | None = None) -> str:
    lines = problems(text, env)
    assert len(lines) == 1, lines
    return lines[0]


def load(text: str, env: dict[str, str] | None = None) -> Config:
    return load_config_text(text, env=env or {})


def example_env() -> dict[str, str]:
    text = EXAMPLE.read_text()
    names = re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)
    assert names, "the example names no environment variables"
    return {name: f"secret-value-of-{name}" for name in names}


IRC = "irc: [{name: oftc, host: irc.oftc.net, channels: ['#ops']}]\n"


# --- the example and the embedded default --------------------------------------------------------


def test_example_validates() -> None:
    env = example_env()
    config = load_config(EXAMPLE, env=env)

    assert config.database.url == "sqlite+aiosqlite:///statusdesk.db"
    (network,) = config.irc
    assert network.name == "oftc"
    assert network.port == 6697
    assert network.tls and network.tls_verify
    assert network.sasl is not None
    assert network.sasl.password.get_secret_value() == env["IRC_PASSWORD"]
    assert network.channels == ["#opendev", "#openstack-infra"]
    assert network.rate.burst == 5
    assert network.rate.per_second == 1.0
    assert network.topic_via == "topic"
    assert config.matrix is not None
    assert config.matrix.trust == "tofu"
    assert config.matrix.rooms == ["#infra:example.org", "!abcdef:example.org"]
    assert config.console is False

    alice = config.users[0]
    assert alice.role_set == {Role.STATUS, Role.INCIDENT, Role.ESCALATION}
    assert alice.irc is not None and alice.irc.account == "alice"
    assert alice.matrix == "@alice:example.org"
    assert {u.irc.kind for u in config.users if u.irc} == {"account", "nick", "mask"}

    assert config.status_page.host == "127.0.0.1"
    assert config.status_page.port == 8080
    assert config.incidents.capture is False
    assert config.incidents.remind_after == timedelta(minutes=30)
    quiet = config.incidents.quiet_hours
    assert quiet is not None
    assert (quiet.from_, quiet.to, quiet.timezone) == (time(22, 0), time(7, 0), "UTC")
    assert config.paging.auto_page_severity == 1
    assert config.paging.ack_timeout == timedelta(minutes=10)
    assert config.paging.rotation is not None
    assert config.paging.rotation.handoff_weekday == 0
    assert config.paging.rotation.handoff_time == time(9, 0)
    providers = config.paging.providers
    assert None not in (
        providers.pagerduty,
        providers.opsgenie,
        providers.webhook,
        providers.email,
        providers.chat,
    )
    trackers = config.playbooks.trackers
    assert None not in (
        trackers.github,
        trackers.launchpad,
        trackers.bugzilla,
        trackers.gitlab,
        trackers.jira,
    )
    assert config.playbooks.dir == Path("playbooks")
    assert config.playbooks.cache_ttl == timedelta(minutes=5)
    email = config.subscribers.email
    assert email is not None and email.per_minute == 600 and email.from_ == "status@example.org"
    assert email.password is not None
    assert email.password.get_secret_value() == env["SMTP_PASSWORD"]
    assert config.subscribers.confirm_within == timedelta(hours=48)
    (hook,) = config.subscribers.webhooks
    assert hook.components == ["gerrit"] and hook.secret is not None
    assert env["STATUS_HOOK_SECRET"] in config.secrets()


def test_example_shows_every_key_of_the_schema() -> None:
    """Every field of every model appears as a key in the example (uncommented)."""
    text = EXAMPLE.read_text()
    keys = set(
        re.findall(
            r"([A-Za-z_]+):(?:\s|$)",
            "\n".join(
                line.split(" #", 1)[0]
                for line in text.splitlines()
                if not line.lstrip().startswith("#")
            ),
        )
    )

    def fields(model: type[BaseModel]) -> set[str]:
        out: set[str] = set()
        for name, info in model.model_fields.items():
            out.add(info.alias or name)
            for arg in _model_args(info.annotation):
                out |= fields(arg)
        return out

    missing = fields(Config) - keys - {"access_token"}  # the commented alternative to password
    assert not missing


def _model_args(annotation: object) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in get_args(annotation):
        found += _model_args(arg)
    return found


def test_example_needs_its_environment() -> None:
    env = example_env()
    del env["MATRIX_PASSWORD"]
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE, env=env)
    assert [str(p) for p in info.value.problems] == [
        f"{EXAMPLE}: matrix.password: environment variable MATRIX_PASSWORD is not set"
    ]


def test_embedded_default() -> None:
    config = default_config()
    assert config.database.url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///statusdesk.db"
    assert config.console is True
    assert config.irc == []
    assert config.matrix is None
    assert config.users == []
    assert config.status_page.listen == "127.0.0.1:8080"
    assert (config.status_page.host, config.status_page.port) == ("127.0.0.1", 8080)
    assert config.status_page.title == "Status"
    assert config.secrets() == []
    assert load_config(None) == config


def test_almost_empty_file_gets_defaults() -> None:
    config = load(MINIMAL)
    assert config.irc == [] and config.matrix is None and config.users == []
    assert config.console is False
    assert config.incidents.capture is False
    assert config.incidents.remind_after == timedelta(minutes=30)
    assert config.paging.ack_timeout == timedelta(minutes=10)
    assert config.paging.auto_page_severity == 1
    assert config.playbooks.cache_ttl == timedelta(minutes=5)
    assert config.playbooks.dir is None


def test_irc_defaults() -> None:
    (network,) = load(IRC).irc
    assert (network.port, network.tls, network.tls_verify) == (6697, True, True)
    assert (network.rate.burst, network.rate.per_second) == (5, 1.0)
    assert network.topic_via == "topic"
    (plain,) = load(IRC.replace("channels", "tls: false, channels")).irc
    assert plain.port == 6667


def test_matrix_defaults_and_listen_ipv6() -> None:
    config = load(
        "matrix: {homeserver: 'https://m.example.org', user_id: '@bot:example.org',"
        " access_token: t, rooms: []}\n"
        "status_page: {listen: '[::1]:9000'}\n"
    )
    assert config.matrix is not None
    assert (config.matrix.device_name, config.matrix.trust) == ("statusdesk", "tofu")
    assert (config.status_page.host, config.status_page.port) == ("::1", 9000)


# --- error reporting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no_such_key: 1\n", "no_such_key: unknown key"),
        (
            "irc: [{name: a, host: h, channels: ['#a'], colour: red}]",
            "irc[0].colour: unknown key",
        ),
        (
            "irc: [{name: a, host: h, channels: ['#a'], sasl: {username: u, password: p, x: 1}}]",
            "irc[0].sasl.x: unknown key",
        ),
        ("database: {lease: 2s}", "database.lease: must be between 3s and 10m"),
        ("database: {lease: 1h}", "database.lease: must be between 3s and 10m"),
        ("database: {lease: soon}",
         'database.lease: invalid duration "soon" (use e.g. 30s, 10m, 1h, 2d)'),
        ("irc: [{name: a, host: h, port: 70000, channels: []}]", "irc[0].port: must be 1-65535"),
        ("irc: [{name: a, host: h, port: 0, channels: []}]", "irc[0].port: must be 1-65535"),
        ("irc: [{name: a, host: h, port: x, channels: []}]", "irc[0].port: must be an integer"),
        ("irc: [{name: a, host: h, nick: 5, channels: []}]", "irc[0].nick: must be a string"),
        ("irc: [{name: a, host: h, channels: '#a'}]", "irc[0].channels: must be a list"),
        (
            "irc: [{name: a, host: h, tls: yes_please, channels: []}]",
            "irc[0].tls: must be true or false",
        ),
        ("irc: [{name: a, host: h, channels: []}]\nconsole: 1", "console: must be true or false"),
        ("irc: {name: a}", "irc: must be a list"),
        ("status_page: []", "status_page: must be a mapping"),
        ("irc: [{name: a, channels: []}]", "irc[0].host: required"),
        (
            "irc: [{name: a, host: h, channels: [], sasl: {username: u}}]",
            "irc[0].sasl.password: required",
        ),
        (
            "irc: [{name: a, host: h, channels: [], topic_via: op}]",
            "irc[0].topic_via: must be topic or chanserv",
        ),
        (
            "irc: [{name: a, host: h, channels: ['#ok', 'nohash']}]",
            'irc[0].channels[1]: invalid channel name "nohash" '
            "(must start with # or &, without spaces, commas or control characters)",
        ),
        (
            "irc: [{name: a, host: h, channels: ['#a,#b']}]",
            'irc[0].channels[0]: invalid channel name "#a,#b" '
            "(must start with # or &, without spaces, commas or control characters)",
        ),
        (
            "irc: [{name: a, host: h, channels: [], rate: {burst: 0}}]",
            "irc[0].rate.burst: must be at least 1",
        ),
        (
            "irc: [{name: a, host: h, channels: [], rate: {per_second: 0}}]",
            "irc[0].rate.per_second: must be greater than 0",
        ),
        (
            "irc: [{name: a, host: 'irc example', channels: []}]",
            'irc[0].host: invalid host name "irc example"',
        ),
        (
            "users: [{name: alice, irc: {account: alice}}, {name: bob, irc: {nick: bob}},"
            " {name: alice, matrix: '@alice:example.org'}]",
            'users[2].name: duplicate user "alice" (also users[0])',
        ),
        ("users: [{name: alice, roles: [status]}]", "users[0]: no identity (set irc or matrix)"),
        (
            "users: [{name: alice, irc: {account: a, nick: a}}]",
            "users[0].irc: set exactly one of account, nick, mask",
        ),
        ("users: [{name: alice, irc: {}}]", "users[0].irc: set exactly one of account, nick, mask"),
        (
            "users: [{name: alice, roles: [status, sudo], irc: {account: a}}]",
            'users[0].roles[1]: unknown role "sudo" (one of status, incident, escalation, admin)',
        ),
        (
            "users: [{name: a, irc: {account: x}}, {name: b, irc: {account: X}}]",
            'users[1].irc.account: duplicate IRC account "X" (also users[0])',
        ),
        (
            "users: [{name: a, matrix: '@a:e.org'}, {name: b, matrix: '@a:e.org'}]",
            'users[1].matrix: duplicate Matrix id "@a:e.org" (also users[0])',
        ),
        (
            "users: [{name: a, matrix: 'a:e.org'}]",
            'users[0].matrix: invalid Matrix user id "a:e.org" (use @user:server)',
        ),
        (
            "users: [{name: a, matrix: '@a:e.org', email: nope}]",
            'users[0].email: invalid email address "nope"',
        ),
        (
            "users: [{name: a, irc: {mask: alice}}]",
            'users[0].irc.mask: invalid host mask "alice" '
            "(use nick!user@host, * and ? as wildcards)",
        ),
        (
            "irc: [{name: a, host: h, channels: []}, {name: a, host: h2, channels: []}]",
            'irc[1].name: duplicate network "a" (also irc[0])',
        ),
        (
            "irc: [{name: a, host: h, channels: ['#a', '#b', '#A']}]",
            'irc[0].channels[2]: duplicate channel "#A" (also irc[0].channels[0])',
        ),
        (
            "matrix: {homeserver: 'https://m.org', user_id: '@b:m.org', rooms: [],"
            " password: p, access_token: t}",
            "matrix: set exactly one of password, access_token",
        ),
        (
            "matrix: {homeserver: 'https://m.org', user_id: '@b:m.org', rooms: []}",
            "matrix: set exactly one of password, access_token",
        ),
        (
            "matrix: {homeserver: 'matrix.org', user_id: '@b:m.org', rooms: [], password: p}",
            "matrix.homeserver: must be an http:// or https:// URL",
        ),
        (
            "matrix: {homeserver: 'https://m.org', user_id: '@b:m.org', rooms: ['#x'],"
            " password: p}",
            'matrix.rooms[0]: invalid Matrix room "#x" (use #alias:server or !id:server)',
        ),
        (
            "matrix: {homeserver: 'https://m.org', user_id: '@b:m.org', rooms: [],"
            " password: p, trust: always}",
            "matrix.trust: must be tofu or verified",
        ),
        (
            "database: {url: 'mysql://u:hunter2@h/db'}",
            'database.url: unsupported database URL scheme "mysql" (supported: '
            "sqlite+aiosqlite:///FILE, postgresql+asyncpg://USER:PASSWORD@HOST/DB)",
        ),
        (
            "database: {url: statusdesk.db}",
            "database.url: must be a database URL (supported: "
            "sqlite+aiosqlite:///FILE, postgresql+asyncpg://USER:PASSWORD@HOST/DB)",
        ),
        (
            "status_page: {listen: '8080'}",
            "status_page.listen: must be HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)",
        ),
        ("status_page: {listen: 'localhost:99999'}", "status_page.listen: port must be 1-65535"),
        (
            "status_page: {public_url: 'status.example.org'}",
            "status_page.public_url: must be an http:// or https:// URL",
        ),
        (
            "incidents: {capture: true}",
            "incidents.capture: must be false or a list of channels",
        ),
        (
            "incidents: {capture: '#ops'}",
            "incidents.capture: must be false or a list of channels",
        ),
        (
            IRC + "incidents: {capture: ['#elsewhere']}",
            'incidents.capture[0]: "#elsewhere" is not a channel in irc[].channels or matrix.rooms',
        ),
        (
            "incidents: {quiet_hours: {from: '22:00', to: '7:60'}}",
            'incidents.quiet_hours.to: invalid time "7:60" (use HH:MM, e.g. "22:00")',
        ),
        (
            "incidents: {quiet_hours: {from: 22:00, to: '07:00'}}",
            'incidents.quiet_hours.from: must be a quoted time, e.g. "22:00" '
            "(unquoted, YAML reads it as a number)",
        ),
        (
            "incidents: {quiet_hours: {from: '22:00', to: '07:00', timezone: Mars/Olympus}}",
            'incidents.quiet_hours.timezone: unknown time zone "Mars/Olympus" '
            "(use an IANA name like UTC or Europe/Berlin)",
        ),
        (
            "incidents: {quiet_hours: {from: '22:00', to: '07:00', below_severity: 5}}",
            "incidents.quiet_hours.below_severity: must be 1-4",
        ),
        (
            "incidents: {quiet_hours: {from: '22:00', to: '22:00'}}",
            "incidents.quiet_hours: from and to must differ",
        ),
        (
            "maintenance: {timezone: Mars/Olympus}",
            'maintenance.timezone: unknown time zone "Mars/Olympus" '
            "(use an IANA name like UTC or Europe/Berlin)",
        ),
        (
            "maintenance: {announce_before: soon}",
            'maintenance.announce_before: invalid duration "soon" (use e.g. 30s, 10m, 1h, 2d)',
        ),
        (
            "maintenance: {announce_before: 0s}",
            "maintenance.announce_before: must be longer than 0s",
        ),
        (
            "retention: {audit: forever}",
            'retention.audit: invalid duration "forever" (use e.g. 30s, 10m, 1h, 2d)',
        ),
        ("retention: {outbox_delivered: 0d}", "retention.outbox_delivered: must be longer than 0s"),
        ("retention: {outbox_days: 30}", "retention.outbox_days: unknown key"),
        (
            "paging: {ack_timeout: 10 minutes}",
            'paging.ack_timeout: invalid duration "10 minutes" (use e.g. 30s, 10m, 1h, 2d)',
        ),
        (
            "paging: {ack_timeout: 600}",
            "paging.ack_timeout: invalid duration 600 (use e.g. 30s, 10m, 1h, 2d)",
        ),
        ("paging: {ack_timeout: 0m}", "paging.ack_timeout: must be longer than 0s"),
        ("incidents: {remind_after: 0s}", "incidents.remind_after: must be longer than 0s"),
        ("paging: {auto_page_severity: 5}", "paging.auto_page_severity: must be 1-4"),
        (
            "paging: {rotation: {handoff: 'mon 9am'}}",
            'paging.rotation.handoff: invalid handoff "mon 9am" '
            '(use WEEKDAY HH:MM, e.g. "monday 09:00")',
        ),
        (
            "paging: {rotation: {handoff: 'monday 09:00', timezone: Nowhere}}",
            'paging.rotation.timezone: unknown time zone "Nowhere" '
            "(use an IANA name like UTC or Europe/Berlin)",
        ),
        (
            "paging: {escalation_managers: [{name: bob, contacts: {}}]}",
            "paging.escalation_managers[0].contacts: set at least one contact "
            "(pagerduty, email, irc, matrix, opsgenie, webhook)",
        ),
        (
            "paging: {escalation_managers: [{name: bob}]}",
            "paging.escalation_managers[0].contacts: required",
        ),
        (
            "paging: {providers: {email: {host: h, from: a@b.org}},"
            " escalation_managers: [{name: bob, contacts: {email: bob}}]}",
            'paging.escalation_managers[0].contacts.email: invalid email address "bob"',
        ),
        (
            "paging: {providers: {chat: {}}, escalation_managers:"
            " [{name: bob, contacts: {irc: bob}}, {name: Bob, contacts: {irc: bob2}}]}",
            'paging.escalation_managers[1].name: duplicate escalation manager "Bob" '
            "(also paging.escalation_managers[0])",
        ),
        (
            "paging: {escalation_managers: [{name: bob, contacts: {pagerduty: key}}]}",
            "paging.escalation_managers[0].contacts.pagerduty: no pagerduty provider configured "
            "(add paging.providers.pagerduty: {...})",
        ),
        (
            "paging: {providers: {opsgenie: {}}}",
            "paging.providers.opsgenie.api_key: required",
        ),
        (
            "paging: {providers: {chat: {mode: dm}}}",
            "paging.providers.chat.mode: unknown key",
        ),
        (
            "playbooks: {dir: ''}",
            "playbooks.dir: must not be empty (use null for none)",
        ),
        (
            "postmortem: {template: /nonexistent/postmortem.md.j2}",
            "postmortem.template: no such file: /nonexistent/postmortem.md.j2",
        ),
        (
            "postmortem: {layout: x}",
            "postmortem.layout: unknown key",
        ),
        (
            "playbooks: {trackers: {jira: {url: example.atlassian.net}}}",
            "playbooks.trackers.jira.url: must be an http:// or https:// URL",
        ),
        (
            "postmortem: {file_actions_in: 'github:acme'}",
            'postmortem.file_actions_in: "github:acme" is not TRACKER:PROJECT (github:OWNER/REPO, '
            "gitlab:GROUP/PROJECT, jira:KEY, redmine:IDENTIFIER, launchpad:PROJECT)",
        ),
        (
            "postmortem: {file_actions_in: 'redmine:ops'}",
            "postmortem.file_actions_in: no redmine tracker configured "
            "(add playbooks.trackers.redmine: {...})",
        ),
        (
            "postmortem: {file_actions_in: 'github:acme/infra'}\n"
            "playbooks: {trackers: {github: {api_url: 'https://api.github.com'}}}",
            "postmortem.file_actions_in: filing writes: set playbooks.trackers.github.token",
        ),
        (
            "postmortem: {file_actions_in: 'launchpad:opendev'}\n"
            "playbooks: {trackers: {launchpad: {oauth_token: t}}}",
            "postmortem.file_actions_in: filing writes: set playbooks.trackers.launchpad."
            "oauth_token and oauth_token_secret",
        ),
        (
            "postmortem: {file_every_action: true}",
            "postmortem.file_every_action: needs postmortem.file_actions_in (where to file them)",
        ),
        (
            "postmortem: {file_every_action: 'yes'}",
            "postmortem.file_every_action: must be true or false",
        ),
        (
            "playbooks: {trackers: {redmine: {api_key: k}}}",
            "playbooks.trackers.redmine.url: required",
        ),
        (
            "subscribers: {email: {host: h, from: nope}}",
            'subscribers.email.from: invalid email address "nope"',
        ),
        (
            "subscribers: {email: {host: h, from: a@b.org, per_minute: 0}}",
            "subscribers.email.per_minute: must be at least 1",
        ),
        (
            "subscribers: {confirm_within: 0s}",
            "subscribers.confirm_within: must be longer than 0s",
        ),
        (
            "subscribers: {webhooks: [{url: hooks.example.org}]}",
            "subscribers.webhooks[0].url: must be an http:// or https:// URL",
        ),
        (
            "subscribers: {webhooks: [{url: 'https://h.example.org', components: [Gerrit]}]}",
            "subscribers.webhooks[0].components[0]: not a component id 'Gerrit' "
            "(lower-case letters, digits and dashes)",
        ),
        (
            "components: [{name: Gerrit}]\n"
            "subscribers: {webhooks: [{url: 'https://h.example.org', components: [gerrit, zuul]}]}",
            'subscribers.webhooks[0].components[1]: unknown component "zuul" (not in components:)',
        ),
        (
            "subscribers: {email: {host: h, from: a@b.org, pasword: x}}",
            "subscribers.email.pasword: unknown key",
        ),
        (
            "playbooks: {cache_ttl: 5 min}",
            'playbooks.cache_ttl: invalid duration "5 min" (use e.g. 30s, 10m, 1h, 2d)',
        ),
    ],
)
def test_one_mistake_one_line(text: str, expected: str) -> None:
    assert one_problem(text) == expected


def test_whole_file_problems() -> None:
    # Named after the file (`source`), never a placeholder.
    assert one_problem("") == "config.yaml: empty configuration (expected a mapping)"
    assert one_problem("# only a comment\n") == (
        "config.yaml: empty configuration (expected a mapping)")
    assert one_problem("- a\n- b\n") == (
        "config.yaml: must be a mapping of sections (database, irc, users, ...)"
    )


def test_yaml_syntax_error_has_line_and_column() -> None:
    line = one_problem("database:\n  url: x\nirc: [1, 2\nusers: []\n")
    assert re.fullmatch(r"config\.yaml:4:\d+: .+", line), line
    assert one_problem("a: 'unterminated\n").startswith("config.yaml:2:1: ")


def test_yaml_unsafe_tags_are_refused() -> None:
    line = one_problem("a: !!python/object/apply:os.system ['true']\n")
    assert line.startswith("config.yaml:1:4: could not determine a constructor")


def test_all_problems_in_one_error() -> None:
    text = """\
no_such_key: 1
irc:
  - name: oftc
    host: irc.oftc.net
    port: 0
    colour: red
    channels: ["#a"]
users:
  - {name: alice, irc: {account: alice}}
  - {name: bob, roles: [sudo], irc: {nick: bob}}
  - {name: alice, matrix: "@alice:example.org"}
paging:
  ack_timeout: soon
"""
    assert problems(text) == [
        "no_such_key: unknown key",
        "irc[0].port: must be 1-65535",
        "irc[0].colour: unknown key",
        'users[1].roles[0]: unknown role "sudo" (one of status, incident, escalation, admin)',
        'users[2].name: duplicate user "alice" (also users[0])',
        'paging.ack_timeout: invalid duration "soon" (use e.g. 30s, 10m, 1h, 2d)',
    ]


def test_problem_str() -> None:
    assert str(Problem("irc[0].port", "must be 1-65535")) == "irc[0].port: must be 1-65535"
    error = ConfigError([Problem("a", "x"), Problem("b", "y")])
    assert str(error) == "a: x\nb: y"
    assert error.problems == [Problem("a", "x"), Problem("b", "y")]


# --- ${NAME} interpolation -----------------------------------------------------------------------

MATRIX = (
    "matrix:\n"
    "  homeserver: https://matrix.example.org\n"
    "  user_id: '@bot:example.org'\n"
    "  password: '${MATRIX_PASSWORD}'\n"
    "  rooms: []\n"
)


def test_env_interpolation() -> None:
    config = load(MATRIX, {"MATRIX_PASSWORD": "s3cret 'quoted' : {yaml}"})
    assert config.matrix is not None and config.matrix.password is not None
    assert config.matrix.password.get_secret_value() == "s3cret 'quoted' : {yaml}"


def test_env_interpolation_inside_strings_and_lists() -> None:
    config = load(
        "database: {url: 'postgresql+asyncpg://bot:${DB_PW}@${DB_HOST}/statusdesk'}\n"
        "irc: [{name: a, host: h, channels: ['#${CHAN}']}]\n",
        {"DB_PW": "pw", "DB_HOST": "db.example.org", "CHAN": "ops"},
    )
    assert config.database.url == "postgresql+asyncpg://bot:pw@db.example.org/statusdesk"
    assert config.irc[0].channels == ["#ops"]


def test_env_uses_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATRIX_PASSWORD", "from-environ")
    config = load_config_text(MATRIX)
    assert config.matrix is not None and config.matrix.password is not None
    assert config.matrix.password.get_secret_value() == "from-environ"


def test_missing_env_var() -> None:
    assert one_problem(MATRIX) == (
        "matrix.password: environment variable MATRIX_PASSWORD is not set"
    )


def test_missing_env_vars_in_list_item_and_with_other_problems() -> None:
    lines = problems(
        "irc: [{name: a, host: '${IRC_HOST}', channels: ['${CHAN}'], bogus: 1}]\n",
        {},
    )
    assert lines == [
        "irc[0].host: environment variable IRC_HOST is not set",
        "irc[0].channels[0]: environment variable CHAN is not set",
        "irc[0].bogus: unknown key",
    ]


def test_dollar_escape() -> None:
    config = load(
        "status_page: {title: 'Costs $${HOME} and $$5 ${WHO}'}",
        {"HOME": "/root", "WHO": "us"},
    )
    assert config.status_page.title == "Costs ${HOME} and $$5 us"


def test_malformed_reference() -> None:
    assert one_problem("status_page: {title: 'x ${not closed'}") == (
        "status_page.title: invalid ${...} reference (write ${NAME}, ${file:PATH}, "
        "${cred:NAME}, or $${ for a literal ${)"
    )


def test_logging_section() -> None:
    assert (load("{}").logging.level, load("{}").logging.format) == ("info", "text")
    config = load("logging: {level: WARNING, format: json}")
    assert (config.logging.level, config.logging.format) == ("warning", "json")
    assert one_problem("logging: {format: xml}") == "logging.format: must be text or json"
    assert one_problem("logging: {level: loud}").startswith("logging.level: must be debug, ")


# --- ${file:PATH} and ${cred:NAME} (DESIGN §1.9) ----------------------------------------------

MATRIX_WITH = ("matrix: {{homeserver: 'https://m.example.org', user_id: '@bot:example.org', "
               "password: '{}', rooms: ['#a:example.org']}}\n")


def test_file_and_credential_references_read_the_file(tmp_path: Path) -> None:
    (tmp_path / "matrix-password").write_text("from a file\n")  # the trailing newline goes
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "api-token").write_text("from systemd\r\n")
    (credentials / "host").write_text("irc.example.org")  # none to drop
    config = load(
        MATRIX_WITH.format(f"${{file:{tmp_path}/matrix-password}}")
        + "status_page: {api_token: '${cred:api-token}'}\n"
        + "irc: [{name: a, host: 'x.${cred:host}', channels: ['#a']}]\n",
        {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.matrix is not None
    assert config.matrix.password is not None
    assert config.matrix.password.get_secret_value() == "from a file"
    assert config.status_page.api_token is not None
    assert config.status_page.api_token.get_secret_value() == "from systemd"
    assert config.irc[0].host == "x.irc.example.org"
    # Redacted from logs like any secret written in the file itself.
    assert {"from a file", "from systemd"} <= set(config.secrets())


def test_file_and_credential_problems_name_the_key_never_the_content(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("hunter2-in-a-file")
    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    text = ("status_page: {api_token: '${cred:api-token}', title: '${file:DIR/missing}'}\n"
            "subscribers: {email: {host: h, from: a@b.org, password: '${file:DIR/binary}'}}\n"
            ).replace("DIR", str(tmp_path))
    assert problems(text, {}) == [
        "status_page.api_token: ${cred:api-token}: $CREDENTIALS_DIRECTORY is not set "
        "(systemd sets it for a unit with LoadCredential=)",
        f"status_page.title: ${{file:{tmp_path}/missing}}: no such file",
        f"subscribers.email.password: ${{file:{tmp_path}/binary}}: not valid UTF-8 (byte 0)",
    ]
    assert problems(text.replace("/missing", "/secret"), {
        "CREDENTIALS_DIRECTORY": str(credentials)})[:1] == [
        f"status_page.api_token: ${{cred:api-token}}: no such file in $CREDENTIALS_DIRECTORY "
        f"({credentials})"]
    assert one_problem("status_page: {api_token: '${cred:../secret}'}\n", {
        "CREDENTIALS_DIRECTORY": str(credentials)}) == (
        "status_page.api_token: ${cred:../secret}: not a credential name "
        "(a file name in $CREDENTIALS_DIRECTORY)")
    # A value read from a file that the schema refuses: the message does not quote it.
    lines = problems(f"status_page: {{listen: '${{file:{secret}}}'}}\n", {})
    assert len(lines) == 1 and "hunter2" not in lines[0], lines


# --- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "10 minutes", "1.5h", "-5m", "30m1h", "1w", "m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_durations_in_config() -> None:
    config = load(
        "incidents: {remind_after: 1h30m}\npaging: {ack_timeout: 30s}\nplaybooks: {cache_ttl: 0s}\n"
    )
    assert config.incidents.remind_after == timedelta(hours=1, minutes=30)
    assert config.paging.ack_timeout == timedelta(seconds=30)
    assert config.playbooks.cache_ttl == timedelta(0)


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_listed_and_never_in_repr() -> None:
    env = example_env()
    text = EXAMPLE.read_text().replace(
        "sqlite+aiosqlite:///statusdesk.db", "postgresql+asyncpg://bot:db%2Fpw@db/statusdesk"
    )
    text = re.sub(r"(?m)^(    password: )null", r"\1server-pass", text, count=1)
    config = load(text, env)
    secrets = config.secrets()
    for value in [
        env["IRC_PASSWORD"],
        env["MATRIX_PASSWORD"],
        env["STATUSDESK_API_TOKEN"],
        env["OPSGENIE_KEY"],
        env["WEBHOOK_SECRET"],
        env["GITHUB_TOKEN"],
        "<routing key>",
        "server-pass",
        "db/pw",
    ]:
        assert value in secrets
    assert len(secrets) == len(set(secrets))
    shown = repr(config) + str(config)
    for value in secrets:
        assert value not in shown
    assert "postgresql+asyncpg://bot:***@db/statusdesk" in shown


def test_secret_values_never_in_messages() -> None:
    lines = problems(
        "database: {url: 'mysql://user:hunter2@db/x'}\n"
        "matrix: {homeserver: 'https://token:hunter3@', user_id: '@b:m.org', password: 42,"
        " rooms: []}\n"
        "status_page: {api_token: [hunter4]}\n"
        "paging: {providers: {webhook: {url: 'https://h.example.org/hunter5 x'}}}\n"
    )
    text = "\n".join(lines)
    assert len(lines) == 5, lines
    for secret in ("hunter2", "hunter3", "hunter4", "hunter5", "42"):
        assert secret not in text


# --- finding and reading the file ----------------------------------------------------------------


def test_find_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    etc = tmp_path / "etc.yaml"
    no_env = {"STATUSDESK_INTERNAL_ETC_CONFIG": str(etc)}
    assert find_config_file(None, no_env) is None
    # -c and $STATUSDESK_CONFIG are returned even if missing (loading reports it).
    assert find_config_file("other.yaml", no_env) == Path("other.yaml")
    assert find_config_file(None, {**no_env, "STATUSDESK_CONFIG": "env.yaml"}) == Path("env.yaml")
    etc.write_text(MINIMAL)
    assert find_config_file(None, no_env) == etc
    (tmp_path / "config.yaml").write_text(MINIMAL)
    found = find_config_file(None, no_env)
    assert found is not None and found.resolve() == (tmp_path / "config.yaml").resolve()
    assert find_config_file(None, {**no_env, "STATUSDESK_CONFIG": "env.yaml"}) == Path("env.yaml")
    assert find_config_file(tmp_path / "x.yaml", {"STATUSDESK_CONFIG": "env.yaml"}) == (
        tmp_path / "x.yaml")  # -c wins
    assert load_config(found).database.url == "sqlite+aiosqlite:///test.db"


def test_problems_of_a_file_name_it(tmp_path: Path) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text("console: maybe\nirc: [1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems  # a syntax error's path names the file already
    assert str(problem).startswith(f"{path}:3:1: ")
    path.write_text("console: maybe\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: console: must be true or false"
    assert info.value.problems[0].path == "console"


@pytest.mark.parametrize(("text", "expected"), [
    ("users: []\nconsole: true\nusers: []\n", 'config.yaml:3:1: duplicate key "users" '
     "(first at line 1)"),
    ("status_page:\n  title: A\n  title: B\n", 'config.yaml:3:3: duplicate key "title" '
     "(first at line 2)"),
    ("irc: [{name: a, name: b}]\n", 'config.yaml:1:17: duplicate key "name" (first at line 1)'),
])
def test_duplicate_keys_are_errors(text: str, expected: str) -> None:
    assert one_problem(text) == expected


def test_a_merge_may_override_its_base() -> None:
    # `<<:` merges are not duplicates: overriding a merged key is what they are for.
    config = load("status_page: {<<: {title: Base, listen: '127.0.0.1:9000'}, title: Ours}\n")
    assert config.status_page.title == "Ours"
    assert config.status_page.listen == "127.0.0.1:9000"


def test_load_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert [str(p) for p in info.value.problems] == [f"{missing}: file not found"]


def test_load_file_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("database:\n  url: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert re.fullmatch(re.escape(str(path)) + r":\d+:\d+", problem.path), problem.path


def test_maintenance_defaults_and_null_heads_up() -> None:
    config = load_config_text("{}")
    assert config.maintenance.timezone == "UTC"
    assert config.maintenance.announce_before == timedelta(hours=1)
    config = load_config_text(
        "maintenance: {timezone: Europe/Berlin, announce_before: null}")
    assert config.maintenance.announce_before is None
    assert str(config.maintenance.zone) == "Europe/Berlin"
# --- components (DESIGN §1.6) -------------------------------------------------------------


def test_components_have_ids_from_their_names() -> None:
    config = load("components:\n"
                  "  - {name: Gerrit, group: Code review, description: review.example.org}\n"
                  "  - {name: Code review}\n")
    assert [(c.id, c.name, c.group, c.description) for c in config.components] == [
        ("gerrit", "Gerrit", "Code review", "review.example.org"),
        ("code-review", "Code review", None, None)]
    assert load("database: {url: 'sqlite+aiosqlite:///x.db'}\n").components == []


@pytest.mark.parametrize(("text", "expected"), [
    ("components:\n  - {name: Gerrit}\n  - {name: gerrit}\n",
     'components[1].name: duplicate component "gerrit" (also components[0])'),
    ("components:\n  - {name: Code review}\n  - {name: code-review}\n",
     'components[1].name: duplicate component "code-review" (also components[0])'),
    ("components:\n  - {name: '!!!'}\n",
     'components[0].name: "!!!" has no letter or digit to make an id from'),
    ("components:\n  - {name: ''}\n",
     "components[0].name: must be one line of plain text, without leading or trailing "
     "spaces"),
    ("components:\n  - {name: ' Gerrit'}\n",
     "components[0].name: must be one line of plain text, without leading or trailing "
     "spaces"),
    ("components:\n  - {name: " + "x" * 101 + "}\n",
     "components[0].name: must be at most 100 characters"),
    ("components:\n  - {group: CI}\n", "components[0].name: required"),
    ("components:\n  - {name: Zuul, colour: red}\n", "components[0].colour: unknown key"),
    ("components:\n  - {name: Zuul, group: \"a\\nb\"}\n",
     "components[0].group: must be one line of plain text, without leading or trailing "
     "spaces"),
    ("components: {name: Zuul}\n", "components: must be a list"),
    ("components:\n  - {name: Zuul, group: CI}\n  - {name: Group CI}\n",
     'components[1].name: id "group-ci" is the id of group "CI" on the page; rename one of '
     'them'),
])
def test_component_mistakes(text: str, expected: str) -> None:
    assert one_problem(text) == expected


def test_filing_action_items() -> None:
    config = load("postmortem: {file_actions_in: 'redmine:ops', file_every_action: true}\n"
                  "playbooks: {trackers: {redmine: {url: 'https://progress.example.org', "
                  "api_key: k}}}\n")
    target = config.postmortem.filing_target
    assert target is not None and (target.tracker, target.project) == ("redmine", "ops")
    assert config.postmortem.file_every_action is True
    assert load("postmortem: {}").postmortem.filing_target is None
    assert "k" in config.secrets()


# --- after the incident (DESIGN §1.7) ------------------------------------------------------------


def test_incident_roles_default_and_lead_em_always_exist() -> None:
    assert load(MINIMAL).incidents.roles == ["lead", "em", "comms", "scribe"]
    assert load(MINIMAL + "incidents: {roles: [comms]}").incidents.roles == ["lead", "em",
                                                                             "comms"]
    assert load(MINIMAL + "incidents: {roles: [em, ops_2]}").incidents.roles == [
        "lead", "em", "ops_2"]
    assert load(MINIMAL + "incidents: {roles: []}").incidents.roles == ["lead", "em"]
    assert load(MINIMAL).postmortem.file_actions_in is None
    assert load(MINIMAL + "postmortem: {file_actions_in: 'github:acme/infra'}\n"
                "playbooks: {trackers: {github: {token: t}}}"
                ).postmortem.file_actions_in == "github:acme/infra"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("incidents: {roles: [Comms]}",
         'incidents.roles[0]: "Comms" is not a role name: one lowercase word (a-z, 0-9, _)'),
        ("incidents: {roles: [lead, 'comms lead']}",
         'incidents.roles[1]: "comms lead" is not a role name: one lowercase word (a-z, 0-9, _)'),
        ("incidents: {roles: [abcdefghijklmnopq]}",
         'incidents.roles[0]: "abcdefghijklmnopq" is longer than 16 characters'),
        ("incidents: {roles: [comms, scribe, comms]}",
         'incidents.roles: "comms" is listed twice'),
        ("incidents: {roles: comms}", "incidents.roles: must be a list"),
        ("postmortem: {file_actions_in: ''}", "postmortem.file_actions_in: must not be empty"),
        ("postmortem: {tracker: x}", "postmortem.tracker: unknown key"),
    ],
)
def test_follow_up_config_problems(text: str, expected: str) -> None:
    assert one_problem(MINIMAL + text) == expected
