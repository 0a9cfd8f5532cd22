"""File names for captured chat inside the incident bundle: channel names are untrusted."""

from __future__ import annotations

import itertools
import posixpath
import unicodedata

import pytest

from bot.incidents.member_names import MAX_NAME, chat_member_names, safe_name

HOSTILE = [
    "../../etc/passwd",
    "..",
    ".",
    "",
    "/",
    "/etc/shadow",
    "#chan\x00evil",
    "#chan\r\nPRIVMSG #x :hi",
    "#\u202egnp.exe",              # right-to-left override: would display as "exe.png"
    "#zero\u200bwidth",
    "..\\..\\windows\\system32",
    "#a:b|c<d>e?f*g\"h",
    "\x1b[31m#red",
    "#" + "x" * 5000,
    " .hidden",
    "#\udcff",                     # a lone surrogate (bytes that were not UTF-8)
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_becomes_one_plain_component(name: str) -> None:
    safe = safe_name(name)
    assert safe and safe not in (".", "..")
    assert not safe.startswith(".")
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert all(not unicodedata.category(c).startswith(("C", "Z")) or c == " " for c in safe)
    assert len(safe) <= MAX_NAME
    assert safe == safe.strip()


def test_ordinary_names_are_kept() -> None:
    assert safe_name("#opendev") == "#opendev"
    assert safe_name("#openstack-infra") == "#openstack-infra"
    assert safe_name("#café") == "#café"
    assert safe_name("!room:example.org") == "!room_example.org"  # ':' is refused on Windows


def test_every_member_is_inside_chat_and_unique() -> None:
    channels = [("oftc", name) for name in HOSTILE]
    names = chat_member_names(channels)
    assert len(set(names.values())) == len(channels)
    assert len({n.casefold() for n in names.values()}) == len(channels)
    for name in names.values():
        assert name.startswith("chat/") and name.endswith(".log")
        assert posixpath.normpath(name) == name
        assert posixpath.dirname(name) == "chat"


def test_same_channel_on_two_networks_is_told_apart_by_network() -> None:
    names = chat_member_names([("oftc", "#opendev"), ("libera", "#opendev"), ("oftc", "#zuul")])
    assert names == {
        ("oftc", "#opendev"): "chat/#opendev@oftc.log",
        ("libera", "#opendev"): "chat/#opendev@libera.log",
        ("oftc", "#zuul"): "chat/#zuul.log",
    }


def test_names_that_collide_once_cleaned_get_a_hash() -> None:
    names = chat_member_names([("oftc", "#a/b"), ("oftc", "#a_b"), ("oftc", "#A_B")])
    values = sorted(names.values())
    assert len({v.casefold() for v in values}) == 3
    assert all(v.startswith(("chat/#a_b", "chat/#A_B")) for v in values)


def test_names_do_not_depend_on_the_order_they_come_in() -> None:
    channels = [("oftc", "#a/b"), ("oftc", "#a_b"), ("libera", "#a_b"), (None, "#x"),
                ("oftc", "../x"), ("oftc", "#x")]
    first = chat_member_names(channels)
    for order in itertools.permutations(channels):
        assert chat_member_names(order) == first
