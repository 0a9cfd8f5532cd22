"""What a decision is made of: state changes, broadcasts, events and replies, all typed.

A decision may create rows whose ids only the database can give (a new incident, a new
status post). It names them with placeholders (`NEW_INCIDENT`, `NEW_POST`) wherever they are
needed — a timeline entry, an event, the topic effect, the answer — and the applier swaps
in the real ids (`resolve`) once the rows exist.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

from bot.core.effects import ChannelEffect
from bot.core.events import DeskEvent


class New(int):
    """The id of a row the decision creates (a negative number, never a real id)."""

    def __repr__(self) -> str:
        return f"New({int(self)})"


NEW_INCIDENT = New(-1)
NEW_POST = New(-2)


# --- state changes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """Creates `NEW_INCIDENT`."""

    title: str
    severity: int
    opened_by: str
    at: datetime
    is_alert: bool = False


@dataclass(frozen=True, slots=True)
class AddPost:
    """A status post (`alert`, `notice`, `log`, `ok`); creates `NEW_POST`."""

    kind: str
    text: str | None
    actor: str
    at: datetime
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class SetAlert:
    text: str
    actor: str
    at: datetime
    incident_id: int
    post_id: int


@dataclass(frozen=True, slots=True)
class ClearAlert:
    pass


@dataclass(frozen=True, slots=True)
class SetState:
    incident_id: int
    state: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SetField:
    """Severity, lead or manager of an incident (also its last update)."""

    incident_id: int
    name: str
    value: int | str
    at: datetime


@dataclass(frozen=True, slots=True)
class Touch:
    """The incident was updated (reminders count from its last update)."""

    incident_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Append:
    """A timeline entry, made by the command's sender where they said it."""

    incident_id: int
    kind: str
    at: datetime
    text: str | None = None
    old: str | None = None
    new: str | None = None
    public: bool = True


@dataclass(frozen=True, slots=True)
class AddKudos:
    kind: str
    text: str
    actor: str
    at: datetime


Change: TypeAlias = (
    OpenIncident | AddPost | SetAlert | ClearAlert | SetState | SetField | Touch | Append
    | AddKudos
)


# --- effects and replies ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Channel effects for every broadcast channel, announcing status post `post_id`."""

    post_id: int
    effects: tuple[ChannelEffect, ...]


@dataclass(frozen=True, slots=True)
class Say:
    """One line of the answer: `render(*args)` once the new ids are known."""

    render: Callable[..., str]
    args: tuple[Any, ...] = ()
    private: bool = False

    @property
    def text(self) -> str:
        return self.render(*self.args)


def said(text: str, *, private: bool = False) -> Say:
    return Say(_same, (text,), private)


def _same(text: str) -> str:
    return text


@dataclass(slots=True)
class Decision:
    """Everything a command does; nothing has happened until the applier applies it."""

    changes: list[Change] = field(default_factory=list)
    broadcasts: list[Broadcast] = field(default_factory=list)
    events: list[DeskEvent] = field(default_factory=list)
    replies: list[Say] = field(default_factory=list)
    not_configured: str | None = None
    """The config section the command needs and this desk lacks: it did nothing."""

    def say(self, render: Callable[..., str], *args: Any, private: bool = False) -> None:
        self.replies.append(Say(render, args, private))

    def tell(self, *lines: str, private: bool = False) -> None:
        self.replies.extend(said(line, private=private) for line in lines)

    @property
    def texts(self) -> list[str]:
        """The answer's lines (placeholders unresolved): for tests and logs."""
        return [reply.text for reply in self.replies]


T = TypeVar("T")

_ATOMS: frozenset[type] = frozenset({str, int, bool, float, datetime, type(None)})


def resolve(value: T, ids: Mapping[New, int]) -> T:
    """`value` with every placeholder id replaced by the real one (dataclasses, tuples and
    lists are looked into; anything else is returned as it is)."""
    resolved: T = _resolve(value, ids)
    return resolved


def _resolve(value: Any, ids: Mapping[New, int]) -> Any:
    kind: Any = type(value)
    if kind in _ATOMS:
        return value  # most fields: nothing to look into (and this runs for every one)
    if kind is New:
        return ids[value]
    if kind is tuple or kind is list:
        items = [item if type(item) in _ATOMS else _resolve(item, ids) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return kind(items)
    names = _field_names(kind)
    if names is None:
        return value
    changed = {}
    for name in names:
        old = getattr(value, name)
        if type(old) in _ATOMS:
            continue
        new = _resolve(old, ids)
        if new is not old:
            changed[name] = new
    return replace(value, **changed) if changed else value


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's field names (None for any other type), looked up once per type: the
    applier resolves every change of every command."""
    if not is_dataclass(kind):
        return None
    return tuple(f.name for f in fields(kind))
