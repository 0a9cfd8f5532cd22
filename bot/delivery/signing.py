"""How statusdesk signs what it POSTs to a webhook (paging and subscribers alike).

    X-Statusdesk-Timestamp: 1764583200            (Unix seconds when sent)
    X-Statusdesk-Signature: sha256=<hex HMAC-SHA256 of  TIMESTAMP "." BODY  keyed with secret>

The timestamp is inside the signed bytes, so a receiver that also rejects timestamps more
than a few minutes old is safe from replays. One module, so receivers verify every webhook
of ours the same way (README, "Paging" and "Subscribers").
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Statusdesk-Timestamp"
SIGNATURE_HEADER = "X-Statusdesk-Signature"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Statusdesk-Signature` value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signed_headers(secret: str | None, timestamp: str, body: bytes) -> dict[str, str]:
    """The timestamp header, and the signature when there is a secret to sign with."""
    headers = {TIMESTAMP_HEADER: timestamp}
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


def verify(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    """What a receiver does (the tests too): constant-time comparison."""
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode())
