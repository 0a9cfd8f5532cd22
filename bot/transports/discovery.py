"""Finding the kinds of transport: every `statusdesk.transports` entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from bot.core.ports import TransportPlugin

GROUP = "statusdesk.transports"


class PluginUnavailable(Exception):
    """An installed plug-in could not be loaded (its package is broken or incomplete)."""


def transport_plugins() -> list[TransportPlugin]:
    """One instance of each installed transport kind, by entry point name."""
    found: list[TransportPlugin] = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            plugin = entry.load()()
        except Exception as error:
            raise PluginUnavailable(
                f"the transport plug-in {entry.name!r} ({entry.value}) cannot be loaded: "
                f"{type(error).__name__}: {error}") from error
        found.append(plugin)
    return found
