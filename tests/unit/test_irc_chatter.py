"""The raw-line filter that lets ordinary channel chatter skip parsing must never skip a
line the desk would act on: checked against the desk's own parser."""

from __future__ import annotations

import pytest

from bot.transports.irc.chatter import OrdinaryChatter
from bot.transports.irc.isupport import casefold_for
from commands.casemapping import CaseMapping
from commands.grammar import may_be_for_bot, parse

SOURCE = ":alice!a@example.org"

TEXTS = [
    "hello all", "the mirror is slow", "#status alert db down", "#now", "@statusdesk now",
    "statusdesk: what's happening?", "Statusdesk, #now", "STATUSDESK now", "statusdesk",
    "statusdesk2 is another bot", "sd: hi", " #now", "\x01ACTION waves\x01", "", "[x] done",
    "ßtatus", "status?", "what's happening?", "#status-page is slow", "sTaTuSdEsK_: #now",
]


def chatter(kept: tuple[str, ...] = ()) -> OrdinaryChatter:
    filter_ = OrdinaryChatter("statusdesk", kept)
    filter_.configure(casefold_for(None), ["#Ops", "#infra"])
    return filter_


@pytest.mark.parametrize("text", TEXTS)
def test_a_skipped_line_is_one_the_desk_would_ignore(text: str) -> None:
    line = f"{SOURCE} PRIVMSG #ops :{text}"
    for nick in ("statusdesk", "statusdesk_"):
        if chatter().ordinary(line, nick):
            assert parse(text, "statusdesk") is None
            assert parse(text, nick) is None  # addressed by a fallback nick
            assert not may_be_for_bot(text, "statusdesk")


def test_ordinary_chatter_is_recognised() -> None:
    assert chatter().ordinary(f"{SOURCE} PRIVMSG #ops :the mirror is slow", "statusdesk")
    assert chatter().ordinary(f"{SOURCE} PRIVMSG #OPS :hello", "statusdesk")  # CASEMAPPING
    assert chatter().ordinary(f"@time=2026-12-06T20:00:00Z {SOURCE} PRIVMSG #infra :hi",
                              "statusdesk")


@pytest.mark.parametrize("line", [
    f"{SOURCE} PRIVMSG #ops :#status alert db down",   # a command
    f"{SOURCE} PRIVMSG #ops :statusdesk: now",          # addressed
    f"{SOURCE} PRIVMSG #ops :Statusdesk_ now",          # addressed to the fallback nick
    f"{SOURCE} PRIVMSG #elsewhere :hello",              # not our channel
    f"{SOURCE} PRIVMSG @#ops :hello",                   # STATUSMSG
    f"{SOURCE} PRIVMSG statusdesk :hello",              # private
    f"{SOURCE} NOTICE #ops :hello",                     # not a PRIVMSG
    f"{SOURCE} PRIVMSG #ops hello",                     # no trailing parameter
    f"@account=alice {SOURCE} PRIVMSG #ops :hello",     # the roster learns an account
    f"{SOURCE} PRIVMSG #ops :été",                      # not ASCII first: full path
    ":irc.example.org 353 statusdesk = #ops :alice bob",
    "PING :irc.example.org",
])
def test_anything_else_takes_the_full_path(line: str) -> None:
    assert not chatter().ordinary(line, "statusdesk_")


def test_captured_channels_take_the_full_path() -> None:
    kept = chatter(("#ops",))
    assert not kept.ordinary(f"{SOURCE} PRIVMSG #OPS :hello", "statusdesk")
    assert kept.ordinary(f"{SOURCE} PRIVMSG #infra :hello", "statusdesk")


def test_rfc1459_folding_of_the_first_character() -> None:
    filter_ = OrdinaryChatter("[bot]", ())
    filter_.configure(CaseMapping.RFC1459.fold, ["#ops"])
    assert not filter_.ordinary(f"{SOURCE} PRIVMSG #ops :{{bot}} now", "[bot]")
    assert filter_.ordinary(f"{SOURCE} PRIVMSG #ops :hello", "[bot]")
