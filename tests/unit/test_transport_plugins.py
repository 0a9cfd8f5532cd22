"""Transports are found through the `statusdesk.transports` entry point group; a broken
plug-in is named in a clear error instead of a traceback from deep inside the start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.transports.console import ConsolePlugin
from bot.transports.discovery import PluginUnavailable, transport_plugins
from bot.transports.irc.plugin import IrcPlugin
from bot.transports.matrix.plugin import MatrixPlugin


def install_entry_point(root: Path, name: str, value: str) -> None:
    """A distribution as pip would leave it: a dist-info folder with the entry point."""
    info = root / "statusdesk_broken_transport-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: statusdesk-broken-transport\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[statusdesk.transports]\n{name} = {value}\n")


def test_the_built_in_transports_register_through_entry_points() -> None:
    kinds = {type(plugin): plugin.key for plugin in transport_plugins()}
    assert kinds[ConsolePlugin] == "console"
    assert kinds[IrcPlugin] == "irc"
    assert kinds[MatrixPlugin] == "matrix"


def test_a_plug_in_that_cannot_be_imported_is_named(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    install_entry_point(tmp_path, "carrier_pigeon", "statusdesk_no_such_module:Pigeon")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginUnavailable) as raised:
        transport_plugins()
    assert str(raised.value).startswith(
        "the transport plug-in 'carrier_pigeon' (statusdesk_no_such_module:Pigeon) cannot be "
        "loaded: ModuleNotFoundError")
