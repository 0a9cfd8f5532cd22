"""What a paging provider plug-in declares, and the registry that finds them.

A provider plug-in is an object (normally the provider class itself) named by an entry point
in the group `statusdesk.paging_providers`; the entry point's name is its key under
`paging.providers` in the configuration. See README "Plug-ins" for a complete example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from pydantic import BaseModel

from bot.config import plugins
from bot.config.models import ProvidersBase
from bot.paging.delivery import PagingProvider
from bot.transports.registry import Transports


@dataclass(frozen=True)
class ProviderContext:
    """What the running bot lends a provider: one HTTP session for all providers (closed at
    shutdown), and the running chat transports."""

    http: aiohttp.ClientSession
    transports: Transports


class PagingProviderPlugin(Protocol):
    """What the entry point names.

    - `name`: the key under `paging.providers`, the same as the entry point's name;
    - `CONFIG_SCHEMA`: the pydantic model of that key (a `bot.config.fields.ConfigModel`);
    - `contacts`: the keys of `escalation_managers[].contacts` it delivers to; a manager with
      such a contact and no provider for it configured is a configuration error;
    - `from_config(config, context)`: the provider (a `bot.paging.delivery.PagingProvider`),
      given its validated configuration.

    Optional: `CONTACT_SCHEMA` (the type of `contacts.<name>`, for a contact kind of its own),
    `order` (int, default 100: smaller first), `deduplicates` (bool, see
    `bot.paging.delivery.deduplicates`). The members are read on the object the entry point
    names, so a class with class attributes and a classmethod `from_config` fits.
    """

    @property
    def name(self) -> str: ...

    @property
    def CONFIG_SCHEMA(self) -> type[BaseModel]: ...

    @property
    def contacts(self) -> tuple[str, ...]: ...

    def from_config(self, config: Any, context: ProviderContext) -> PagingProvider: ...


def provider_plugins() -> dict[str, PagingProviderPlugin]:
    """Every usable paging provider plug-in, by name (`statusdesk.paging_providers`)."""
    return plugins.usable(plugins.PAGING_PROVIDERS)


def build_providers(configured: ProvidersBase, context: ProviderContext
                    ) -> Sequence[PagingProvider]:
    """One provider per configured `paging.providers` entry, in registry order."""
    found = provider_plugins()
    providers: list[PagingProvider] = []
    for name, config in configured.configured().items():
        try:
            providers.append(found[name].from_config(config, context))
        except Exception as exc:  # a plug-in's own failure, named as such
            raise plugins.building(plugins.PAGING_PROVIDERS, name, exc) from exc
    return providers
