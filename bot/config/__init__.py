"""Configuration: the YAML schema of DESIGN §1.3, its loader and its error reporting.

- `bot.config.fields`: the field types every section uses (`HttpUrl`, `Port`, `Duration`,
  `SecretStr`...) and `ConfigModel`, the base of a section. Plug-ins import these, and only
  these, to declare their schema.
- `bot.config.models`: the core's sections.
- `bot.config.plugins`: paging providers and bug trackers found through entry points, and the
  `paging.providers` / `playbooks.trackers` models built from their schemas.
- `bot.config.loading`: files, YAML, `${NAME}`, validation, cross-checks, `PATH: message`.

`Config`, `PagingConfig`, `PlaybooksConfig`, `ProvidersConfig` and `TrackersConfig` taken from
this package are the models with every installed plug-in's key (built on first use);
`bot.config.models` has their plug-in-free bases, for type annotations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.config.fields import DEFAULT_CONFIG_FILE, DEFAULT_DATABASE_URL, parse_duration
from bot.config.loading import (
    ConfigError,
    Problem,
    default_config,
    find_config_file,
    load_config,
    load_config_text,
)
from bot.config.models import (
    CommandAllowance,
    CommandRateLimitConfig,
    CommandsConfig,
    Contacts,
    DatabaseConfig,
    EscalationManager,
    IncidentsConfig,
    IrcIdentity,
    IrcNetwork,
    MaintenanceConfig,
    MatrixConfig,
    PagerDutyHook,
    PagingHooks,
    QuietHours,
    RateConfig,
    RetentionConfig,
    RotationConfig,
    SaslConfig,
    StatusPageConfig,
    StatusPageLimits,
    UserEntry,
)

if TYPE_CHECKING:
    from bot.config.models import Config, PagingConfig, PlaybooksConfig
    from bot.config.models import ProvidersBase as ProvidersConfig
    from bot.config.models import TrackersBase as TrackersConfig

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DATABASE_URL",
    "CommandAllowance",
    "CommandRateLimitConfig",
    "CommandsConfig",
    "Config",
    "ConfigError",
    "Contacts",
    "DatabaseConfig",
    "EscalationManager",
    "IncidentsConfig",
    "IrcIdentity",
    "IrcNetwork",
    "MaintenanceConfig",
    "MatrixConfig",
    "PagerDutyHook",
    "PagingConfig",
    "PagingHooks",
    "PlaybooksConfig",
    "Problem",
    "ProvidersConfig",
    "QuietHours",
    "RateConfig",
    "RetentionConfig",
    "RotationConfig",
    "SaslConfig",
    "StatusPageConfig",
    "StatusPageLimits",
    "TrackersConfig",
    "UserEntry",
    "default_config",
    "find_config_file",
    "load_config",
    "load_config_text",
    "parse_duration",
]

_WITH_PLUGINS = {
    "Config": "schema",
    "PagingConfig": "paging_model",
    "PlaybooksConfig": "playbooks_model",
    "ProvidersConfig": "providers_model",
    "TrackersConfig": "trackers_model",
}


def __getattr__(name: str) -> Any:
    """The models that depend on the installed plug-ins, built when first asked for (not at
    import: plug-ins import `bot.config.fields`, which imports this package first)."""
    if name in _WITH_PLUGINS:
        from bot.config import plugins

        return getattr(plugins, _WITH_PLUGINS[name])()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
