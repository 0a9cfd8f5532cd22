"""jaraco's `irc` library on asyncio, with the edges it lacks filed off.

The library parses lines into events and builds commands; this subclass makes it safe to
keep one connection object across reconnects and to feed it hostile input:

- lines are decoded leniently (UTF-8, else Latin-1), so bad bytes never stop the reader;
- a line the parser chokes on is skipped, not fatal to the rest of the buffer;
- a message is a CTCP only when it starts with \\x01 (the library would split one message
  into several events at every \\x01 and undo `\\x10` quoting, losing what the user wrote);
- callbacks from a socket we already replaced are ignored (a TLS connection can take long to
  report it closed; by then a new one is running on this object);
- outgoing lines are checked (no CR, LF or NUL, at most 512 bytes) and logged with the
  secrets (PASS, AUTHENTICATE) hidden;
- `abort()` drops a dead connection at once instead of waiting to flush to it;
- a line is split by `message_parts` (the library's split, with a tag value's trailing
  lone backslash dropped and a `nick@host` source read as nick and host, as IRCv3 and the
  ircdocs parser tests say);
- `ignore` (set by the transport) recognises, on the raw line, what nobody would act on
  (ordinary channel chatter): such a line skips the library's parse and its event object,
  which cost more than everything else a busy channel makes the bot do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from irc import events
from irc.client import Event, InvalidCharacters, ServerNotConnectedError, is_channel
from irc.client_aio import AioConnection, AioReactor, IrcProtocol
from jaraco.stream.buffer import LenientDecodingLineBuffer

from bot.transports.irc.message_parts import split_line

log = logging.getLogger("statusdesk.irc.wire")

_SECRET_COMMANDS = ("PASS ", "AUTHENTICATE ")
_PUBLIC_AUTHENTICATE = ("AUTHENTICATE PLAIN", "AUTHENTICATE +", "AUTHENTICATE *")


def redact(line: str) -> str:
    """The line as it may appear in a log."""
    if line.upper().startswith(_SECRET_COMMANDS) and line.upper() not in _PUBLIC_AUTHENTICATE:
        return line.split(" ", 1)[0] + " ***"
    return line


class _Protocol(IrcProtocol):  # type: ignore[misc]
    def data_received(self, data: bytes) -> None:
        if self.connection.live is self:
            self.connection.process_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connection.live is self:
            log.debug("connection lost: %s", exc)
            self.connection.disconnect()


class Connection(AioConnection):  # type: ignore[misc]
    buffer_class = LenientDecodingLineBuffer
    protocol_class = _Protocol
    real_server_name: str
    real_nickname: str
    """(The library's, set at connect and by `_process_line`.)"""

    def __init__(self, reactor: Any) -> None:
        super().__init__(reactor)
        self.live: _Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.last_received = time.monotonic()
        self.lines_received = 0
        self.lines_ignored = 0
        self.lines_sent: Counter[str] = Counter()
        """Lines written, by command (for the benches' line counts)."""
        self.ignore: Callable[[str], bool] | None = None
        """True for a raw line that needs no parsing at all (see the module's docstring)."""

    def factory(self, host: str, port: int, tls: ssl.SSLContext | None,
                first_lines: list[str]) -> Any:
        """A `connect_factory` for `connect()`: opens the socket and sends `first_lines`
        (`CAP LS 302`) before the library sends PASS/NICK/USER, so that the server holds
        registration until capability negotiation ends."""

        async def open_connection(protocol: _Protocol, _address: Any) -> tuple[Any, Any]:
            self.live = protocol
            loop = asyncio.get_running_loop()
            transport, proto = await loop.create_connection(
                lambda: protocol, host, port, ssl=tls,
                server_hostname=host if tls is not None else None,
            )
            for line in first_lines:
                transport.write(self._prep_message(line))
            return transport, proto

        return open_connection

    def process_data(self, new_data: bytes) -> None:
        self.last_received = time.monotonic()
        self.buffer.feed(new_data)
        ignore = self.ignore
        for line in self.buffer:
            if not line:
                continue
            self.lines_received += 1
            try:
                if ignore is not None and ignore(line):
                    self.lines_ignored += 1
                    continue
                self._process_line(line)
            except Exception:
                log.warning("skipped a line that could not be handled: %r", line[:300],
                            exc_info=True)

    def _process_line(self, line: str) -> None:
        """The library's `_process_line` (irc 20.5), on our split of the line."""
        self._handle_event(Event("all_raw_messages", self.get_server_name(), None, [line]))
        parts = split_line(line)
        if parts is None:
            log.debug("skipped a line that is no IRC message: %r", line[:300])
            return
        source, arguments, tags = parts.source, parts.params, parts.tags
        command = events.Command.lookup(parts.verb)
        if source and not self.real_server_name:
            self.real_server_name = source
        if command == "nick" and arguments:
            if source is not None and source.nick == self.real_nickname:
                self.real_nickname = arguments[0]
        elif command == "welcome" and arguments:
            # The nick the server gave us (a nicknameinuse callback may have changed it).
            self.real_nickname = arguments[0]
        elif command == "featurelist":
            self.features.load(arguments)
        handler = (self._handle_message if command in ("privmsg", "notice")
                   else self._handle_other)
        handler(arguments, command, source, tags)

    def _handle_message(self, arguments: Any, command: str, source: Any, tags: Any) -> None:
        """PRIVMSG and NOTICE. The library follows the 1994 CTCP draft: `a \\x01X\\x01 b`
        became the messages `a ` and ` b` plus a CTCP, and `\\x10n` became a line feed. Modern
        CTCP (https://modern.ircdocs.horse/ctcp) is a whole message starting with \\x01; any
        other text is one message, exactly as sent (the desk cleans it)."""
        if len(arguments) < 2:
            return  # no text: nothing to deliver
        target, text = arguments[0], arguments[1]
        if text.startswith("\x01"):
            super()._handle_message(arguments, command, source, tags)
            return
        channel = is_channel(target)
        if command == "privmsg":
            kind = "pubmsg" if channel else "privmsg"
        else:
            kind = "pubnotice" if channel else "privnotice"
        self._handle_event(Event(kind, source, target, [text], tags))

    def send_raw(self, string: str) -> None:
        if self.transport is None:
            raise ServerNotConnectedError("Not connected.")
        if "\r" in string or "\0" in string:
            raise InvalidCharacters("CR and NUL are not allowed in an IRC line")
        data = self._prep_message(string)
        if self.transport.is_closing():
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("> %s", redact(string))
        self.transport.write(data)
        self.lines_sent[string.split(" ", 1)[0].upper()] += 1

    def abort(self) -> None:
        """Drop the connection now; no QUIT, no flushing, no `disconnect` event."""
        self.live = None
        with contextlib.suppress(AttributeError):
            del self.connected
        if self.transport is not None:
            self.transport.abort()


class Reactor(AioReactor):  # type: ignore[misc]
    connection_class = Connection
