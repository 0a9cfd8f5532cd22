"""Is this an e-mail address we can mail? A one-line reason when it is not."""

from __future__ import annotations

import ipaddress
import re

MAX_ADDRESS = 254
MAX_LOCAL = 64
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def parse_address(text: str) -> tuple[str | None, str | None]:
    """(normalized address, None) or (None, why not). Lower-cased as a whole: the domain
    is case-insensitive, and so in practice is every mailbox, so `Alice@` and `alice@` are
    one subscription rather than two (and two confirmation mails)."""
    text = text.strip()
    if not text:
        return None, "email: an address is required"
    if len(text) > MAX_ADDRESS:
        return None, f"email: longer than {MAX_ADDRESS} characters"
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return None, "email: not an address (expected name@example.org)"
    if len(local) > MAX_LOCAL:
        return None, f"email: the part before @ is longer than {MAX_LOCAL} characters"
    if (not _LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".")
            or ".." in local):
        return None, "email: the part before @ has characters an address cannot have"
    try:
        ascii_domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None, "email: the domain is not a valid name"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None, "email: the domain is not a valid name"
    # The domain as DNS knows it (IDNA): mail to it needs no SMTPUTF8.
    return f"{local}@{ascii_domain}".lower(), None


def network_of(remote: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) a request came from: enough to see abuse from a
    network, not enough to say who subscribed."""
    if not remote:
        return None
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
