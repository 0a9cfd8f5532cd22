"""commands.text.clean_text: untrusted chat text made safe to store and send again."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.text import clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text", "plain text"),
        ("", ""),
        ("   ", ""),
        # formatting toggles are removed, not turned into spaces
        ("\x02bold\x02 \x1ditalic\x1d \x1funder\x1f", "bold italic under"),
        ("\x1estrike\x1e \x11mono\x11 \x16rev\x16 end\x0f", "strike mono rev end"),
        # colour codes take their digits with them
        ("\x0304red\x03 text", "red text"),
        ("\x034,12on blue\x03", "on blue"),
        ("\x0312,05x", "x"),
        ("\x031,2x", "x"),
        ("\x03123", "3"),  # two digits at most belong to the colour
        ("\x0304,text", ",text"),  # a comma without digits is text
        ("\x03,05x", ",05x"),  # no foreground: the comma is text
        ("100\x03%", "100%"),
        ("\x03\x0304x", "x"),
        # hex colours
        ("\x04FF0000red\x04", "red"),
        ("\x04ff0000,00FF00x", "x"),
        ("\x04FF00zz", "FF00zz"),  # not six hex digits: only \x04 goes
        # CTCP and control characters become spaces
        ("\x01ACTION waves\x01", "ACTION waves"),
        ("a\x01b", "a b"),
        ("hi\r\nPRIVMSG #x :pwned", "hi PRIVMSG #x :pwned"),
        ("hi\rQUIT", "hi QUIT"),
        ("hi\nthere", "hi there"),
        ("nul\x00byte", "nul byte"),
        ("tab\there", "tab here"),
        ("del\x7fete", "del ete"),
        ("c1\x85next\x9bline", "c1 next line"),
        ("bell\x07", "bell"),
        ("\x1b[31mansi", "[31mansi"),
        # bidi overrides and isolates are removed
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("\u202aa\u202bb\u202cc\u202dd\u202e", "abcd"),
        ("\u2066x\u2067y\u2068z\u2069", "xyz"),
        # zero-width characters are removed
        ("ad\u200bmin", "admin"),
        ("a\u200cb\u200dc\u200ed\u200fe", "abcde"),
        ("\ufeffbom\u2060wj\u061c", "bomwj"),
        # whitespace collapses, both ends are stripped
        ("  many   spaces\t\t and\n\n lines  ", "many spaces and lines"),
        ("nbsp\u00a0\u00a0here", "nbsp here"),
        ("line\u2028sep\u2029para", "line sep para"),
        ("\u3000ideographic\u3000", "ideographic"),
        # ordinary Unicode is kept
        ("café ☕ 日本語 😀", "café ☕ 日本語 😀"),
        ("what’s up?", "what’s up?"),
        # lone surrogates cannot be encoded; they become U+FFFD
        ("a\ud800b", "a\ufffdb"),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


_NASTY = st.sampled_from(
    [
        "\x02",
        "\x03",
        "\x0304",
        "\x034,5",
        "\x04",
        "\x04FFFFFF",
        "\x0f",
        "\x16",
        "\x1d",
        "\x1f",
        "\x1e",
        "\x11",
        "\x01",
        "\r",
        "\n",
        "\t",
        "\x00",
        "\x7f",
        "\x85",
        "\u202e",
        "\u2066",
        "\u200b",
        "\u200d",
        "\u2028",
        "\ufeff",
        " ",
        "  ",
        "\u00a0",
        ",",
        "12",
        "0",
        "ab",
        "é",
        "#",
        "\ud800",
    ]
)
_TEXTS = st.one_of(
    st.text(),
    st.text(st.characters(codec=None, exclude_categories=())),
    st.lists(_NASTY).map("".join),
    st.lists(st.one_of(_NASTY, st.text(max_size=3))).map("".join),
)


@given(_TEXTS)
def test_clean_text_is_safe(raw: str) -> None:
    cleaned = clean_text(raw)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    for char in cleaned:
        code = ord(char)
        assert code >= 0x20, repr(cleaned)
        assert not 0x7F <= code <= 0x9F, repr(cleaned)
        assert not 0x200B <= code <= 0x200F, repr(cleaned)
        assert not 0x202A <= code <= 0x202E, repr(cleaned)
        assert not 0x2066 <= code <= 0x2069, repr(cleaned)
        assert not 0xD800 <= code <= 0xDFFF, repr(cleaned)
        assert char == " " or not char.isspace(), repr(cleaned)
    cleaned.encode("utf-8")  # storable and sendable


@given(_TEXTS)
def test_clean_text_is_idempotent(raw: str) -> None:
    cleaned = clean_text(raw)
    assert clean_text(cleaned) == cleaned


@given(st.text(st.characters(categories=["L", "N", "P", "S"])))
def test_clean_text_keeps_visible_text(raw: str) -> None:
    assert clean_text(raw) == raw
