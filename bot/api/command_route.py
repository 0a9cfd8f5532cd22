"""`POST /api/v1/commands` (DESIGN §1.8): a chat command typed over HTTP.

`{"text": "#status alert ..."}` with `Authorization: Bearer <personal token>`. The command
takes the very path a chat line takes (`Desk.handle_command`: parse, rate limit, authorize,
apply, audit), as the token's user: their whitelist entry gives the roles, audit rows say
"api token <label>". Effects leave through the outbox, so a command posted while IRC is down
reaches IRC when it is back. No cookie is ever read here: a browser cannot be made to send
the bearer token, so the path needs no CSRF defence.

Every instance answers it, standby or leader, and only the leader applies: a standby knows
no chat channels (its transports are not built), so a broadcast applied there would reach
nobody. A standby forwards the request, once, to the address the leader recorded when its
term began (`LEADER_SCOPE` in the shared store); with no leader yet (a leader change), 503
and Retry-After, which `statusdesk say` waits out. The leader's own handler applies it, so
it is applied exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web

from bot.core.desk import Handled
from bot.core.extension import Reply
from bot.core.ports import Message
from commands.auth import Identity
from storage.api_tokens import TokenOwner
from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.api")

PATH = "/api/v1/commands"
MAX_BODY = 8 * 1024
MAX_TEXT = 2000
"""As long as a line of chat may usefully be (an IRC line is 512 bytes)."""

FORWARDED = "X-Statusdesk-Forwarded"
"""Set on a request a standby forwarded: the receiver applies it or says 503, never forwards
it again (two instances that each think the other leads would bounce it for ever)."""
LEADER_SCOPE = "api"
LEADER_KEY = "leader_url"
FORWARD_TIMEOUT = 30.0
RETRY_AFTER = 1
FOLLOW_UP_SECONDS = 10.0
LAST_USED_GRAIN = timedelta(minutes=1)

Apply = Callable[[Message], Awaitable[Handled]]


async def verify_token(store: Store, token: str, now: datetime | None = None) -> TokenOwner | None:
    """Whom a personal token speaks for, or None (unknown, wrong, revoked). Read from the
    database on every call, so a revocation holds on every instance at once; its last use
    is noted on the way, to the minute (one write a minute, not one a request; best
    effort: a database that takes no writes still verifies)."""
    async with store.reading() as tx:
        owner = await tx.api_tokens.verify(token)
    now = now or utcnow()
    stale = owner is not None and (owner.last_used_at is None
                                   or now - owner.last_used_at >= LAST_USED_GRAIN)
    if owner is not None and stale:
        try:
            async with store.transaction() as tx:
                await tx.api_tokens.touch(owner.token_id, now)
        except Exception as error:
            log.debug("could not note the last use of token #%d: %s", owner.token_id, error)
    return owner


def token_message(owner: TokenOwner, text: str) -> Message:
    """`text` as a message from the token's user, the way a transport would deliver it."""
    identity = Identity(transport="api", nick=owner.user_name, network="http",
                        api_user=owner.user_name, api_label=owner.label)
    return Message(transport="api", network="http", target="api", sender=owner.user_name,
                   identity=identity, text=text, addressed=True, private=True)


async def apply_as(apply: Apply, owner: TokenOwner, text: str) -> Handled:
    """Apply one command for a token's user: (applied, replies), follow-up lines (a slow
    tracker's answer) included, within `FOLLOW_UP_SECONDS`. The web console's path too."""
    handled = await apply(token_message(owner, text))
    replies: list[Reply] = []
    for reply in handled.replies:
        replies.append(Reply(reply.text, reply.private))
        if reply.follow_up is not None:
            try:
                lines = await asyncio.wait_for(reply.follow_up(), FOLLOW_UP_SECONDS)
            except Exception as error:
                log.warning("the rest of an API answer could not be put together: %s",
                            type(error).__name__)
                continue
            replies.extend(Reply(line, reply.private) for line in lines)
    return Handled(handled.applied, replies)


def _error(status: int, error: str, detail: str) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="statusdesk"'
    return web.json_response({"error": error, "detail": detail}, status=status,
                             headers=headers)


def _bearer(request: web.Request) -> str | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return given.strip()


class CommandRoute:
    """The handler, bound to the store (tokens) and the desk (commands)."""

    def __init__(self, store: Store, apply: Apply, *, applies_here: Callable[[], bool],
                 leader_url: Callable[[], Awaitable[str | None]]) -> None:
        """`applies_here`: this instance leads and its transports run; `leader_url`: where
        the leader said it listens (None: not known)."""
        self._store = store
        self._apply = apply
        self._applies_here = applies_here
        self._leader_url = leader_url

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, "too large", f"the body may be {MAX_BODY} bytes at most")
        if request.content_type != "application/json":
            return _error(415, "unsupported media type", "send Content-Type: application/json")
        body = await request.read()
        if len(body) > MAX_BODY:
            return _error(413, "too large", f"the body may be {MAX_BODY} bytes at most")
        token = _bearer(request)
        if token is None:
            return _error(401, "unauthorized",
                          "send a personal token as 'Authorization: Bearer TOKEN' "
                          "(statusdesk tokens create USER)")
        owner = await verify_token(self._store, token)
        if owner is None:
            return _error(401, "unauthorized", "unknown, wrong or revoked token")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "bad request", "the body is not JSON")
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _error(400, "bad request", 'send {"text": "#status ..."}')
        if len(text) > MAX_TEXT or "\n" in text or "\r" in text:
            return _error(400, "bad request",
                          f"text is one line of at most {MAX_TEXT} characters")
        if not self._applies_here():
            return await self._forward(request, body)
        handled = await apply_as(self._apply, owner, text)
        return web.json_response(
            {"applied": handled.applied, "replies": [r.text for r in handled.replies]},
            headers={"Cache-Control": "no-store"})

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        """The leader's answer to this very request, or 503 when there is none to ask."""
        leader = None if FORWARDED in request.headers else await self._leader_url()
        if leader is None:
            response = _error(503, "no leader",
                              "no instance leads right now (a leader change?): try again")
            response.headers["Retry-After"] = str(RETRY_AFTER)
            return response
        headers = {"Content-Type": "application/json", FORWARDED: "1",
                   "Authorization": request.headers["Authorization"]}
        try:
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT)) as session, \
                    session.post(leader + PATH, data=body, headers=headers) as answer:
                content = await answer.read()
                status = answer.status
                retry = answer.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as error:
            # Never reached it (gone, or not listening yet): nothing applied, try again.
            log.warning("could not forward a command to the leader at %s: %s", leader,
                        type(error).__name__)
            response = _error(503, "no leader", "the leader did not answer: try again")
            response.headers["Retry-After"] = str(RETRY_AFTER)
            return response
        except (aiohttp.ClientError, TimeoutError) as error:
            # Sent, but no answer: it may have been applied. No Retry-After, so that a
            # client does not apply it twice by asking again.
            log.warning("the leader at %s did not answer a forwarded command: %s", leader,
                        type(error).__name__)
            return _error(502, "no answer",
                          "the leader did not answer; the command may have been applied")
        response = web.Response(status=status, body=content,
                                content_type="application/json",
                                headers={"Cache-Control": "no-store"})
        if retry is not None:
            response.headers["Retry-After"] = retry
        return response
