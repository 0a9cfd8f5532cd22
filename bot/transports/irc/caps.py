"""IRCv3 capability negotiation and SASL PLAIN, without I/O.

`CapNegotiation` is fed what the server says (CAP, AUTHENTICATE, the SASL numerics) and
answers with the lines to send. The order follows the IRCv3 specifications (and what
Limnoria's irclib does): `CAP LS 302` before NICK/USER suspends registration; the LS reply
may span several lines (`CAP * LS * :...`); everything wanted is requested; once every
request is answered, SASL runs if `sasl` was acknowledged; `CAP END` finishes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["WANTED", "CapNegotiation", "SaslCredentials", "parse_caps"]

WANTED = frozenset({
    "account-notify",
    "account-tag",
    "extended-join",
    "message-tags",
    "multi-prefix",
    "server-time",
    "sasl",
})

SASL_CHUNK = 400
"""AUTHENTICATE payloads are sent in 400-byte pieces (IRCv3 SASL 3.1)."""

MAX_REQ_TEXT = 400
"""Keep each CAP REQ line well under 512 bytes."""


@dataclass(frozen=True)
class SaslCredentials:
    username: str
    password: str = field(repr=False)


def parse_caps(text: str) -> dict[str, str | None]:
    """`"sasl=PLAIN,EXTERNAL multi-prefix"` -> `{"sasl": "PLAIN,EXTERNAL",
    "multi-prefix": None}`."""
    caps: dict[str, str | None] = {}
    for item in text.split():
        name, sep, value = item.partition("=")
        if name:
            caps[name.lower()] = value if sep else None
    return caps


def _chunked_req(names: Iterable[str]) -> list[str]:
    lines: list[str] = []
    current: list[str] = []
    for name in sorted(names):
        if current and len(" ".join([*current, name])) > MAX_REQ_TEXT:
            lines.append("CAP REQ :" + " ".join(current))
            current = []
        current.append(name)
    if current:
        lines.append("CAP REQ :" + " ".join(current))
    return lines


class CapNegotiation:
    """One connection's capability negotiation (make a new one per connection)."""

    def __init__(self, sasl: SaslCredentials | None = None) -> None:
        self._sasl = sasl
        self.offered: dict[str, str | None] = {}
        self.enabled: set[str] = set()
        self._ls_done = False
        self._pending: list[frozenset[str]] = []
        self._sasl_started = False
        self.finished = False
        """CAP END was sent (or the server does not negotiate): registration may complete."""
        self.sasl_account: str | None = None
        self.sasl_error: str | None = None

    # --- CAP ----------------------------------------------------------------------------

    def on_cap(self, params: list[str]) -> list[str]:
        """A CAP message: `params` after the target (`["LS", "*", "a b"]`, `["ACK", "a"]`)."""
        if not params:
            return []
        sub = params[0].upper()
        rest = params[1:]
        if sub == "LS":
            more = len(rest) > 1 and rest[0] == "*"
            self.offered.update(parse_caps(rest[-1] if rest else ""))
            if more or self._ls_done:
                return []
            self._ls_done = True
            if self._sasl is not None and "sasl" not in self.offered:
                self.sasl_error = "the server does not offer SASL"
            return self._request(self._wanted(self.offered))
        if sub == "ACK":
            return self._on_ack(parse_caps(rest[-1] if rest else ""))
        if sub == "NAK":
            return self._on_nak(frozenset(parse_caps(rest[-1] if rest else "")))
        if sub == "NEW":
            new = parse_caps(rest[-1] if rest else "")
            self.offered.update(new)
            # SASL after registration would mean re-authenticating: not worth it.
            return self._request(self._wanted(new) - {"sasl"})
        if sub == "DEL":
            for name in parse_caps(rest[-1] if rest else ""):
                self.offered.pop(name, None)
                self.enabled.discard(name)
        return []

    def unsupported(self) -> list[str]:
        """The server does not know CAP (421) or registration completed without it."""
        self._pending.clear()
        self.finished = True
        return []

    def _wanted(self, offered: dict[str, str | None]) -> set[str]:
        wanted = {name for name in offered if name in WANTED}
        if "sasl" in wanted:
            mechanisms = offered["sasl"]
            plain_offered = mechanisms is None or "PLAIN" in mechanisms.upper().split(",")
            if self._sasl is None or not plain_offered:
                wanted.discard("sasl")
                if self._sasl is not None:
                    self.sasl_error = f"the server offers no SASL PLAIN (only {mechanisms})"
        return wanted - self.enabled

    def _request(self, names: set[str]) -> list[str]:
        if not names:
            return self._maybe_end()
        lines = _chunked_req(names)
        for line in lines:
            self._pending.append(frozenset(line.partition(":")[2].split()))
        return lines

    def _answered(self, names: frozenset[str]) -> None:
        for index, pending in enumerate(self._pending):
            if pending == names:
                del self._pending[index]
                return
        if self._pending:
            self._pending.pop(0)

    def _on_ack(self, acked: dict[str, str | None]) -> list[str]:
        names = frozenset(name.lstrip("-~=") for name in acked)
        for item in acked:
            if item.startswith("-"):
                self.enabled.discard(item[1:])
            else:
                self.enabled.add(item.lstrip("~="))
        self._answered(names)
        return self._maybe_end()

    def _on_nak(self, refused: frozenset[str]) -> list[str]:
        self._answered(refused)
        if len(refused) > 1:
            # A REQ is all or nothing: ask for each alone, so one the server dislikes does not
            # cost us the others.
            lines = []
            for name in sorted(refused):
                lines.append(f"CAP REQ :{name}")
                self._pending.append(frozenset({name}))
            return lines
        if "sasl" in refused and self._sasl is not None:
            self.sasl_error = "the server refused the sasl capability"
        return self._maybe_end()

    def _maybe_end(self) -> list[str]:
        if self._pending or self.finished:
            return []
        if "sasl" in self.enabled and self._sasl is not None and not self._sasl_started:
            self._sasl_started = True
            return ["AUTHENTICATE PLAIN"]
        if self._sasl_started and self.sasl_account is None and self.sasl_error is None:
            return []  # SASL still running
        self.finished = True
        return ["CAP END"]

    # --- SASL ---------------------------------------------------------------------------

    def on_authenticate(self, param: str) -> list[str]:
        if self._sasl is None or not self._sasl_started or param != "+":
            return []
        user = self._sasl.username
        token = f"{user}\0{user}\0{self._sasl.password}".encode()
        payload = base64.b64encode(token).decode("ascii")
        chunks = [payload[i:i + SASL_CHUNK] for i in range(0, len(payload), SASL_CHUNK)]
        lines = [f"AUTHENTICATE {chunk}" for chunk in chunks]
        if len(payload) % SASL_CHUNK == 0:
            lines.append("AUTHENTICATE +")
        return lines

    def on_logged_in(self, account: str) -> None:
        """900 RPL_LOGGEDIN: the account we are logged in to (SASL or not)."""
        self.sasl_account = account

    def on_sasl_success(self) -> list[str]:
        if self.sasl_account is None and self._sasl is not None:
            self.sasl_account = self._sasl.username
        self.sasl_error = None
        return self._finish_sasl()

    def on_sasl_failure(self, reason: str) -> list[str]:
        self.sasl_error = reason
        return self._finish_sasl()

    def _finish_sasl(self) -> list[str]:
        if self.finished or not self._sasl_started:
            return []
        self.finished = True
        return ["CAP END"]
