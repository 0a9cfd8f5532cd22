"""Who may do what: verified identities, the whitelist, and the role each command needs."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from commands import model as m
from commands.casemapping import CaseMapping
from commands.model import Command, Role

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True, slots=True)
class Identity:
    """What a transport verified about a message's sender.

    `account` is an IRC services account (from account-tag, extended-join or WHOX), never a
    guess from the nick, and true of the sender *when their line arrived*. When the transport
    could not establish that (the nick changed hands while it asked the server, the sender
    shares no channel with the bot so such a change would go unseen, the server did not
    answer), `account` is None and `unverified` says why, so a refusal can say "say it
    again" rather than "not authorized". `casemapping` is the IRC network's own
    (`CASEMAPPING` in its ISUPPORT): names are compared the way that server compares them.
    `local_operator` marks the person at the console.
    """

    transport: str
    nick: str
    network: str | None = None
    account: str | None = None
    host_mask: str | None = None
    matrix_user: str | None = None
    local_operator: bool = False
    casemapping: CaseMapping = CaseMapping.RFC1459
    unverified: str | None = None
    api_user: str | None = None
    """Sent with a personal API token (DESIGN §1.8): the `users[].name` it belongs to."""
    api_label: str | None = None
    """That token's label, for the audit log."""

    def fold(self, name: str) -> str:
        """`name` as this identity's network compares names (IRC nicks, accounts, masks)."""
        return self.casemapping.fold(name)

    def describe(self) -> str:
        """A one-line account of what was verified, for the audit log and the timeline."""
        if self.api_user is not None:
            return f"api token {self.api_label or self.api_user}"
        parts = [self.transport + (f"/{self.network}" if self.network else "")]
        if self.local_operator:
            parts.append("local operator")
        if self.account:
            parts.append(f"account={self.account}")
        if self.host_mask:
            parts.append(f"mask={self.host_mask}")
        if self.matrix_user:
            parts.append(f"mxid={self.matrix_user}")
        if self.unverified:
            parts.append("account=unverified")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Principal:
    """A whitelisted user, with the ways they may be recognised."""

    name: str
    roles: frozenset[Role]
    irc_account: str | None = None
    irc_nick: str | None = None
    irc_mask: str | None = None
    matrix_user: str | None = None

    def may(self, role: Role) -> bool:
        return role in self.roles or Role.ADMIN in self.roles


LOCAL_OPERATOR = Principal(name="operator", roles=ALL_ROLES)


def irc_casefold(text: str) -> str:
    """RFC 1459 case mapping (`[]\\~` are the upper case of `{}|^`), for names typed in
    commands and configuration where no network is involved. Comparing a verified identity
    uses that identity's own network's mapping (`Identity.fold`)."""
    return CaseMapping.RFC1459.fold(text)


@functools.lru_cache(maxsize=1024)
def _mask_pattern(pattern: str) -> re.Pattern[str]:
    """An IRC mask as a regular expression: `*` any run, `?` any one character, everything
    else itself. Not `fnmatch`: there `[x]` is a character class, in IRC it is a nick."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern), re.DOTALL)


def mask_matches(pattern: str, mask: str, casemapping: CaseMapping) -> bool:
    """Whether `nick!user@host` matches an IRC mask, compared under `casemapping`."""
    return _mask_pattern(casemapping.fold(pattern)).fullmatch(casemapping.fold(mask)) is not None


class Whitelist:
    def __init__(self, principals: Iterable[Principal]) -> None:
        self._principals = tuple(principals)
        self._by_matrix = {p.matrix_user: p for p in self._principals if p.matrix_user}
        self._by_name = {p.name: p for p in self._principals}
        self._irc_by_mapping: dict[CaseMapping, _IrcNames] = {}

    @property
    def has_irc_accounts(self) -> bool:
        """Whether anyone is recognised by an IRC services account (else an unverified
        account changes nothing)."""
        return any(p.irc_account for p in self._principals)

    def identify(self, identity: Identity) -> Principal | None:
        """The whitelisted user this identity proves to be, if any."""
        if identity.local_operator:
            return LOCAL_OPERATOR
        if identity.api_user is not None:
            # A personal token proved the user (its owner's whitelist entry gives the roles).
            return self._by_name.get(identity.api_user)
        if identity.transport == "matrix":
            return self._by_matrix.get(identity.matrix_user or "")
        if identity.transport != "irc":
            return None
        names = self._irc_names(identity.casemapping)
        if identity.account:
            found = names.by_account.get(identity.fold(identity.account))
            if found is not None:
                return found
        found = names.by_nick.get(identity.fold(identity.nick))
        if found is not None:
            return found
        if identity.host_mask:
            for principal in self._principals:
                if principal.irc_mask and mask_matches(principal.irc_mask, identity.host_mask,
                                                       identity.casemapping):
                    return principal
        return None

    def _irc_names(self, casemapping: CaseMapping) -> _IrcNames:
        names = self._irc_by_mapping.get(casemapping)
        if names is None:
            fold = casemapping.fold
            names = self._irc_by_mapping[casemapping] = _IrcNames(
                by_account={fold(p.irc_account): p for p in self._principals if p.irc_account},
                by_nick={fold(p.irc_nick): p for p in self._principals if p.irc_nick},
            )
        return names


@dataclass(frozen=True, slots=True)
class _IrcNames:
    """The whitelist's IRC accounts and nicks, folded under one network's case mapping."""

    by_account: dict[str, Principal]
    by_nick: dict[str, Principal]


_REQUIRED: dict[type[Command], Role | None] = {
    m.StatusAlert: Role.STATUS,
    m.StatusNotice: Role.STATUS,
    m.StatusLog: Role.STATUS,
    m.StatusOk: Role.STATUS,
    m.StatusHelp: None,
    m.Success: None,
    m.Thanks: None,
    m.IncidentOpen: Role.INCIDENT,
    m.IncidentSetState: Role.INCIDENT,
    m.IncidentSetSeverity: Role.INCIDENT,
    m.IncidentSetLead: Role.INCIDENT,
    m.IncidentSetManager: Role.INCIDENT,
    m.IncidentList: None,
    m.IncidentShow: None,
    m.IncidentLog: Role.ESCALATION,
    m.IncidentHelp: None,
    m.Note: Role.INCIDENT,
    m.Page: Role.INCIDENT,
    # Only the paged person may acknowledge; the pager checks who that is.
    m.Ack: None,
    m.OnCall: None,
    m.OnCallOverride: Role.ESCALATION,
    m.PlaybookShow: None,
    m.PlaybookLink: Role.INCIDENT,
    m.BugLink: Role.INCIDENT,
    m.Now: None,
    m.MaintenanceSchedule: Role.STATUS,
    m.MaintenanceAct: Role.STATUS,
    m.MaintenanceList: None,
    m.ComponentSet: Role.STATUS,
    m.ComponentList: None,
    m.IncidentAffects: Role.INCIDENT,
    m.Why: Role.INCIDENT,
    m.ActionAdd: Role.INCIDENT,
    m.ActionClose: Role.INCIDENT,
    m.ActionFile: Role.INCIDENT,
    m.ActionList: None,
    m.IncidentSetRole: Role.INCIDENT,
}


def required_role(command: Command) -> Role | None:
    return _REQUIRED[type(command)]
