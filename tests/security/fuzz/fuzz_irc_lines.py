"""atheris: IRC line handling, both ways.

Out (first byte even): `split_text` of any text for any target makes lines that fit 512
bytes as the server relays them, carry no CR/LF/NUL/CTCP, and together say the whole text or
end with an ellipsis. In (first byte odd): the bytes go, as a server would send them, into
the real IrcTransport registered on a scripted server (tests/security/irc_wire.py); no
handler of ours may raise, the bot must answer the PING after them, every message it hands
on must parse, and every line it writes must be a valid IRC line.
"""

from __future__ import annotations

import asyncio
import atexit
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["bot.transports.irc", "commands"]):
    from bot.transports.irc.lines import (
        ELLIPSIS,
        MAX_LINE,
        sanitize,
        split_text,
        text_budget,
    )
    from tests.security.irc_wire import WireRig, wire_rig

from tests.security.fuzz.harness import main

PREFIX = "statusdesk!" + "u" * 10 + "@" + "h" * 63
TARGETS = ("#ops", "#" + "c" * 60, "alice")
COMMANDS = ("NOTICE", "PRIVMSG", "TOPIC")

_loop = asyncio.new_event_loop()
_rig: WireRig | None = None


def _started_rig() -> WireRig:
    global _rig
    if _rig is None:
        tmp = tempfile.TemporaryDirectory()
        context = wire_rig(Path(tmp.name))
        _rig = _loop.run_until_complete(context.__aenter__())

        def stop() -> None:
            _loop.run_until_complete(context.__aexit__(None, None, None))
            tmp.cleanup()

        atexit.register(stop)
    return _rig


def _squash(text: str) -> str:
    return "".join(text.split())


def lines_out(data: bytes) -> None:
    """Bytes 0-2: target, command, line limit; the rest is the text (invalid UTF-8 as lone
    surrogates, which split_text must not pass on)."""
    if len(data) < 3:
        return
    target, command = TARGETS[data[0] % len(TARGETS)], COMMANDS[data[1] % len(COMMANDS)]
    max_lines = 1 + data[2] % 20
    text = data[3:].decode("utf-8", "surrogateescape")
    lines = split_text(text, text_budget(PREFIX, command, [target]), max_lines)
    assert len(lines) <= max_lines
    for line in lines:
        relayed = f":{PREFIX} {command} {target} :{line}\r\n".encode()
        assert len(relayed) <= MAX_LINE, (text, line)
        assert line and not any(c in line for c in "\x00\x01\r\n"), (text, line)
    whole, got = _squash(sanitize(text)), _squash("".join(lines))
    if got != whole:
        assert len(lines) == max_lines and lines[-1].endswith(ELLIPSIS), (text, lines)
        assert whole.startswith(got.removesuffix(ELLIPSIS)), (text, lines)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    if data[0] % 2 == 0:
        lines_out(data[1:])
    else:
        _loop.run_until_complete(_started_rig().feed(data[1:], within=10))


if __name__ == "__main__":
    # The bot and its database started before the first input: that takes seconds, which
    # libFuzzer would count against the input's -timeout.
    _started_rig()
    main("irc_lines", TestOneInput)
