"""The subscribers' pages: `/subscribe` (a form that works without JavaScript),
`POST /api/subscriptions`, `/subscriptions/confirm` and `/subscriptions/unsubscribe`.

Whatever the state of an address (new, waiting for confirmation, subscribed), the answer to
a subscription request is the same 202: the page never tells whether someone is subscribed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.config.models import SubscribersConfig
from bot.subscribers.address import network_of, parse_address
from bot.subscribers.delivery import CONFIRM_LANE, CONFIRMATION, duration_words
from bot.subscribers.throttle import Throttle
from bot.subscribers.tokens import CONFIRM, MAX_TOKEN, UNSUBSCRIBE, digest, new_nonce, token
from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.subscribers")

PER_ADDRESS = (3, 3600.0)
"""Subscription requests naming one address: 3 an hour (and one mail per confirm_within)."""
PER_CLIENT = (10, 3600.0)
"""Subscription requests from one client address: 10 an hour."""
MAX_COMPONENTS = 200

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex"}

ACCEPTED = ("If this address can be subscribed, a confirmation mail is on its way: "
            "open its link to start receiving notices.")


class Subscriptions:
    def __init__(
        self,
        config: SubscribersConfig,
        store: Store,
        *,
        title: str,
        key: Callable[[], bytes],
        components: Sequence[tuple[str, str]] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._config = config
        self._store = store
        self._title = title
        self._key = key
        self.components = list(components)
        """(id, name) of every component one may choose."""
        self._clock = clock
        self.per_address = Throttle(*PER_ADDRESS)
        self.per_client = Throttle(*PER_CLIENT)
        self.on_queued: Callable[[], None] = lambda: None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/subscribe", self.form),
            web.post("/api/subscriptions", self.subscribe),
            web.get("/subscriptions/confirm", self.confirm),
            web.get("/subscriptions/unsubscribe", self.unsubscribe_form),
            web.post("/subscriptions/unsubscribe", self.unsubscribe),
        ]

    # --- pages -----------------------------------------------------------------------------

    def _page(self, heading: str, body: str, status: int = 200) -> web.Response:
        html = (
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<meta name=\"description\" content=\"{escape(heading)}: e-mail updates from "
            f"{escape(self._title)}.\">\n"
            f"<title>{escape(heading)} — {escape(self._title)}</title>\n"
            "<link rel=\"icon\" href=\"/favicon.ico\" sizes=\"32x32\">\n"
            "<link rel=\"stylesheet\" href=\"/static/statusdesk.css\">\n</head>\n<body>\n"
            f"<main id=\"content\" class=\"wrap\">\n<p><a href=\"/\">{escape(self._title)}"
            f"</a></p>\n<h1>{escape(heading)}</h1>\n{body}\n</main>\n</body>\n</html>\n")
        return web.Response(text=html, content_type="text/html", status=status,
                            headers=PRIVATE)

    async def form(self, request: web.Request) -> web.StreamResponse:
        if self._config.email is None:
            return self._page("Subscribe", "<p>E-mail subscriptions are not offered here. "
                              "The <a href=\"/feed.atom\">Atom feed</a> carries every "
                              "update.</p>", status=404)
        choices = ""
        if self.components:
            boxes = "\n".join(
                f"<li><label><input type=\"checkbox\" name=\"components\" "
                f"value=\"{escape(cid)}\"> {escape(name)}</label></li>"
                for cid, name in self.components)
            choices = ("<fieldset>\n<legend>Only these components (none ticked: "
                       f"everything)</legend>\n<ul>\n{boxes}\n</ul>\n</fieldset>\n")
        return self._page("Subscribe", (
            "<p>Get an e-mail when an incident is opened, updated or resolved"
            f"{', or maintenance is scheduled' if self.components else ''}.</p>\n"
            "<form method=\"post\" action=\"/api/subscriptions\">\n"
            "<p><label>E-mail address <input type=\"email\" name=\"email\" required "
            "autocomplete=\"email\" maxlength=\"254\"></label></p>\n"
            f"{choices}<p><button type=\"submit\">Subscribe</button></p>\n</form>\n"
            f"<p>You will get a mail with a link to confirm; without it, the address is "
            f"forgotten after {escape(duration_words(self._config.confirm_within))}. "
            "Every mail has a link to unsubscribe.</p>"))

    # --- POST /api/subscriptions -----------------------------------------------------------

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        wants_json = request.content_type == "application/json"
        parsed = await self._read(request, wants_json)
        if isinstance(parsed, str):
            return self._answer(400, parsed, wants_json)
        address, components = parsed
        if self._config.email is None:
            return self._answer(404, "e-mail subscriptions are not offered here", wants_json)
        for key, throttle in ((request.remote or "-", self.per_client),
                              (hashlib.sha256(address.lower().encode()).hexdigest(),
                               self.per_address)):
            wait = throttle.allow(key)
            if wait is not None:
                response = self._answer(429, "too many subscription requests; try again "
                                        "later", wants_json)
                response.headers["Retry-After"] = str(int(wait) + 1)
                return response
        try:
            queued = await self._record(request, address, components)
        except IntegrityError:
            # The same address asked for at the same moment by another request: that one
            # sends the mail; this one gets the same answer as always.
            queued = False
        if queued:
            log.info("subscription requested; confirmation mail queued")
            self.on_queued()
        return self._answer(202, ACCEPTED, wants_json)

    async def _record(self, request: web.Request, address: str, components: list[str]
                      ) -> bool:
        """Whether a confirmation mail was queued (not for an address known already)."""
        now = self._clock()
        queued = False
        async with self._store.transaction() as tx:
            await tx.subscribers.forget_unconfirmed(now - self._config.confirm_within)
            known = await tx.subscribers.by_address(address, for_update=True)
            if known is None:
                nonce = new_nonce()
                secret = self._key()
                row = await tx.subscribers.add(
                    address, components, at=now, created_from=network_of(request.remote),
                    unsubscribe_hash=digest(token(secret, UNSUBSCRIBE, nonce)), nonce=nonce)
                row.confirm_hash = digest(token(secret, CONFIRM, nonce))
                row.confirm_sent_at = now
                await tx.outbox.add(CONFIRMATION, CONFIRM_LANE, {"subscriber_id": row.id},
                                    f"subscribers:confirm:{nonce}", now)
                queued = True
            # Waiting for confirmation or subscribed already: nothing is sent (one mail
            # per confirmation window), and the answer is the same.
        return queued

    async def _read(self, request: web.Request, wants_json: bool
                    ) -> tuple[str, list[str]] | str:
        """(address, component ids) or the one-line reason they are not acceptable."""
        email: Any
        components: Any
        if wants_json:
            try:
                document = json.loads(await request.read())
            except (ValueError, UnicodeDecodeError):
                return "the body is not JSON"
            if not isinstance(document, dict):
                return "the body must be a JSON object with \"email\""
            email, components = document.get("email"), document.get("components") or []
        else:
            form = await request.post()
            email = form.get("email")
            components = [str(v) for v in form.getall("components", [])]
        if not isinstance(email, str):
            return "email: an address is required"
        address, reason = parse_address(email)
        if address is None:
            return reason or "email: not an address"
        if not isinstance(components, list) or not all(isinstance(c, str)
                                                       for c in components):
            return "components: must be a list of component ids"
        if len(components) > MAX_COMPONENTS:
            return "components: too many"
        known = {cid for cid, _ in self.components}
        for cid in components:
            if cid not in known:
                shown = cid[:40].encode("ascii", "backslashreplace").decode()
                return f"components: unknown component {shown!r}"
        return address, sorted(set(components))

    def _answer(self, status: int, text: str, wants_json: bool) -> web.Response:
        if wants_json:
            key = "detail" if status < 400 else "error"
            return web.json_response({key: text}, status=status, headers=PRIVATE)
        if status >= 400:
            return self._page("Not subscribed", f"<p>{escape(text)}</p>\n"
                              "<p><a href=\"/subscribe\">Back to the form</a></p>",
                              status=status)
        return self._page("Check your mail", f"<p>{escape(text)}</p>", status=status)

    # --- confirm and unsubscribe -----------------------------------------------------------

    def _token(self, request: web.Request) -> str | None:
        given = request.query.get("token", "")
        return given if 0 < len(given) <= MAX_TOKEN else None

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        given = self._token(request)
        now = self._clock()
        confirmed = False
        if given is not None:
            async with self._store.transaction() as tx:
                row = await tx.subscribers.by_confirm_hash(digest(given))
                if row is not None and row.created_at > now - self._config.confirm_within:
                    row.confirmed_at = now
                    row.confirm_hash = None  # one-time: the link works once
                    confirmed = True
        if not confirmed:
            return self._page("Link expired", "<p>This confirmation link has been used "
                              "already or has expired. <a href=\"/subscribe\">Subscribe "
                              "again</a> if you need to.</p>", status=404)
        log.info("subscription confirmed")
        return self._page("Subscribed", "<p>You are subscribed. Every mail has a link to "
                          "unsubscribe.</p>")

    async def unsubscribe_form(self, request: web.Request) -> web.StreamResponse:
        # GET changes nothing (link scanners follow links in mail): it shows the button.
        given = self._token(request)
        if given is None:
            return self._page("Unsubscribe", "<p>This link is not complete.</p>", status=400)
        return self._page("Unsubscribe", (
            "<form method=\"post\" action=\"/subscriptions/unsubscribe?token="
            f"{escape(given)}\">\n<p><button type=\"submit\">Unsubscribe</button></p>\n"
            "</form>"))

    async def unsubscribe(self, request: web.Request) -> web.StreamResponse:
        """RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` to the link."""
        given = self._token(request)
        if given is None:
            return self._page("Unsubscribe", "<p>This link is not complete.</p>", status=400)
        removed = False
        async with self._store.transaction() as tx:
            row = await tx.subscribers.by_unsubscribe_hash(digest(given))
            if row is not None:
                await tx.subscribers.remove(row)
                removed = True
        if removed:
            log.info("a subscriber unsubscribed")
        # The same answer either way: done now, or done before.
        return self._page("Unsubscribed", "<p>You are unsubscribed: no more mail will be "
                          "sent to this address.</p>")
