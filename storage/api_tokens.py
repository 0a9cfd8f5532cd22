"""Personal API tokens (DESIGN §1.8): minted once, kept only as a salted hash.

A token reads `sdk_<id>_<secret>`: the id finds the row, the secret is checked against the
row's hash in constant time. The secret is 32 random bytes, so key stretching buys nothing
against guessing; PBKDF2 is kept at a modest count so every API request stays cheap.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiToken

PREFIX = "sdk_"
_ITERATIONS = 10_000


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Whom a valid token speaks for."""

    token_id: int
    user_name: str
    label: str
    last_used_at: datetime | None = None


def _digest(secret: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt),
                               _ITERATIONS).hex()


def split_token(token: str) -> tuple[int, str] | None:
    """(id, secret) of a well-formed token, else None."""
    if not token.startswith(PREFIX):
        return None
    ident, sep, secret = token[len(PREFIX):].partition("_")
    # isascii: str.isdigit also takes other scripts' digits (`١٢`), which int() reads.
    if not sep or not (ident.isascii() and ident.isdigit()) or len(ident) > 18 \
            or not secret or len(secret) > 200:
        return None
    return int(ident), secret


class ApiTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(self, user_name: str, label: str, now: datetime) -> tuple[ApiToken, str]:
        """A new token row and the token itself (shown once, never stored)."""
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        row = ApiToken(user_name=user_name, label=label, salt=salt,
                       hash=_digest(secret, salt), created_at=now)
        self._session.add(row)
        await self._session.flush()
        return row, f"{PREFIX}{row.id}_{secret}"

    async def list_all(self) -> Sequence[ApiToken]:
        return (await self._session.execute(select(ApiToken).order_by(ApiToken.id))).scalars().all()

    async def revoke(self, token_id: int, now: datetime) -> bool:
        """False: no such token. Revoking twice keeps the first time."""
        row = await self._session.get(ApiToken, token_id)
        if row is None:
            return False
        if row.revoked_at is None:
            row.revoked_at = now
            await self._session.flush()
        return True

    async def verify(self, token: str) -> TokenOwner | None:
        """Whom `token` speaks for; None when malformed, unknown, wrong or revoked. Read
        from the database every time: a revocation holds at once on every instance."""
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        row = await self._session.get(ApiToken, token_id)
        # The digest (~5 ms of PBKDF2) runs in a thread: a crowd sending wrong tokens must
        # not stall the event loop that serves the status page.
        if row is None:
            # Spend the same work as a real check: timing does not tell ids apart.
            digest = await asyncio.to_thread(_digest, secret, "00" * 16)
            hmac.compare_digest(digest, "0" * 64)
            return None
        digest = await asyncio.to_thread(_digest, secret, row.salt)
        if not hmac.compare_digest(digest, row.hash) or row.revoked_at is not None:
            return None
        return TokenOwner(row.id, row.user_name, row.label, row.last_used_at)

    async def touch(self, token_id: int, now: datetime) -> None:
        await self._session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
