"""Transports are found through the `statusdesk.transports` entry point group, each with the
top-level key of its name; a broken plug-in is named in a clear error instead of a
traceback from deep inside the start-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import transport_plugins
from bot.config import load_config_text, plugins
from bot.transports.console import ConsolePlugin
from bot.transports.irc.plugin import IrcPlugin
from bot.transports.matrix.plugin import MatrixPlugin


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    plugins.clear_caches()
    yield
    plugins.clear_caches()


def install_entry_point(root: Path, name: str, value: str) -> None:
    """A distribution as pip would leave it: a dist-info folder with the entry point."""
    info = root / "statusdesk_broken_transport-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: statusdesk-broken-transport\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[statusdesk.transports]\n{name} = {value}\n")


def test_the_built_in_transports_register_through_entry_points() -> None:
    found = transport_plugins(load_config_text("console: true\n", env={}))
    assert [(key, type(plugin)) for key, plugin in found.items()] == [
        ("console", ConsolePlugin), ("matrix", MatrixPlugin), ("irc", IrcPlugin)]


def test_a_transport_that_cannot_be_imported_is_named_when_its_key_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_entry_point(tmp_path, "pigeon", "statusdesk_no_such_module:Pigeon")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.clear_caches()
    # Not used: the bot runs without it.
    assert "pigeon" not in transport_plugins(load_config_text("console: true\n", env={}))
    with pytest.raises(Exception) as raised:
        load_config_text("pigeon: {loft: north}\n", env={})
    assert str(raised.value).startswith(
        "pigeon: entry point pigeon = statusdesk_no_such_module:Pigeon in group "
        "statusdesk.transports (distribution statusdesk-broken-transport) failed to load: "
        "ModuleNotFoundError")


def test_a_transport_may_not_take_a_core_key(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    install_entry_point(tmp_path, "database", "bot.transports.console:ConsolePlugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.clear_caches()
    error = plugins.plugins(plugins.TRANSPORTS)["database"].error
    assert error is not None and error.endswith("'database' is a key of the core configuration")
