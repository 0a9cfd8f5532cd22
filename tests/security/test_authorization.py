"""Who may do what: every chat command × every role × every kind of identity, against the
real desk of a running app (its whitelist built from YAML, paging and playbooks wired) on a
real database.

Each case feeds the desk a `Message` carrying the `Identity` exactly as a transport builds
it: IRC gives the nick, the host mask and the services account only when the server vouched
for it (account-tag, extended-join, WHOX); Matrix gives the sender's full user id, which the
homeserver verified; the console marks the local operator. Expected outcomes come from
DESIGN §1.4 alone (`ROWS`): a refused command answers "you are not authorized to use NAME",
changes nothing and leaves exactly one `refused` audit row; an allowed privileged command
changes what it should and leaves one `accepted` row; a question leaves none.

That the transports really verify what they put in an `Identity` (rather than trusting
text) is proven on real servers in `test_identity_on_networks.py`.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.api.command_route import token_message
from bot.core.extension import Reply
from bot.core.ports import Identity, Message
from commands.model import Role
from storage.api_tokens import TokenOwner
from storage.models import (
    AuditRecord,
    ComponentChange,
    Incident,
    Kudos,
    OnCallOverride,
    PageRecord,
    PlaybookLink,
    StatusPost,
    TimelineEntry,
)
from tests import figures
from tests.harness import OPERATOR, Running, run_app
from tests.secrets import PAGERDUTY_ROUTING_KEY
from tests.servers.fake_pagerduty import FakePagerDuty

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAGED = "paged"
"""Not a role: `#ack` is for the person being paged (and admins)."""

# --- the whitelist -----------------------------------------------------------------------

ROLE_SETS: dict[str, tuple[Role, ...]] = {
    "none": (),
    "status": (Role.STATUS,),
    "incident": (Role.INCIDENT,),
    "escalation": (Role.ESCALATION,),
    "admin": (Role.ADMIN,),
    "status+incident": (Role.STATUS, Role.INCIDENT),
}
KINDS = ("account", "nick", "mask", "matrix")


def _key(role_set: str) -> str:
    return role_set.replace("+", "_")


def _users_yaml() -> str:
    """One whitelisted user per (identity kind, role set), plus `pat`, the on-call manager."""
    lines = ["users:"]
    for role_set, roles in ROLE_SETS.items():
        key = _key(role_set)
        role_list = "[" + ", ".join(str(r) for r in roles) + "]"
        lines += [
            f"  - {{name: acct-{key}, roles: {role_list}, irc: {{account: acct_{key}}}}}",
            f"  - {{name: nick-{key}, roles: {role_list}, irc: {{nick: n_{key}}}}}",
            f"  - {{name: mask-{key}, roles: {role_list},"
            f" irc: {{mask: 'm_{key}!*@*.ops.example.org'}}}}",
            f"  - {{name: mx-{key}, roles: {role_list}, matrix: '@x_{key}:example.org'}}",
        ]
    lines.append("  - {name: pat, roles: [], irc: {account: pat}, matrix: '@pat:example.org'}")
    return "\n".join(lines) + "\n"


def _irc(nick: str, account: str | None = None, host: str = "client.example.net") -> Identity:
    """As the IRC transport builds it: `account` only if the server said so."""
    return Identity(transport="irc", nick=nick, network="oftc", account=account,
                    host_mask=f"{nick}!~{nick[:8]}@{host}")


def _matrix(user_id: str) -> Identity:
    """As the Matrix transport builds it: the sender's user id, verified by the homeserver."""
    return Identity(transport="matrix", nick=user_id, network="example.org",
                    matrix_user=user_id)


@dataclass(frozen=True)
class Who:
    """A sender: how they identify and what DESIGN says they hold."""

    id: str
    identity: Identity
    roles: frozenset[str]
    """Roles the whitelist grants this identity (empty: it proves nobody, or nobody with a
    role). `admin` implies every role; `paged` is the person paged for the incident."""


def _whitelisted(kind: str, role_set: str) -> Who:
    key = _key(role_set)
    identity = {
        # The account proves it, whatever the nick.
        "account": _irc(f"away_{key}", account=f"acct_{key}"),
        "nick": _irc(f"n_{key}"),
        "mask": _irc(f"m_{key}", host="box1.ops.example.org"),
        "matrix": _matrix(f"@x_{key}:example.org"),
    }[kind]
    return Who(f"{kind}-{role_set}", identity, frozenset(ROLE_SETS[role_set]))


def _api(user: str, label: str = "laptop") -> Identity:
    """As `POST /api/v1/commands` builds it from a valid personal token of `user`."""
    return token_message(TokenOwner(1, user, label), "").identity


NOBODY: frozenset[str] = frozenset()

SENDERS: list[Who] = [
    *(_whitelisted(kind, role_set) for kind in KINDS for role_set in ROLE_SETS),
    Who("console-operator", OPERATOR, frozenset({Role.ADMIN, PAGED})),
    Who("paged-account", _irc("pat_phone", account="pat"), frozenset({PAGED})),
    Who("paged-matrix", _matrix("@pat:example.org"), frozenset({PAGED})),
    Who("unknown-irc", _irc("mallory"), NOBODY),
    Who("unknown-irc-account", _irc("mallory", account="mallory"), NOBODY),
    # The admin's account name as a nick, not logged in: a nick proves nothing.
    Who("spoofed-nick-no-account", _irc("acct_admin"), NOBODY),
    Who("spoofed-nick-other-account", _irc("acct_admin", account="mallory"), NOBODY),
    Who("spoofed-paged-nick", _irc("pat"), NOBODY),
    # The right nick from a host outside the mask.
    Who("mask-from-other-host", _irc("m_admin", host="ops.example.org.evil.test"), NOBODY),
    # Same localpart as a whitelisted user, another homeserver.
    Who("matrix-other-homeserver", _matrix("@x_admin:evil.test"), NOBODY),
    Who("matrix-other-homeserver-paged", _matrix("@pat:evil.test"), NOBODY),
    Who("matrix-unknown", _matrix("@mallory:example.org"), NOBODY),
    # A Matrix user named like an IRC account, an IRC nick named like a Matrix localpart.
    Who("matrix-named-like-irc-account", _matrix("@acct_admin:example.org"), NOBODY),
    Who("irc-nick-like-matrix-localpart", _irc("x_admin"), NOBODY),
    # A personal API token speaks for its user: their whitelist entry gives the roles.
    *(Who(f"api-token-{role_set}", _api(f"acct-{_key(role_set)}"),
          frozenset(ROLE_SETS[role_set])) for role_set in ROLE_SETS),
    Who("paged-api-token", _api("pat"), frozenset({PAGED})),
    # A token whose user left `users:` proves nobody; an IRC nick named like a user too.
    Who("api-token-user-removed", _api("mallory"), NOBODY),
    Who("irc-nick-like-user-name", _irc("acct-admin"), NOBODY),
]

# --- the commands, from DESIGN §1.4 ---------------------------------------------------------

MUTATES = "mutates"
"""Allowed: changes stored state (rows attributed to the sender)."""
READS = "reads"
"""Allowed: answers privately, changes nothing (the full incident log)."""
ASKS = "asks"
"""Anyone: answers, changes nothing, not audited."""
KUDOS = "kudos"
"""Anyone: adds to the Success / Thanks list, not audited."""


@dataclass(frozen=True)
class Row:
    id: str
    text: str
    """`{n}` is a fresh number, `{incident}` the id of the incident set up for the case."""
    name: str
    """The command's name in the refusal and the audit log."""
    who: str | None
    """The role DESIGN requires (`paged` for #ack); None: anyone."""
    effect: str
    setup: tuple[str, ...] = ()
    """What the console operator says first: `{incident}` is the last incident opened."""


OPEN = "#incident open sev3 Authorization case {n}"
ROWS: list[Row] = [
    Row("status-alert", "#status alert Authz alert {n}", "#status alert", Role.STATUS, MUTATES),
    Row("status-notice", "#status notice Authz notice {n}", "#status notice", Role.STATUS,
        MUTATES),
    Row("status-log", "#status log Authz log {n}", "#status log", Role.STATUS, MUTATES),
    Row("status-ok", "#status ok All clear {n}", "#status ok", Role.STATUS, MUTATES,
        setup=("#status alert Something to clear {n}",)),
    Row("status-help", "#status help", "#status", None, ASKS),
    Row("status-bare", "#status", "#status", None, ASKS),
    Row("success", "#success Deployed the fix {n}", "#success", None, KUDOS),
    Row("thanks", "#thanks Thanks to the mirror admins {n}", "#thanks", None, KUDOS),
    Row("incident-open", "#incident open sev3 Opened by a user {n}", "#incident open",
        Role.INCIDENT, MUTATES),
    Row("incident-state", "#incident {incident} identified Found it {n}", "#incident ID STATE",
        Role.INCIDENT, MUTATES, setup=(OPEN,)),
    Row("incident-sev", "#incident {incident} sev 4", "#incident ID sev", Role.INCIDENT,
        MUTATES, setup=(OPEN,)),
    Row("incident-lead", "#incident {incident} lead lead{n}", "#incident ID lead",
        Role.INCIDENT, MUTATES, setup=(OPEN,)),
    Row("incident-em", "#incident {incident} em pat", "#incident ID em", Role.INCIDENT,
        MUTATES, setup=(OPEN,)),
    Row("incident-list", "#incident list", "#incident list", None, ASKS),
    Row("incident-show", "#incident #{incident}", "#incident ID", None, ASKS, setup=(OPEN,)),
    Row("incident-help", "#incident", "#incident", None, ASKS),
    Row("incident-log", "#incident {incident} log", "#incident ID log", Role.ESCALATION, READS,
        setup=(OPEN, "#log {incident} a private note")),
    Row("log-note", "#log {incident} Restarted the scheduler {n}", "#log", Role.INCIDENT,
        MUTATES, setup=(OPEN,)),
    Row("page", "#page {incident} Please look {n}", "#page", Role.INCIDENT, MUTATES,
        setup=(OPEN,)),
    Row("ack", "#ack {incident}", "#ack", PAGED, MUTATES, setup=(OPEN, "#page {incident}")),
    Row("oncall", "#oncall", "#oncall", None, ASKS),
    Row("oncall-override", "#oncall override pat until 2099-01-01 12:00", "#oncall override",
        Role.ESCALATION, MUTATES),
    Row("playbook-show", "#playbook authz", "#playbook", None, ASKS),
    Row("playbook-index", "#playbook", "#playbook", None, ASKS),
    Row("playbook-link", "#playbook link authz https://bugs.example.org/show_bug.cgi?id={n}",
        "#playbook link", Role.INCIDENT, MUTATES),
    Row("bug", "#bug {incident} https://bugs.example.org/show_bug.cgi?id={n}", "#bug",
        Role.INCIDENT, MUTATES, setup=(OPEN,)),
    Row("now", "#now", "#now", None, ASKS),
    Row("whats-happening", "statusdesk: what's happening?", "#now", None, ASKS),
    Row("status-question", "statusdesk, status?", "#now", None, ASKS),
    # Components (DESIGN §1.6).
    Row("component-set", "#component gerrit degraded Authz case {n}", "#component",
        Role.STATUS, MUTATES, setup=("#component gerrit ok",)),
    Row("component-list", "#component list", "#component list", None, ASKS),
    Row("components", "#components", "#component list", None, ASKS),
    Row("incident-affects", "#incident {incident} affects gerrit", "#incident ID affects",
        Role.INCIDENT, MUTATES, setup=(OPEN,)),
    # After the incident (DESIGN §1.7). `{action}` is the last action item the setup added.
    Row("why", "#why {incident} The scheduler ran out of memory {n}", "#why", Role.INCIDENT,
        MUTATES, setup=(OPEN,)),
    Row("why-replace", "#why {incident} 1 Memory was capped {n}", "#why", Role.INCIDENT,
        MUTATES, setup=(OPEN, "#why {incident} first answer")),
    Row("action", "#action {incident} Raise the cap {n} owner pat due 2099-01-01", "#action",
        Role.INCIDENT, MUTATES, setup=(OPEN,)),
    Row("action-done", "#action A{action} done {n}", "#action done", Role.INCIDENT, MUTATES,
        setup=(OPEN, "#action {incident} something to do")),
    Row("action-drop", "#action A{action} drop", "#action drop", Role.INCIDENT, MUTATES,
        setup=(OPEN, "#action {incident} something to drop")),
    # No tracker configured: accepted (and audited), changes nothing, says so.
    Row("action-file", "#action A{action} file", "#action file", Role.INCIDENT, ASKS,
        setup=(OPEN, "#action {incident} something to file")),
    Row("actions", "#actions", "#actions", None, ASKS),
    Row("actions-of", "#actions {incident}", "#actions", None, ASKS, setup=(OPEN,)),
    Row("incident-role", "#incident {incident} role comms comms{n}", "#incident ID role",
        Role.INCIDENT, MUTATES, setup=(OPEN,)),
]


def allowed(row: Row, who: Who) -> bool:
    """DESIGN §1.4: admin may everything; `#ack` is the paged person's (or an admin's)."""
    if row.who is None:
        return True
    return row.who in who.roles or Role.ADMIN in who.roles


FAST_SENDERS = frozenset({*(f"account-{r}" for r in ROLE_SETS), "nick-status", "mask-escalation",
                          "matrix-incident", "console-operator", "api-token-status",
                          "api-token-none", "api-token-admin", "api-token-user-removed"})
FAST_ROWS = frozenset({"status-alert", "incident-log", "ack", "playbook-link",
                       "oncall-override", "now"})
"""`make test` runs every command × every role (through accounts) and through each other
identity kind, and a command of each role × every other sender; `make test-soak` runs the
rest of the cross product."""


def _speed(row: Row, who: Who) -> tuple[pytest.MarkDecorator, ...]:
    return () if who.id in FAST_SENDERS or row.id in FAST_ROWS else (pytest.mark.soak,)


CASES = [pytest.param(row, who, id=f"{row.id}/{who.id}", marks=_speed(row, who))
         for row in ROWS for who in SENDERS]

# --- the running app ------------------------------------------------------------------------

PLAYBOOK = """\
---
title: Authorization drill
keywords: [authz]
---
What to do when the authorization table runs.
"""


@dataclass
class Table:
    running: Running
    standing: str
    """An open incident, being paged, that refused cases name (they must not change it)."""
    tally: Counter[str] = field(default_factory=Counter)


@asynccontextmanager
async def open_table(db_url: str, tmp: Path) -> AsyncIterator[Table]:
    """The app with the table's whitelist, paging (to a local PagerDuty) and playbooks."""
    playbooks = tmp / "playbooks"
    playbooks.mkdir()
    (playbooks / "authz.md").write_text(PLAYBOOK)
    pagerduty = FakePagerDuty()
    async with pagerduty, run_app(db_url, tmp, _extra_yaml(pagerduty.enqueue_url,
                                                           playbooks)) as running:
        standing = _opened(await _say(running, OPERATOR, "#incident open sev3 Standing"))
        await _say(running, OPERATOR, f"#page {standing}")
        yield Table(running, standing)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def table(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Table]:
    tmp = tmp_path_factory.mktemp("authz")
    async with open_table(f"sqlite+aiosqlite:///{tmp / 'statusdesk.db'}", tmp) as table:
        yield table
    tally = table.tally
    if tally["cases"]:
        figures.record("authorization", f"{tally['cases']} cases: {tally['allowed']} allowed, "
                       f"{tally['refused']} refused, {tally['refusal audit rows']} audit rows")


def _extra_yaml(enqueue_url: str, playbooks: Path) -> str:
    return _users_yaml() + (
        "paging:\n"
        "  auto_page_severity: null\n"
        "  ack_timeout: 1d\n"
        "  escalation_managers:\n"
        f"    - {{name: pat, contacts: {{pagerduty: '{PAGERDUTY_ROUTING_KEY}'}}}}\n"
        f"  providers: {{pagerduty: {{url: '{enqueue_url}'}}}}\n"
        f"playbooks: {{dir: '{playbooks}'}}\n"
        "components: [{name: Gerrit}]\n"
        # The table asks one sender many questions in a row: that is the rate limit's job to
        # stop (tests/security/test_abuse.py), not what this table is about.
        "commands: {rate_limit: null}\n"
    )


_numbers = itertools.count(1)


def _message(identity: Identity, text: str) -> Message:
    if identity.api_user is not None:
        return token_message(TokenOwner(1, identity.api_user, identity.api_label or ""), text)
    if identity.transport == "console":
        return Message("console", "console", "console", identity.nick, identity, text,
                       addressed=True)
    target = "#infra:example.org" if identity.transport == "matrix" else "#infra"
    return Message(identity.transport, identity.network or "", target, identity.nick,
                   identity, text)


async def _say(running: Running, identity: Identity, text: str) -> list[Reply]:
    return await running.app.desk.handle(_message(identity, text))


_ACTOR_COLUMNS = (
    (TimelineEntry.id, TimelineEntry.actor),
    (StatusPost.id, StatusPost.author),
    (Kudos.id, Kudos.author),
    (Incident.id, Incident.opened_by),
    (PlaybookLink.id, PlaybookLink.added_by),
    (PageRecord.id, PageRecord.paged_by),
    (OnCallOverride.id, OnCallOverride.created_by),
    (ComponentChange.id, ComponentChange.actor),
)


async def _high_water(running: Running) -> list[int]:
    """The highest id of each table (one query: the table runs a thousand cases)."""
    assert running.app.store is not None
    ids = [id_ for id_, _ in _ACTOR_COLUMNS] + [AuditRecord.id]
    async with running.app.store.reading() as tx:
        row = (await tx.session.execute(
            select(*(select(func.max(id_)).scalar_subquery() for id_ in ids)))).one()
    return [mark or 0 for mark in row]


async def _since(running: Running, marks: list[int], actor: str
                 ) -> tuple[int, list[AuditRecord]]:
    """Rows written by `actor` above the marks (background work, such as a page delivered
    for an earlier case, is someone else's), and every audit row above the mark."""
    assert running.app.store is not None
    async with running.app.store.reading() as tx:
        session = tx.session
        counts = (await session.execute(select(*(
            select(func.count()).where(id_ > mark, actor_column == actor).scalar_subquery()
            for (id_, actor_column), mark in zip(_ACTOR_COLUMNS, marks, strict=False))))).one()
        audit = (await session.execute(
            select(AuditRecord).where(AuditRecord.id > marks[-1]).order_by(AuditRecord.id)
        )).scalars().all()
    return sum(counts), list(audit)


async def _setup(running: Running, row: Row, n: int) -> str:
    incident = ""
    for line in row.setup:
        replies = await _say(running, OPERATOR, line.format(n=n, incident=incident))
        if line.startswith("#incident open"):
            incident = _opened(replies)
        if line.startswith("#action"):
            added = re.match(r"Action A(\d+) added", replies[0].text)
            assert added is not None, replies
            _last_action[row.id] = added.group(1)
    return incident


_last_action: dict[str, str] = {}
"""The action item each row's setup added last (`{action}` in its text)."""


def _opened(replies: list[Reply]) -> str:
    opened = re.match(r"Opened incident #(\d+) ", replies[0].text)
    assert opened is not None, replies
    return opened.group(1)


@pytest.mark.parametrize(("row", "who"), CASES)
async def test_command_by_identity(table: Table, row: Row, who: Who) -> None:
    await check(table, row, who)


async def check(table: Table, row: Row, who: Who) -> None:
    """One case: `who` says `row`'s command; allowed or refused exactly as DESIGN says."""
    desk_app, tally = table.running, table.tally
    n = next(_numbers)
    # A refusal comes before anything is looked at, and changes nothing: refused cases share
    # one incident (being paged), allowed ones get the state they change.
    if allowed(row, who):
        incident = await _setup(desk_app, row, n)
    else:
        incident = table.standing
    # A refused case never gets as far as looking at the action item it names.
    text = row.text.format(n=n, incident=incident, action=_last_action.get(row.id, "1"))
    marks = await _high_water(desk_app)

    replies = await _say(desk_app, who.identity, text)

    changed, audit = await _since(desk_app, marks, who.identity.nick)
    texts = [r.text for r in replies]
    refusal = f"you are not authorized to use {row.name}"
    tally["cases"] += 1
    if allowed(row, who):
        tally["allowed"] += 1
        assert replies, "an allowed command is answered"
        assert not any("not authorized" in t for t in texts), texts
        if row.effect == MUTATES:
            assert changed >= 1, f"nothing changed: {texts}"
        elif row.effect == KUDOS:
            assert changed == 1, texts
        else:
            assert changed == 0, texts
        if row.effect == READS:
            assert any(r.private for r in replies), texts
        if row.who is None:
            assert audit == [], "questions are not audited"
        else:
            assert [(a.command, a.outcome, a.actor) for a in audit] == [
                (row.name, "accepted", who.identity.nick)]
    else:
        tally["refused"] += 1
        if row.who == PAGED:
            # Why, too: who was paged (the paged person or an admin may acknowledge).
            (reply,) = replies
            assert reply.text.startswith(refusal + ": "), reply.text
        else:
            assert texts == [refusal]
        assert not any(r.private for r in replies)
        assert changed == 0, "a refused command changed something"
        (record,) = audit
        tally["refusal audit rows"] += 1
        assert (record.command, record.outcome, record.actor) == (
            row.name, "refused", who.identity.nick)
        assert record.text == text
        assert record.identity is not None and who.identity.describe() in record.identity
        assert record.reason
