"""What a bug tracker plug-in declares.

A tracker plug-in is an object (normally the tracker class itself) named by an entry point in
the group `statusdesk.trackers`; the entry point's name is its key under `playbooks.trackers`.
See README "Plug-ins" for a complete example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from bot.config import plugins
from bot.playbooks.trackers.tracker import Tracker


class TrackerPlugin(Protocol):
    """What the entry point names.

    - `name`: the key under `playbooks.trackers`, the same as the entry point's name;
    - `CONFIG_SCHEMA`: the pydantic model of that key (a `bot.config.fields.ConfigModel`);
    - `from_config(config)`: the trackers to ask, given the validated configuration, or None
      when the key is absent (a tracker with a public site answers for it anyway; one that
      needs configuration returns no tracker).

    Optional: `order` (int, default 100: smaller first). The members are read on the object
    the entry point names, so a class with class attributes and a classmethod `from_config`
    fits.
    """

    @property
    def name(self) -> str: ...

    @property
    def CONFIG_SCHEMA(self) -> type[BaseModel]: ...

    def from_config(self, config: Any | None) -> Sequence[Tracker]: ...


def tracker_plugins() -> dict[str, TrackerPlugin]:
    """Every usable bug tracker plug-in, by name (`statusdesk.trackers`)."""
    return plugins.usable(plugins.TRACKERS)
