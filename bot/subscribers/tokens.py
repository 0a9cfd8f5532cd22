"""The tokens in subscribers' links, and what the database keeps of them (a hash).

A token is derived from a per-subscriber nonce with a key that lives in the database, so a
mail sent again (a retried delivery) carries the same links; only the SHA-256 of each token
is stored, to find the subscriber a link names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
MAX_TOKEN = 100


def new_nonce() -> str:
    return secrets.token_hex(16)


def new_key() -> str:
    return secrets.token_hex(32)


def token(key: bytes, purpose: str, nonce: str) -> str:
    mac = hmac.new(key, f"{purpose}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def digest(token_text: str) -> str:
    return hashlib.sha256(token_text.encode("utf-8", "surrogateescape")).hexdigest()
