"""atheris: the chat grammar. `parse` never raises, whatever the text, nick or mode; what it
returns is a command, a usage error or None; a command's free text is clean and renders back
to the same command."""

from __future__ import annotations

import dataclasses

import atheris

with atheris.instrument_imports(include=["commands"]):
    from commands.grammar import parse, render
    from commands.model import Command, ParseError
    from commands.text import clean_text

from tests.security.fuzz.harness import main

NICKS = ("statusdesk", "s", "", "Stat|Desk[1]")


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    # First byte: which nick and whether addressed; the rest is the text, invalid UTF-8
    # becoming lone surrogates (Matrix can deliver those from JSON escapes).
    nick, addressed = NICKS[data[0] % len(NICKS)], bool(data[0] & 4)
    text = data[1:].decode("utf-8", "surrogateescape")
    result = parse(text, nick, addressed=addressed)
    if result is None or isinstance(result, ParseError):
        return
    assert isinstance(result, Command), result
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if field.name in ("text", "title", "topic") and isinstance(value, str):
            assert value and clean_text(value) == value, (text, result)
    try:
        canonical = render(result)
    except ValueError:
        return
    assert parse(canonical) == result, (text, canonical, result)


if __name__ == "__main__":
    main("grammar", TestOneInput)
