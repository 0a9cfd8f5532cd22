"""What a configuration reload (SIGHUP) may change in a running bot, and what it may not.

Reloadable: who may do what (`users`, with their roles), the incident roles
(`incidents.roles`), the components, the on-call rotation and the escalation managers, the
playbook entries (re-read from `playbooks.dir`).
Everything else (transports, database, listen address, ...) is wired into connections and
sockets that a reload must not drop: a change there is named in a warning and waits for a
restart. Pure functions over two Configs; bot/app.py applies the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.config.models import Config

RELOADABLE = ("users", "incidents.roles", "components", "paging.rotation",
              "paging.escalation_managers")
"""Dotted keys a reload applies. `paging.*` only while paging stays on (it needs escalation
managers before and after: turning it on or off rebuilds the pager, its HTTP session and its
web hooks)."""

DEPTH = 2
"""Changed keys are named down to this depth (`status_page.listen`, `paging.rotation`)."""


@dataclass(frozen=True)
class ReloadPlan:
    config: Config
    """The configuration to run with: the old one with the reloadable keys taken from the
    new one."""
    applied: list[str]
    """Reloadable keys that changed."""
    kept: list[str]
    """Changed keys that need a restart (the running value stays)."""


def plan_reload(running: Config, new: Config) -> ReloadPlan:
    # Python mode: secrets stay SecretStr, which compare by value (a new password counts as a
    # change) and are never shown (only key names are).
    changed = changed_keys(running.model_dump(), new.model_dump())
    paging_stays_on = bool(running.paging.escalation_managers) and bool(
        new.paging.escalation_managers)
    applied, kept = [], []
    for key in changed:
        if _reloadable(key) and (paging_stays_on or not key.startswith("paging.")):
            applied.append(key)
        else:
            kept.append(key)
    update: dict[str, Any] = {}
    if any(_under(key, "users") for key in applied):
        update["users"] = new.users
    if any(_under(key, "components") for key in applied):
        update["components"] = new.components
    if "incidents.roles" in applied:
        update["incidents"] = running.incidents.model_copy(update={"roles": new.incidents.roles})
    paging = {name: getattr(new.paging, name) for name in ("rotation", "escalation_managers")
              if any(_under(key, f"paging.{name}") for key in applied)}
    if paging:
        update["paging"] = running.paging.model_copy(update=paging)
    return ReloadPlan(running.model_copy(update=update), applied, kept)


def changed_keys(old: Any, new: Any, prefix: str = "", depth: int = DEPTH) -> list[str]:
    """Dotted keys (lists indexed) whose values differ, no deeper than `depth`."""
    return list(_differences(old, new, prefix, depth))


def _differences(old: Any, new: Any, prefix: str, depth: int) -> Iterator[str]:
    if old == new:
        return
    if depth == 0 or not (isinstance(old, dict) and isinstance(new, dict)):
        # A list (users, components) is named once: compared entry by entry, an insertion
        # would name every entry after it.
        yield prefix
        return
    for key in [*old, *(k for k in new if k not in old)]:
        name = f"{prefix}.{key}" if prefix else str(key)
        yield from _differences(old.get(key), new.get(key), name, depth - 1)


def _under(key: str, section: str) -> bool:
    return key == section or key.startswith(f"{section}.") or key.startswith(f"{section}[")


def _reloadable(key: str) -> bool:
    return any(_under(key, section) for section in RELOADABLE)
