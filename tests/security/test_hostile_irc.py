"""The hostile corpus through the bot on a real IRC server (ngIRCd), checked by parsing what a
watcher in the channel receives.

Each sample is posted twice: by a whitelisted user on IRC (`#status notice`, as the server
can carry it: no CR, LF or NUL inside a line, and raw invalid UTF-8 bytes), and by the console
operator (`#status alert`, CR/LF and all, as Matrix or the console deliver it), which the bot
broadcasts as a NOTICE and sets as the topic. Every line the bot makes the server relay must
be one NOTICE, TOPIC or PRIVMSG to the channel, with no control characters (the bot uses no
formatting), and together the lines must carry the whole cleaned text, or a topic cut with
an ellipsis.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from bot.transports.irc.lines import fit
from tests.figures import record
from tests.irc_bot import running_bot, unique
from tests.irc_client import Line, RawClient
from tests.security.hostile import RAW_IRC, SAMPLES, TOO_LONG, expected_text
from tests.servers.ngircd import NgircdServer

ALICE = "  - {name: alice, roles: [status, incident], irc: {nick: alice}}\n"
FAST_RATE = "{burst: 40, per_second: 20.0}"
_SURROGATES = re.compile("[\ud800-\udfff]")

IRC_SAMPLES = ("crlf-injection", "lf-injection", "nul", "ctcp-action", "ctcp-dcc",
               "irc-formatting", "bidi-override", "zero-width", "script-tag", "lone-surrogates",
               "long-utf8", "huge-100kB")
"""The samples aimed at IRC, for `make test`: ngIRCd throttles the bot to about a line a
second after a burst, so the whole corpus runs under `make test-soak`."""
ALICE_COMMANDS = ("#status notice", "#log", "#incident open", "#success")


def _bare(text: str) -> str:
    """Without any whitespace: IRC lines are split at spaces, which the split drops."""
    return "".join(text.split())


def _over_irc(sample: str) -> str:
    """What an IRC client can put in one line: the server splits at CR, LF and NUL, and a
    lone surrogate has no UTF-8 form (raw invalid bytes are RAW_IRC's business)."""
    return _SURROGATES.sub("\ufffd", re.sub("[\r\n\0]", " ", sample))


async def _carried(watcher: RawClient, bot: str, command: str, since: int, want: str,
                   within: float = 30.0) -> list[Line]:
    """Wait until the bot's `command` lines since `since` carry `want`; those lines."""
    deadline = time.monotonic() + within
    while True:
        lines = watcher.matching(lambda m: m.nick == bot and m.command == command, since=since)
        if _bare(want) in _bare("".join(m.text for m in lines)):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{command} lines never carried {want[:120]!r}: "
                                 f"{[m.raw[:200] for m in lines]}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("names", [
    pytest.param(IRC_SAMPLES, id="irc-samples"),
    pytest.param(tuple(SAMPLES), id="whole-corpus", marks=pytest.mark.soak),
])
async def test_hostile_texts_reach_irc_as_single_safe_lines(
        ngircd: NgircdServer, watcher: RawClient, sqlite_url: str, names: tuple[str, ...]
) -> None:
    channel = unique("#hostile-")
    nick = unique("desk")
    async with running_bot(sqlite_url, ngircd.port, [channel], nick=nick, users=ALICE,
                           rate=FAST_RATE) as bot:
        await bot.joined()
        await watcher.join(channel)
        alice = await RawClient.connect(ngircd.host, ngircd.port, "alice")
        try:
            await alice.join(channel)
            start = watcher.mark()
            posted = 0
            for number, name in enumerate(names, start=1):
                sample, tag = SAMPLES[name], f"H{number}"
                if name in TOO_LONG:
                    continue  # below: it cannot cross IRC at all
                since = watcher.mark()
                await bot.console(f"#status alert {tag} {sample}")
                await _carried(watcher, nick, "NOTICE", since, f"NOTICE: {tag} "
                               f"{expected_text(sample)}")
                topic = (await _carried(watcher, nick, "TOPIC", since, tag))[-1].text
                full = f"{tag} {expected_text(sample)}"
                assert topic == full or (topic.endswith("…") and
                                         full.startswith(topic[:-1].rstrip())), (name, topic)

                since = watcher.mark()
                command = ALICE_COMMANDS[number % len(ALICE_COMMANDS)]
                # Within one 512-byte line as alice's client sends it (ngIRCd drops longer).
                body = fit(f"{tag}i {_over_irc(sample)}", 400)
                await alice.say(channel, f"{command} {body}")
                if command == "#status notice":
                    await _carried(watcher, nick, "NOTICE", since,
                                   f"NOTICE: {expected_text(body)}")
                else:  # the bot's answer to alice
                    await watcher.wait_for(lambda m: m.nick == nick and "alice" in m.text,
                                           since=since, within=30)
                posted += 2

            for name, raw in RAW_IRC.items():
                since = watcher.mark()
                await alice.send_bytes(f"PRIVMSG {channel} :#status notice {name} ".encode()
                                       + raw)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")  # the transport's lenient decoding
                await _carried(watcher, nick, "NOTICE", since,
                               f"NOTICE: {name} {expected_text(text)}")
                posted += 1

            # The 100 kB sample cannot cross IRC (512-byte lines); over the console it is
            # refused with its length, and nothing goes out.
            huge = SAMPLES["huge-100kB"]
            since = watcher.mark()
            replies = await bot.console(f"#status alert {huge}")
            assert any(f"{len(huge)} characters; the limit is" in r for r in replies), replies

            # The end marker: everything before it has been relayed.
            await bot.console("#status notice end of the corpus")
            await _carried(watcher, nick, "NOTICE", since, "NOTICE: end of the corpus")
            assert not any("y" * 400 in _bare(m.text) for m in watcher.lines[since:])

            problems = _unsafe_lines(watcher.lines[start:], nick, channel)
            assert not problems, "\n".join(problems)
        finally:
            await alice.close()
    record("hostile corpus", f"{posted} hostile posts through the bot on ngIRCd, "
           f"{len(watcher.lines) - start} relayed lines parsed: 0 injected commands")


def _unsafe_lines(lines: list[Line], bot: str, channel: str) -> list[str]:
    """Every line from the bot must be one message to the channel, free of control codes."""
    problems = []
    for line in lines:
        if line.nick != bot:
            continue
        if line.command not in ("NOTICE", "TOPIC", "PRIVMSG"):
            problems.append(f"unexpected command: {line.raw[:200]!r}")
            continue
        if len(line.params) != 2 or line.params[0].lower() != channel.lower():
            problems.append(f"unexpected target or parameters: {line.raw[:200]!r}")
        controls = [c for c in line.text if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F]
        if controls:
            problems.append(f"control characters {controls!r}: {line.raw[:200]!r}")
        if "\u202e" in line.text or "\u200b" in line.text:
            problems.append(f"bidi or zero-width characters: {line.raw[:200]!r}")
        if len(line.raw.encode("utf-8")) + 2 > 512:
            problems.append(f"line over 512 bytes: {line.raw[:80]!r}...")
    return problems
