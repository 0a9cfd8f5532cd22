"""Property tests (hypothesis) of everything that reads untrusted text: the command grammar,
the configuration loader and the IRC line handling, in and out.

Each property holds for every input: no exception escapes, every call returns within the
deadline (a quadratic regex or a YAML alias bomb shows as a deadline failure), and what comes
out is safe to send or store. The example budget keeps this part of `make test` to seconds;
tests/security/fuzz/ runs the same targets under atheris for much longer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config, ConfigError, load_config_text
from bot.transports.irc.lines import (
    ELLIPSIS,
    MAX_LINE,
    MAX_LINES_PER_TEXT,
    sanitize,
    split_text,
    text_budget,
    truncate,
)
from commands.grammar import KEYWORDS, parse, render
from commands.model import Command, ParseError
from commands.text import clean_text
from tests.security.irc_wire import BOT, CHANNEL, wire_rig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = (ROOT / "config.example.yaml").read_text()

FAST = settings(max_examples=300, deadline=500, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Characters that mean something to IRC, HTML, Markdown, XML, JSON or a terminal, mixed into
# otherwise ordinary text so the generated inputs get past the grammar's first checks.
HOSTILE_CHARS = (
    "\x00\x01\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f\r\n\t\x7f\x85\x9b"
    "\u200b\u200d\u202a\u202e\u2066\u2069\u2028\u2029\ufeff\ufffe\uffff\ud800\udfff"
    "<>&\"'`|[]()*_#!:;,@$ \\/%é€𝄞"
)
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(HOSTILE_CHARS), st.characters()), max_size=300)
words = st.sampled_from([
    "alert", "notice", "log", "ok", "help", "open", "list", "sev", "sev1", "sev9", "lead", "em",
    "resolved", "investigating", "link", "override", "until", "2026-12-01", "09:00", "12",
    "#12", "0", "99999999999999999999", "https://x.example/1", "javascript:alert(1)", "alice",
    "@bob:example.org", "-",
])


@st.composite
def chat_lines(draw: st.DrawFn) -> str:
    """Something that looks like a command often enough to reach every handler."""
    head = draw(st.sampled_from([
        *(f"#{k}" for k in KEYWORDS), "#STATUS", "#Incident", f"{BOT}: ", f"@{BOT} ",
        f"{BOT}, #", f"{BOT}", "", "#", "##",
    ]))
    body = draw(st.lists(st.one_of(words, hostile_text), max_size=8))
    return head + " " + " ".join(body)


any_text = st.one_of(chat_lines(), hostile_text)


# --- the grammar ----------------------------------------------------------------------------------


def _free_texts(command: Command) -> list[str]:
    values = [getattr(command, f.name) for f in dataclasses.fields(command)
              if f.name in ("text", "title", "topic")]
    return [v for v in values if isinstance(v, str)]


@FAST
@given(any_text, st.sampled_from([BOT, "s", "", "x" * 64]), st.booleans())
def test_parse_returns_a_command_an_error_or_none(text: str, nick: str, addressed: bool) -> None:
    result = parse(text, nick, addressed=addressed)
    assert result is None or isinstance(result, (Command, ParseError)), result
    if isinstance(result, ParseError):
        assert result.usage
        return
    if result is None:
        return
    for value in _free_texts(result):
        assert value and clean_text(value) == value, (text, result)
    try:
        canonical = render(result)
    except ValueError:
        return  # a value with no text of its own (see grammar's docstring)
    assert parse(canonical) == result, (text, canonical)


@FAST
@given(any_text)
def test_clean_text_is_one_safe_line(text: str) -> None:
    clean = clean_text(text)
    assert clean_text(clean) == clean
    assert clean == clean.strip()
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in clean)
    assert not any(c in clean for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in clean)
    assert len(clean) <= len(text)
    clean.encode("utf-8")


def test_parse_of_a_100_kb_line_is_refused_quickly_and_says_why() -> None:
    text = "#status alert " + "x" * 100_000
    started = time.perf_counter()
    result = parse(text)
    assert time.perf_counter() - started < 0.5
    assert isinstance(result, ParseError)
    assert result.reason is not None and "100000 characters" in result.reason


# --- IRC lines out --------------------------------------------------------------------------------


def _squash(text: str) -> str:
    return "".join(text.split())


@FAST
@given(hostile_text.map(lambda t: t * 20) | hostile_text,
       st.sampled_from(["#ops", "#a", "#" + "c" * 50, "alice"]),
       st.sampled_from(["NOTICE", "PRIVMSG", "TOPIC"]),
       st.integers(1, 24))
def test_split_text_fits_512_bytes_and_loses_nothing_silently(
        text: str, target: str, command: str, max_lines: int) -> None:
    prefix = f"{BOT}!{'u' * 10}@{'h' * 63}"
    budget = text_budget(prefix, command, [target])
    lines = split_text(text, budget, max_lines)
    expected = _squash(sanitize(text))
    assert len(lines) <= max_lines
    for line in lines:
        assert line and line == line.strip()
        relayed = f":{prefix} {command} {target} :{line}\r\n".encode()
        assert len(relayed) <= MAX_LINE, (len(relayed), line)
        assert not any(c in line for c in "\x00\x01\r\n")
    got = _squash("".join(lines))
    if got == expected:
        return
    # Cut: only because the text needed more lines than allowed, and then it says so.
    assert len(lines) == max_lines, (text, lines)
    assert lines[-1].endswith(ELLIPSIS)
    assert expected.startswith(got.removesuffix(ELLIPSIS)), (expected, got)


@FAST
@given(hostile_text.map(lambda t: t * 10), st.integers(0, 600))
def test_truncate_marks_every_cut(text: str, budget: int) -> None:
    out = truncate(text, budget)
    assert len(out.encode("utf-8")) <= budget
    if out != text:
        assert out.endswith(ELLIPSIS) or budget < len(ELLIPSIS.encode())


def test_a_100_kb_text_becomes_at_most_16_lines_the_last_marked() -> None:
    lines = split_text("word " * 20_000, 400)
    assert len(lines) == MAX_LINES_PER_TEXT
    assert lines[-1].endswith(ELLIPSIS)


# --- configuration ----------------------------------------------------------------------------

yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), hostile_text,
    st.sampled_from(["${HOME}", "${NOPE}", "$${x}", "${", "30s", "99999999999999999999d",
                     "127.0.0.1:99999", "#chan", "@u:s", "monday 09:00", "25:99",
                     "sqlite+aiosqlite:///x.db", "postgresql+asyncpg://u@h/d", "2001-02-30",
                     "!!int x", "*a", "&a", "[", "{", "? x", "- - -", "'", '"', "\t"]),
)


def _yaml_lines(draw: st.DrawFn) -> str:
    """The example configuration with a few lines replaced, cut or spliced with junk."""
    lines = EXAMPLE_CONFIG.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        key, colon, _ = line.partition(":")
        action = draw(st.sampled_from(["value", "cut", "junk", "drop", "dup"]))
        if action == "value" and colon:
            lines[index] = f"{key}: {draw(yaml_scalars)}"
        elif action == "cut":
            lines[index] = line[: draw(st.integers(0, len(line)))]
        elif action == "junk":
            lines[index] = line + draw(hostile_text)
        elif action == "drop":
            del lines[index]
        else:
            lines.insert(index, line)
    return "\n".join(lines)


configs = st.one_of(st.composite(_yaml_lines)(), hostile_text,
                    st.builds(lambda s: f"database: {{url: {s!r}}}\nirc: {s}", yaml_scalars))


@settings(FAST, max_examples=200, deadline=3000)
@given(configs)
def test_config_text_gives_a_config_or_problems_with_paths(text: str) -> None:
    env = {"HOME": "/home/x", "IRC_PASSWORD": "p", "MATRIX_PASSWORD": "m",
           "STATUSDESK_API_TOKEN": "t", "OPSGENIE_KEY": "o", "WEBHOOK_SECRET": "w",
           "GITHUB_TOKEN": "g", "PAGERDUTY_ROUTING_KEY": "r"}
    try:
        config = load_config_text(text, env=env)
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.path and problem.message, problem
            assert str(problem) == f"{problem.path}: {problem.message}"
        return
    assert isinstance(config, Config)


@pytest.mark.parametrize("text", [
    "a: &a [*a]",
    "database: &a {url: *a}",
    "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n"
        for i in range(8)),
    "[" * 20_000,
    "{" * 9_786,
    "a: 2001-02-30",
    "irc: [{port: !!int x}]",
    "a: !!bool x",
    "a: !!timestamp x",
    "a: " + "9" * 5000,
    "incidents: {remind_after: 99999999999999999999d}",
], ids=["self-alias", "alias-in-mapping", "billion-laughs", "deep", "deep-braces", "bad-date",
        "bad-int-tag", "bad-bool-tag", "bad-timestamp-tag", "5000-digits", "huge-duration"])
def test_hostile_yaml_is_a_config_error_quickly(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, env={})
    assert time.perf_counter() - started < 5
    assert all(p.path and p.message for p in caught.value.problems)


# --- IRC lines in -----------------------------------------------------------------------------

tag_values = st.text(alphabet=st.sampled_from("ab=;\\: s\x00\r\n\xff"), max_size=12)
prefixes = st.sampled_from([
    ":alice!a@h.example ", ":alice ", ":" + BOT + "!bot@bot.example ", ":srv ", "", ": ",
    ":a!@ ", ":!@ ", ":" + "n" * 300 + "!u@h ",
])
irc_commands = st.sampled_from([
    "PRIVMSG", "NOTICE", "TOPIC", "JOIN", "PART", "KICK", "QUIT", "NICK", "MODE", "CAP",
    "AUTHENTICATE", "ERROR", "PING", "001", "005", "332", "354", "330", "366", "433", "482",
    "900", "904", "privmsg", "",
])
targets = st.sampled_from([CHANNEL, BOT, "#OPS", "#other", "@#ops", "*", "", BOT.upper()])


@st.composite
def irc_lines(draw: st.DrawFn) -> bytes:
    tags = draw(st.lists(st.tuples(st.sampled_from(["account", "msgid", "time", "+x", ""]),
                                   st.one_of(st.none(), tag_values)), max_size=3))
    tag_part = ("@" + ";".join(k if v is None else f"{k}={v}" for k, v in tags) + " "
                if tags else "")
    params = draw(st.lists(st.one_of(targets, hostile_text.map(lambda t: t.replace(" ", "")),
                                     any_text.map(lambda t: ":" + t)), max_size=4))
    line = tag_part + draw(prefixes) + draw(irc_commands) + " " + " ".join(params)
    data = line.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data += draw(st.binary(max_size=20))  # invalid UTF-8, stray CR/LF/NUL as they arrive
    return data


def test_irc_lines_from_the_server_never_break_the_transport(tmp_path: Path) -> None:
    # hypothesis calls a synchronous function: the rig's loop runs during each feed only.
    loop = asyncio.new_event_loop()
    rig_context = wire_rig(tmp_path)
    rig = loop.run_until_complete(rig_context.__aenter__())
    fed = 0

    @settings(FAST, max_examples=400, deadline=None)
    @given(st.lists(irc_lines(), min_size=1, max_size=4))
    def lines_in(batch: list[bytes]) -> None:
        nonlocal fed
        loop.run_until_complete(rig.feed(b"\r\n".join(batch), within=10))
        fed += 1

    try:
        lines_in()
        # The bot is still connected and still hears commands after all that.
        heard = loop.run_until_complete(
            rig.feed(f":alice!a@h PRIVMSG {CHANNEL} :#status alert still here".encode()))
        assert any(m.text == "#status alert still here" for m in heard), heard
    finally:
        loop.run_until_complete(rig_context.__aexit__(None, None, None))
        loop.close()
    assert fed >= 100


SPLIT_BY_OLD_CTCP = [
    "#status notice a \x01ACTION b\x01 c",
    "#status notice \x01x\x01#status alert two commands in one message?",
    "#status notice quoted \x10n\x10r\x100 stays",
    "#status notice lonely \x01 delimiter",
]


async def test_one_irc_message_is_one_message_with_all_its_text_and_ctcp_still_works(
        tmp_path: Path) -> None:
    async with wire_rig(tmp_path) as rig:
        for text in SPLIT_BY_OLD_CTCP:
            heard = await rig.feed(f":alice!a@h PRIVMSG {CHANNEL} :{text}".encode())
            assert [m.text for m in heard] == [text]
        since = len(rig.server.received)
        heard = await rig.feed(f":alice!a@h PRIVMSG {BOT} :\x01VERSION\x01".encode())
        assert heard == []
        assert any(b"NOTICE alice :\x01VERSION statusdesk" in line
                   for line in rig.server.received[since:])
