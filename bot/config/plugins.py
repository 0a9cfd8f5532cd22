"""Plug-ins found through entry points, and the configuration models built from their schemas.

Every paging provider and bug tracker, built-in or installed separately, is an object named by
an entry point (DESIGN Part 2; README "Plug-ins"):

    [project.entry-points."statusdesk.paging_providers"]
    webhook = "bot.paging.providers.webhook:Webhook"

The entry point's name is the plug-in's key in the configuration (`paging.providers.webhook`);
the object's `CONFIG_SCHEMA` (a pydantic model, normally a `bot.config.fields.ConfigModel`) is
the schema of that key. A paging provider may also declare `CONTACT_SCHEMA`, the type of
`escalation_managers[].contacts.<its name>`. What else the object offers is the business of
the part that uses it (`bot.paging.plugin`, `bot.playbooks.trackers.plugin`); this module
only finds plug-ins and builds `paging.providers` / `playbooks.trackers` from their schemas,
so errors keep the form `paging.providers.webhook.url: must be an http:// or https:// URL`.

A plug-in that fails to import (or declares no usable schema) does not stop the bot: it is
left out, and only a configuration that uses its key fails, with a message naming the entry
point and the error. Discovery runs once per process; `clear_caches()` forgets it (tests that
install a plug-in on the fly).
"""

from __future__ import annotations

import functools
import keyword
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, create_model

from bot.config.fields import _fail, _q
from bot.config.models import (
    Config,
    Contacts,
    EscalationManager,
    PagingConfig,
    PlaybooksConfig,
    ProvidersBase,
    TrackersBase,
)

__all__ = [
    "PAGING_PROVIDERS",
    "TRACKERS",
    "TRANSPORTS",
    "Kind",
    "Plugin",
    "PluginFailed",
    "building",
    "clear_caches",
    "plugins",
    "providers_model",
    "schema",
    "trackers_model",
    "unknown_message",
    "usable",
]


@dataclass(frozen=True)
class Kind:
    """One kind of plug-in: its entry-point group and where its keys go in the configuration."""

    group: str
    section: str
    noun: str


PAGING_PROVIDERS = Kind("statusdesk.paging_providers", "paging.providers", "paging provider")
TRACKERS = Kind("statusdesk.trackers", "playbooks.trackers", "bug tracker")
TRANSPORTS = Kind("statusdesk.transports", "(top level)", "transport")
"""A transport's name is a top-level key (`irc:`, `matrix:`, `slack:`), and its
`CONFIG_SCHEMA` may be any type pydantic validates (a list of networks, a bool)."""

BUILT_IN_TRANSPORT_KEYS = frozenset({"irc", "matrix", "console"})
"""Top-level keys declared in `Config` itself (typed access for the core); every other
top-level key is the core's own and cannot be taken by a transport plug-in."""

DEFAULT_ORDER = 100
"""Plug-ins are used in the order of their optional `order` attribute (smaller first), then
of their names: the built-ins say 10-50, to keep the order they had before entry points."""

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Plugin:
    """An entry point of a plug-in group: the loaded object, or why it is unusable."""

    name: str
    entry_point: str
    """`name = module:object` as declared, and by which distribution."""
    obj: Any = None
    error: str | None = None

    @property
    def schema(self) -> type[BaseModel]:
        schema: type[BaseModel] = self.obj.CONFIG_SCHEMA
        return schema


def _describe(ep: EntryPoint, kind: Kind) -> str:
    dist = getattr(ep, "dist", None)
    where = f" (distribution {dist.name})" if dist is not None else ""
    return f"entry point {ep.name} = {ep.value} in group {kind.group}{where}"


def _load(ep: EntryPoint, kind: Kind) -> Plugin:
    described = _describe(ep, kind)
    if not _NAME_RE.fullmatch(ep.name) or keyword.iskeyword(ep.name):
        return Plugin(ep.name, described, error=f"{described}: the name must be lowercase "
                      "letters, digits and _, starting with a letter")
    try:
        obj = ep.load()
    except Exception as exc:  # whatever a third-party import raises
        return Plugin(ep.name, described,
                      error=f"{described} failed to load: {type(exc).__name__}: {exc}")
    schema = getattr(obj, "CONFIG_SCHEMA", None)
    if kind is TRANSPORTS:
        if schema is None:
            return Plugin(ep.name, described, error=f"{described} declares no CONFIG_SCHEMA")
        if ep.name in Config.model_fields and ep.name not in BUILT_IN_TRANSPORT_KEYS:
            return Plugin(ep.name, described, error=(
                f"{described}: {ep.name!r} is a key of the core configuration"))
    elif not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return Plugin(ep.name, described,
                      error=f"{described} declares no CONFIG_SCHEMA (a pydantic model)")
    # A type pydantic cannot use as a field would break the whole configuration.
    for attribute, declared_type in (("CONFIG_SCHEMA", schema),
                                     ("CONTACT_SCHEMA", getattr(obj, "CONTACT_SCHEMA", None))):
        problem = _unusable(declared_type)
        if problem is not None:
            return Plugin(ep.name, described,
                          error=f"{described} has an unusable {attribute}: {problem}")
    declared = getattr(obj, "name", ep.name)
    if declared != ep.name:
        return Plugin(ep.name, described,
                      error=f"{described} names itself {_q(declared)}, not {_q(ep.name)}")
    return Plugin(ep.name, described, obj)


def _unusable(declared_type: Any) -> str | None:
    if declared_type is None:
        return None
    try:
        fields: dict[str, Any] = {"probe": (declared_type | None, None)}
        create_model("Probe", **fields)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@functools.cache
def plugins(kind: Kind) -> dict[str, Plugin]:
    """Every plug-in of `kind`, by name, in their `order` (then by name). Never
    raises: a plug-in that cannot be used carries its `error`."""
    found: dict[str, Plugin] = {}
    for ep in sorted(entry_points(group=kind.group), key=lambda ep: ep.name):
        if ep.name in found:
            first = found[ep.name]
            found[ep.name] = Plugin(ep.name, first.entry_point, error=(
                f"two plug-ins claim {kind.section}.{ep.name}: {first.entry_point} and "
                f"{_describe(ep, kind)} (uninstall one)"))
            continue
        found[ep.name] = _load(ep, kind)
    return dict(sorted(found.items(), key=lambda item: _order(item[1])))


def _order(plugin: Plugin) -> int:
    order = getattr(plugin.obj, "order", DEFAULT_ORDER) if plugin.error is None else 1_000_000
    return order if isinstance(order, int) else DEFAULT_ORDER


class PluginFailed(Exception):
    """A plug-in raised while building itself from its (valid) configuration."""


def building(kind: Kind, name: str, exc: Exception) -> PluginFailed:
    """The error to raise when plug-in `name` failed to build: it names the entry point."""
    plugin = plugins(kind).get(name)
    where = plugin.entry_point if plugin is not None else f"{kind.noun} {name}"
    path = name if kind is TRANSPORTS else f"{kind.section}.{name}"
    return PluginFailed(f"{path}: {where} failed to start: "
                        f"{type(exc).__name__}: {exc}")


def usable(kind: Kind) -> dict[str, Any]:
    """The loaded plug-in objects of `kind` that work, by name."""
    return {name: p.obj for name, p in plugins(kind).items() if p.error is None}


def unknown_message(kind: Kind) -> str:
    """What an unknown key under the kind's section is told."""
    known = ", ".join(sorted(plugins(kind))) or (
        "none installed: is statusdesk installed? `pip install -e .` in a source tree")
    return f"unknown {kind.noun} (known: {known})"


def _refuse(message: str) -> Any:
    def refuse(value: object) -> object:
        raise _fail(message)

    return refuse


def _section(kind: Kind, base: type[BaseModel], name: str) -> type[BaseModel]:
    """`base` with one optional key per plug-in of `kind`, typed by the plug-in's schema."""
    found = plugins(kind)
    fields: dict[str, Any] = {}
    for name, plugin in found.items():
        if plugin.error is None:
            fields[name] = (plugin.schema | None, None)
        else:
            fields[name] = (Annotated[Any, BeforeValidator(_refuse(plugin.error))], None)
    model = create_model(
        name, __base__=base, __module__=base.__module__, **fields)
    return model


@functools.cache
def providers_model() -> type[ProvidersBase]:
    """`paging.providers`: one key per paging provider plug-in."""
    return _section(PAGING_PROVIDERS, ProvidersBase, "ProvidersConfig")  # type: ignore[return-value]


@functools.cache
def trackers_model() -> type[TrackersBase]:
    """`playbooks.trackers`: one key per bug tracker plug-in."""
    return _section(TRACKERS, TrackersBase, "TrackersConfig")  # type: ignore[return-value]


@functools.cache
def contacts_model() -> type[Contacts]:
    """`escalation_managers[].contacts`: the core's kinds, and one more per provider plug-in
    that declares a `CONTACT_SCHEMA` (the type of `contacts.<its name>`)."""
    fields: dict[str, Any] = {}
    for name, plugin in usable(PAGING_PROVIDERS).items():
        contact = getattr(plugin, "CONTACT_SCHEMA", None)
        if contact is not None and name not in Contacts.model_fields:
            fields[name] = (contact | None, None)
    return create_model(
        "Contacts", __base__=Contacts, __module__=Contacts.__module__, **fields)


@functools.cache
def paging_model() -> type[PagingConfig]:
    providers = providers_model()
    manager = create_model(
        "EscalationManager", __base__=EscalationManager,
        __module__=EscalationManager.__module__, contacts=(contacts_model(), ...))
    return create_model(
        "PagingConfig", __base__=PagingConfig, __module__=PagingConfig.__module__,
        providers=(providers, Field(default_factory=providers)),
        escalation_managers=(list[manager], Field(default_factory=list)))


@functools.cache
def playbooks_model() -> type[PlaybooksConfig]:
    trackers = trackers_model()
    return create_model(
        "PlaybooksConfig", __base__=PlaybooksConfig, __module__=PlaybooksConfig.__module__,
        trackers=(trackers, Field(default_factory=trackers)))


def _transport_keys() -> dict[str, Any]:
    """A top-level key for each transport plug-in beyond the built-in ones."""
    fields: dict[str, Any] = {}
    for name, plugin in plugins(TRANSPORTS).items():
        if name in Config.model_fields:
            continue
        if plugin.error is None:
            fields[name] = (plugin.obj.CONFIG_SCHEMA | None, None)
        else:
            fields[name] = (Annotated[Any, BeforeValidator(_refuse(plugin.error))], None)
    return fields


@functools.cache
def schema() -> type[Config]:
    """The whole configuration's model: the core's sections and every plug-in's."""
    paging, playbooks = paging_model(), playbooks_model()
    return create_model(
        "Config", __base__=Config, __module__=Config.__module__,
        paging=(paging, Field(default_factory=paging)),
        playbooks=(playbooks, Field(default_factory=playbooks)),
        **_transport_keys())


def clear_caches() -> None:
    """Forget the plug-ins found and the models built from them (a plug-in was installed
    or removed while running: tests)."""
    for cached in (plugins, providers_model, trackers_model, contacts_model, paging_model,
                   playbooks_model, schema):
        cached.cache_clear()

