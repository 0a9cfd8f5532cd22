"""Outgoing IRC text: sanitizing, splitting to 512-byte lines, capping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.transports.irc.lines import (
    ELLIPSIS,
    MAX_LINE,
    fit,
    sanitize,
    split_text,
    text_budget,
    truncate,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("a\r\nQUIT :bye", "a QUIT :bye"),
        ("a\rb\nc\x00d", "a b c d"),
        ("\x01VERSION\x01", " VERSION "),
        ("bold \x02stays\x02", "bold \x02stays\x02"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ],
)
def test_sanitize(raw: str, expected: str) -> None:
    assert sanitize(raw) == expected


def test_fit_never_cuts_inside_a_utf8_sequence() -> None:
    assert fit("aé", 2) == "a"  # é is two bytes: it does not fit in the one left
    assert fit("€€", 5) == "€"
    assert fit("€€", 6) == "€€"
    assert fit("abc", 0) == ""


def test_truncate_adds_an_ellipsis_only_when_it_cut() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("a" * 20, 10)
    assert cut.endswith(ELLIPSIS) and len(cut.encode()) <= 10


def test_split_prefers_spaces_and_keeps_every_word() -> None:
    text = " ".join(f"word{i}" for i in range(100))
    lines = split_text(text, 60)
    assert all(len(line.encode()) <= 60 for line in lines)
    assert " ".join(lines) == text
    assert all(not line.startswith(" ") and not line.endswith(" ") for line in lines)


def test_split_cuts_a_long_word_between_characters() -> None:
    lines = split_text("é" * 100, 21)
    assert all(len(line.encode()) <= 21 for line in lines)
    assert "".join(lines) == "é" * 100


def test_split_of_empty_text_gives_no_lines() -> None:
    assert split_text("", 100) == []
    assert split_text(" \r\n ", 100) == []


def test_injection_stays_inside_one_line() -> None:
    assert split_text("ok\r\nQUIT :pwned", 100) == ["ok QUIT :pwned"]


def test_very_long_text_is_capped_with_an_ellipsis() -> None:
    lines = split_text("x " * 10_000, 100, max_lines=4)
    assert len(lines) == 4
    assert lines[-1].endswith(ELLIPSIS)
    assert all(len(line.encode()) <= 100 for line in lines)


def test_budget_counts_our_prefix_and_all_targets() -> None:
    prefix = "statusdesk!~statusdesk@host.example.org"
    one = text_budget(prefix, "NOTICE", ["#ops"])
    assert one == MAX_LINE - 2 - len(f":{prefix} NOTICE #ops :")
    many = ["#" + "c" * 60 + str(i) for i in range(8)]
    assert text_budget(prefix, "NOTICE", many) == MAX_LINE - 2 - len(
        "NOTICE " + ",".join(many) + " :")


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=8, max_value=500))
def test_split_lines_always_fit_and_are_safe(text: str, budget: int) -> None:
    lines = split_text(text, budget, max_lines=1000)
    for line in lines:
        encoded = line.encode("utf-8")
        assert len(encoded) <= budget
        assert not any(c in line for c in "\r\n\x00\x01")
    # Nothing is lost but the whitespace at the cuts.
    assert "".join("".join(lines).split()) == "".join(sanitize(text).split())
