"""The web console's gate (bot/web/console.py): personal tokens sign in, commands take the
API's path (`apply_as`: the desk's parse, rate limit, authorize, apply, audit as
"api token <label>"), and the paging rotation says who is on call.

As for `POST /api/v1/commands`, only the leader applies: on a standby the command is posted,
with the operator's token, to the leader's own /api/v1/commands (marked forwarded, so it is
applied there or refused, never passed on again)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from bot.api.command_route import (
    FORWARD_TIMEOUT,
    FORWARDED,
    PATH,
    Apply,
    apply_as,
    verify_token,
)
from bot.followup.em_prompt import OnCallLookup, nobody_on_call
from bot.web.console_sessions import Operator
from storage.api_tokens import TokenOwner
from storage.models import ApiToken, utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.console")


class TokenConsoleGate:
    def __init__(self, store: Store, apply: Apply, *,
                 applies_here: Callable[[], bool] = lambda: True,
                 leader_url: Callable[[], Awaitable[str | None]] | None = None,
                 on_call: OnCallLookup = nobody_on_call) -> None:
        self._store = store
        self._apply = apply
        self._applies_here = applies_here
        self._leader_url = leader_url
        self._on_call = on_call

    async def sign_in(self, token: str) -> Operator | None:
        owner = await verify_token(self._store, token)
        if owner is None:
            return None
        return Operator(owner.user_name, owner.token_id, owner.label, token=token)

    async def still_valid(self, operator: Operator) -> bool:
        # Read on every request: a revocation on any instance ends the session at once.
        async with self._store.reading() as tx:
            row = await tx.session.get(ApiToken, operator.token_id)
        return row is not None and row.revoked_at is None

    async def run(self, operator: Operator, text: str) -> tuple[bool, Sequence[str]]:
        if not self._applies_here():
            return await self._forward(operator, text)
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

    async def _forward(self, operator: Operator, text: str) -> tuple[bool, Sequence[str]]:
        leader = await self._leader_url() if self._leader_url is not None else None
        if leader is None:
            return False, ["No instance leads right now (a leader change?): "
                           "nothing was applied, send it again in a moment."]
        headers = {FORWARDED: "1", "Authorization": f"Bearer {operator.token}"}
        try:
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT)) as session, \
                    session.post(leader + PATH, json={"text": text}, headers=headers) as answer:
                status = answer.status
                body = await answer.json(content_type=None)
        except aiohttp.ClientConnectorError as error:
            log.warning("console: could not reach the leader at %s: %s", leader,
                        type(error).__name__)
            return False, ["The leader did not answer: nothing was applied, "
                           "send it again in a moment."]
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("console: the leader at %s did not answer: %s", leader,
                        type(error).__name__)
            return False, ["The leader did not answer; the command may have been applied: "
                           "look at the page before sending it again."]
        if status == 200 and isinstance(body, dict):
            replies = body.get("replies")
            return (body.get("applied") is True,
                    [str(r) for r in replies] if isinstance(replies, list) else [])
        detail = body.get("detail") if isinstance(body, dict) else None
        return False, [f"The leader refused it ({status}): {detail or 'no reason given'}"]
