"""The web console's gate (bot/web/console.py): personal tokens sign in, commands take the
API's path (`apply_as`: the desk's parse, rate limit, authorize, apply, audit as
"api token <label>"), and the paging rotation says who is on call."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.api.command_route import Apply, apply_as, verify_token
from bot.followup.em_prompt import OnCallLookup, nobody_on_call
from bot.web.console_sessions import Operator
from storage.api_tokens import TokenOwner
from storage.models import ApiToken, utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.console")


class TokenConsoleGate:
    def __init__(self, store: Store, apply: Apply,
                 on_call: OnCallLookup = nobody_on_call) -> None:
        self._store = store
        self._apply = apply
        self._on_call = on_call

    async def sign_in(self, token: str) -> Operator | None:
        owner = await verify_token(self._store, token)
        return None if owner is None else Operator(owner.user_name, owner.token_id, owner.label)

    async def still_valid(self, operator: Operator) -> bool:
        # Read on every request: a revocation on any instance ends the session at once.
        async with self._store.reading() as tx:
            row = await tx.session.get(ApiToken, operator.token_id)
        return row is not None and row.revoked_at is None

    async def run(self, operator: Operator, text: str) -> tuple[bool, Sequence[str]]:
        owner = TokenOwner(operator.token_id, operator.user, operator.label)
        handled = await apply_as(self._apply, owner, text)
        return handled.applied, [reply.text for reply in handled.replies]

    async def on_call(self) -> Sequence[str]:
        try:
            async with self._store.reading() as tx:
                on_call = await self._on_call(tx, utcnow())
        except Exception as error:
            log.warning("console: who is on call is unknown: %s", error)
            return []
        return [] if on_call is None else [on_call.name]
