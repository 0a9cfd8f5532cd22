"""Who may do what: verified identities, the whitelist, and the role each command needs."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from commands import model as m
from commands.model import Command, Role

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True, slots=True)
class Identity:
    """What a transport verified about a message's sender.

    `account` is an IRC services account (from account-tag, extended-join or WHOX), never a
    guess from the nick. `local_operator` marks the person at the console.
    """

    transport: str
    nick: str
    network: str | None = None
    account: str | None = None
    host_mask: str | None = None
    matrix_user: str | None = None
    local_operator: bool = False

    def describe(self) -> str:
        """A one-line account of what was verified, for the audit log and the timeline."""
        parts = [self.transport + (f"/{self.network}" if self.network else "")]
        if self.local_operator:
            parts.append("local operator")
        if self.account:
            parts.append(f"account={self.account}")
        if self.host_mask:
            parts.append(f"mask={self.host_mask}")
        if self.matrix_user:
            parts.append(f"mxid={self.matrix_user}")
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

_IRC_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~"
_IRC_LOWER = "abcdefghijklmnopqrstuvwxyz{}|^"
_IRC_FOLD = str.maketrans(_IRC_UPPER, _IRC_LOWER)


def irc_casefold(text: str) -> str:
    """RFC 1459 case mapping: IRC servers treat `[]\\~` as the upper case of `{}|^`."""
    return text.translate(_IRC_FOLD)


class Whitelist:
    def __init__(self, principals: Iterable[Principal]) -> None:
        self._principals = tuple(principals)
        self._by_account = {
            irc_casefold(p.irc_account): p for p in self._principals if p.irc_account
        }
        self._by_nick = {irc_casefold(p.irc_nick): p for p in self._principals if p.irc_nick}
        self._by_matrix = {p.matrix_user: p for p in self._principals if p.matrix_user}
        self._masks = [
            (irc_casefold(p.irc_mask), p) for p in self._principals if p.irc_mask
        ]

    def identify(self, identity: Identity) -> Principal | None:
        """The whitelisted user this identity proves to be, if any."""
        if identity.local_operator:
            return LOCAL_OPERATOR
        if identity.transport == "matrix":
            return self._by_matrix.get(identity.matrix_user or "")
        if identity.transport != "irc":
            return None
        if identity.account:
            found = self._by_account.get(irc_casefold(identity.account))
            if found is not None:
                return found
        found = self._by_nick.get(irc_casefold(identity.nick))
        if found is not None:
            return found
        if identity.host_mask:
            mask = irc_casefold(identity.host_mask)
            for pattern, principal in self._masks:
                if fnmatch.fnmatchcase(mask, pattern):
                    return principal
        return None


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
}


def required_role(command: Command) -> Role | None:
    return _REQUIRED[type(command)]
