"""Taking secrets out of text that came back from elsewhere (an error body, a server's reply)
before it is logged, stored or said in chat: some services quote the request they refused,
credentials included."""

from __future__ import annotations

import base64
from collections.abc import Iterable

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (at least 3 characters) replaced by `***`, longest first so
    a secret containing another is replaced whole."""
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def login_forms(username: str | None, password: str) -> list[str]:
    """A password as SMTP and SASL carry it (base64 of itself and of `\\0user\\0password`),
    so that a server quoting the login line back does not leak it either."""
    forms = [password, base64.b64encode(password.encode()).decode()]
    if username:
        forms.append(base64.b64encode(f"\0{username}\0{password}".encode()).decode())
        forms.append(base64.b64encode(f"{username}\0{username}\0{password}".encode()).decode())
    return forms
