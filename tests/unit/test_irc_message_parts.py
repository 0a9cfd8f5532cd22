"""Every ircdocs parser-tests vector for splitting a message and a source (tests/vectors/
ircdocs, CC0), run against the parts the IRC connection dispatches on; and the two vectors the
`irc` library alone gets wrong, shown failing there, so this edge can go once it is fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from irc.client import NickMask
from irc.message import Tag

from bot.transports.irc.message_parts import Source, parse_tags, split_line

VECTORS = Path(__file__).parent.parent / "vectors" / "ircdocs"


def _tests(name: str) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load((VECTORS / name).read_text())["tests"]
    return tests


MSG_SPLIT = _tests("msg-split.yaml")
USERHOST_SPLIT = _tests("userhost-split.yaml")


def test_all_vectors_are_there() -> None:
    assert (len(MSG_SPLIT), len(USERHOST_SPLIT)) == (35, 7)


@pytest.mark.parametrize("vector", MSG_SPLIT, ids=[v["input"][:40] for v in MSG_SPLIT])
def test_msg_split(vector: dict[str, Any]) -> None:
    atoms = vector["atoms"]
    parts = split_line(vector["input"])
    assert parts is not None
    assert parts.tag_values() == (atoms.get("tags") or {})
    assert (parts.source or None) == atoms.get("source")
    assert parts.verb == atoms["verb"]
    assert parts.params == atoms.get("params", [])


@pytest.mark.parametrize("vector", USERHOST_SPLIT, ids=[v["source"] for v in USERHOST_SPLIT])
def test_userhost_split(vector: dict[str, Any]) -> None:
    atoms = vector["atoms"]
    source = Source(vector["source"])
    assert source.nick == atoms["nick"]
    assert (source.user or "") == atoms.get("user", "")
    assert (source.host or "") == atoms.get("host", "")


def test_what_the_library_alone_gets_wrong() -> None:
    """The upstream bugs this module works around (see the report in its docstring). When
    an `irc` release fixes them this test fails: then the edge can use the library's own."""
    assert Tag.parse("a=b\\")["value"] == "b\\"  # the spec: "b"
    assert NickMask("coolguy@127.0.0.1").nick == "coolguy@127.0.0.1"  # the spec: "coolguy"
    assert NickMask("coolguy@127.0.0.1").host is None
    assert parse_tags("a=b\\") == [{"key": "a", "value": "b"}]
    assert Source("coolguy@127.0.0.1").host == "127.0.0.1"


@pytest.mark.parametrize(("source", "userhost"), [
    ("coolguy!ag@127.0.0.1", "ag@127.0.0.1"), ("coolguy@127.0.0.1", "@127.0.0.1"),
    ("coolguy!ag", "ag"), ("coolguy", None), ("irc.example.org", None),
])
def test_userhost_tells_a_person_from_a_server(source: str, userhost: str | None) -> None:
    """The transport drops lines whose source has no userhost (server notices)."""
    assert Source(source).userhost == userhost
