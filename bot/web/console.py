"""`/console`: the operators' web console (DESIGN §1.8) — sign in with a personal API token,
type any chat command, see the replies, the open incidents, the components and who is on call.

Works without JavaScript (forms, Post/Redirect/Get with a flash kept in the session); with it,
the live part of the page is refreshed on every event of /api/events (bot/web/sse.py).
Every value written into the page is escaped: chat text is untrusted."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Callable, Sequence
from html import escape
from typing import Protocol
from urllib.parse import quote

from aiohttp import web

from bot.web.console_sessions import ConsoleSession, ConsoleSessions, Operator
from bot.web.state import PageState

COOKIE = "statusdesk_console"
PRE_COOKIE = "statusdesk_console_signin"
"""A random value also in the sign-in form's hidden field: a page of another site cannot sign
the operator in with the attacker's token (login CSRF)."""

SETTLE_STEPS = 40
SETTLE_STEP_SECONDS = 0.025
"""How long a command's redirect waits, at most, for the page state to show it (1 s)."""

MAX_COMMAND = 2000
MAX_TOKEN = 512
LATEST_ENTRIES = 3

COMPONENT_CHOICES = ("ok", "degraded", "partial", "major", "maintenance")
INCIDENT_STATES = ("identified", "monitoring", "resolved")


class ConsoleGate(Protocol):
    """What the console needs from the tokens and the desk (wired in bot/app.py)."""

    async def sign_in(self, token: str) -> Operator | None:
        """The operator a personal token belongs to; None for an unknown or revoked token."""
        ...

    async def still_valid(self, operator: Operator) -> bool:
        """False once the operator's token is revoked (or the user left the whitelist)."""
        ...

    async def run(self, operator: Operator, text: str) -> tuple[bool, Sequence[str]]:
        """Apply one chat command as the operator, through the API's path: (applied, replies)."""
        ...

    async def on_call(self) -> Sequence[str]:
        """Who is on call now (`rotation: person`...), empty without paging."""
        ...


class Console:
    def __init__(self, gate: ConsoleGate, sessions: ConsoleSessions,
                 state: Callable[[], PageState | None], public_url: str = "",
                 settled: Callable[[], bool] = lambda: True) -> None:
        """`settled`: whether the page state shows every committed change (Snapshot.idle)."""
        self.gate = gate
        self.sessions = sessions
        self._state = state
        self.secure_cookies = public_url.lower().startswith("https:")
        self._settled = settled

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/console", self.page),
            web.post("/console/sign-in", self.sign_in),
            web.post("/console/sign-out", self.sign_out),
            web.post("/console/command", self.command),
        ]

    # -- requests ---------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        session = await self._session(request)
        if session is None:
            return self._sign_in_page(request, "")
        flash = None
        if "live" not in request.query:
            # The live part's refresh (below) leaves the flash to the page it belongs to:
            # the event of a command's change can arrive before its redirect is followed.
            flash, session.flash = session.flash, None
        prefill = request.query.get("cmd", "")[:MAX_COMMAND]
        on_call = await self.gate.on_call()
        body = _console_body(session, self._state(), flash, prefill, on_call)
        return _html(body)

    async def sign_in(self, request: web.Request) -> web.Response:
        form = await request.post()
        given = form.get("signin")
        expected = request.cookies.get(PRE_COOKIE)
        if not (isinstance(given, str) and expected
                and secrets.compare_digest(given.encode(), expected.encode())):
            return _forbidden("the sign-in form expired or came from another site: reload it")
        token = form.get("token")
        operator = None
        if isinstance(token, str) and 0 < len(token.strip()) <= MAX_TOKEN:
            operator = await self.gate.sign_in(token.strip())
        if operator is None:
            return self._sign_in_page(request, "That token is not valid (unknown or revoked).",
                                      status=401)
        # A fresh id on every sign-in: whatever cookie came with the request is dropped.
        old = request.cookies.get(COOKIE)
        if old:
            self.sessions.close(old)
        session = self.sessions.open(operator)
        response = _see_console()
        self._set_cookie(request, response, COOKIE, session.id, None)
        response.del_cookie(PRE_COOKIE, path="/console")
        return _no_store(response)

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        session, refused = await self._posting(request)
        if refused is not None:
            return refused
        assert session is not None
        self.sessions.close(session.id)
        response = _see_console()
        response.del_cookie(COOKIE, path="/console")
        return _no_store(response)

    async def command(self, request: web.Request) -> web.StreamResponse:
        session, refused = await self._posting(request)
        if refused is not None:
            return refused
        assert session is not None
        form = await request.post()
        raw = form.get("text")
        text = " ".join(raw.split()) if isinstance(raw, str) else ""
        if not text:
            session.flash = (False, ("Type a command, e.g. #status alert Gerrit is down",), "")
        elif len(text) > MAX_COMMAND:
            session.flash = (False, (f"A command is at most {MAX_COMMAND} characters.",), "")
        else:
            applied, replies = await self.gate.run(session.operator, text)
            session.flash = (applied, tuple(replies), text)
            if applied:
                # The page after the redirect shows the change (without JavaScript too).
                for _ in range(SETTLE_STEPS):
                    if self._settled():
                        break
                    await asyncio.sleep(SETTLE_STEP_SECONDS)
        return _see_console()

    # -- sessions ---------------------------------------------------------------------------

    async def _session(self, request: web.Request) -> ConsoleSession | None:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is not None and not await self.gate.still_valid(session.operator):
            self.sessions.close_token(session.operator.token_id)
            return None
        return session

    async def _posting(self, request: web.Request
                       ) -> tuple[ConsoleSession | None, web.Response | None]:
        session = await self._session(request)
        if session is None:
            return None, _forbidden("not signed in (or the session expired): sign in again")
        form = await request.post()
        given = form.get("csrf")
        if not session.csrf_matches(given if isinstance(given, str) else None):
            return None, _forbidden("the form's CSRF token is missing or wrong: reload the page")
        return session, None

    def _set_cookie(self, request: web.Request, response: web.StreamResponse, name: str,
                    value: str, max_age: int | None) -> None:
        # HttpOnly: no script reads it; Strict: no other site's page sends it along.
        response.set_cookie(name, value, path="/console", httponly=True, samesite="Strict",
                            secure=self.secure_cookies or request.secure, max_age=max_age)

    def _sign_in_page(self, request: web.Request, message: str,
                      status: int = 200) -> web.Response:
        nonce = secrets.token_urlsafe(24)
        response = _html(_sign_in_body(nonce, message), status=status)
        self._set_cookie(request, response, PRE_COOKIE, nonce, 3600)
        if request.cookies.get(COOKIE):
            response.del_cookie(COOKIE, path="/console")
        return response


# -- rendering ----------------------------------------------------------------------------------

STYLE = """
.console form.line{display:flex;gap:.5em;flex-wrap:wrap}
.console input[type=text],.console input[type=password]{flex:1 1 16em;font:inherit;
padding:.4em;min-width:0}
.console button{font:inherit;padding:.4em .8em}
.console .quick a{display:inline-block;margin:.15em .3em .15em 0;padding:.2em .5em;
border:1px solid currentColor;border-radius:.3em;text-decoration:none}
.console .flash{border-left:.3em solid;padding:.3em .8em;margin:1em 0}
.console .flash.applied{border-color:#2a7}.console .flash.refused{border-color:#c33}
.console pre{white-space:pre-wrap;word-break:break-word;margin:.2em 0}
.console .who{float:right;margin-left:1em}
@media (max-width:40em){.console .who{float:none;margin:0 0 .5em}}
"""

LIVE_JS = """
(function(){if(!window.EventSource||!window.fetch)return;
var es=new EventSource('/api/events'),busy=false,again=false;
function refresh(){if(busy){again=true;return;}busy=true;
fetch('/console?live=1',{credentials:'same-origin'}).then(function(r){return r.text()})
.then(function(t){
var d=new DOMParser().parseFromString(t,'text/html'),n=d.getElementById('live'),
o=document.getElementById('live');if(n&&o)o.innerHTML=n.innerHTML;
}).finally(function(){busy=false;if(again){again=false;refresh();}});}
es.addEventListener('change',refresh);es.addEventListener('reset',refresh);})();
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


CSP = (f"default-src 'self'; script-src {_csp_hash(LIVE_JS)}; "
       f"style-src 'self' {_csp_hash(STYLE)}; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
"""Only our own inline style and script run: text that slipped through unescaped could
still not run a script of its own."""


def _document(body: str) -> str:
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"color-scheme\" content=\"light dark\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            "<title>statusdesk console</title>"
            "<link rel=\"stylesheet\" href=\"/static/statusdesk.css\">"
            f"<style>{STYLE}</style></head><body>"
            "<header class=\"site-header\"><div class=\"wrap\"><p class=\"site-title\">"
            "<a href=\"/console\">Operators' console</a> · <a href=\"/\">status page</a></p>"
            "</div></header>"
            f"<main id=\"content\" class=\"wrap console\">{body}</main></body></html>")


def _sign_in_body(nonce: str, message: str) -> str:
    error = f"<p class=\"flash refused\" role=\"alert\">{escape(message)}</p>" if message else ""
    return _document(
        "<h1>Sign in</h1>" + error +
        "<form class=\"line\" method=\"post\" action=\"/console/sign-in\">"
        f"<input type=\"hidden\" name=\"signin\" value=\"{escape(nonce)}\">"
        "<label for=\"token\">Personal API token</label>"
        "<input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" required>"
        "<button type=\"submit\">Sign in</button></form>"
        "<p>Create a token with <code>statusdesk tokens create USER</code>.</p>")


def _quick(command: str, label: str | None = None) -> str:
    return (f"<a href=\"/console?cmd={quote(command, safe='')}\">"
            f"{escape(label or command)}</a>")


def _console_body(session: ConsoleSession, state: PageState | None,
                  flash: tuple[bool, tuple[str, ...], str] | None, prefill: str,
                  on_call: Sequence[str]) -> str:
    csrf = escape(session.csrf)
    parts = [
        "<form class=\"who\" method=\"post\" action=\"/console/sign-out\">"
        f"<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">"
        f"Signed in as <b>{escape(session.operator.user)}</b> "
        f"({escape(session.operator.label)}) <button type=\"submit\">Sign out</button></form>",
        "<h1>Console</h1>",
    ]
    if flash is not None:
        applied, replies, text = flash
        lines = "".join(f"<pre>{escape(r)}</pre>" for r in replies) or "<pre>(no reply)</pre>"
        said = f"<pre>&gt; {escape(text)}</pre>" if text else ""
        parts.append(f"<div class=\"flash {'applied' if applied else 'refused'}\" role=\"status\">"
                     f"<p>{'Applied' if applied else 'Not applied'}</p>{said}{lines}</div>")
    parts.append(
        "<form class=\"line\" method=\"post\" action=\"/console/command\">"
        f"<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">"
        "<label for=\"text\" class=\"visually-hidden\">Command</label>"
        f"<input type=\"text\" id=\"text\" name=\"text\" value=\"{escape(prefill)}\" "
        f"maxlength=\"{MAX_COMMAND}\" placeholder=\"#status alert Gerrit is down\" "
        "autocomplete=\"off\" autofocus>"
        "<button type=\"submit\">Send</button></form>")
    parts.append("<p class=\"quick\">" + "".join((
        _quick("#status alert "), _quick("#status notice "), _quick("#status ok"),
        _quick("#maintenance list"), _quick("#incident open "))) + "</p>")
    parts.append(f"<div id=\"live\">{_live(state, on_call)}</div>")
    parts.append(f"<script>{LIVE_JS}</script>")
    return _document("".join(parts))


def _live(state: PageState | None, on_call: Sequence[str]) -> str:
    parts = ["<h2>On call</h2>"]
    parts.append("<ul>" + "".join(f"<li>{escape(p)}</li>" for p in on_call) + "</ul>"
                 if on_call else "<p>Nobody on call is known (no paging rotation).</p>")
    if state is None:
        return "".join(parts) + "<p>The page state is not loaded yet.</p>"
    if state.alert is not None:
        parts.append(f"<h2>Alert</h2><p><b>{escape(state.alert.text)}</b> "
                     f"— {escape(state.alert.set_by)}</p>")
    parts.append("<h2>Open incidents</h2>")
    if not state.open_incidents:
        parts.append("<p>No open incident.</p>")
    for incident in state.open_incidents:
        parts.append(f"<h3>#{incident.id} {escape(incident.title)} "
                     f"<small>({escape(incident.state)}, severity {incident.severity})</small>"
                     "</h3><p class=\"quick\">")
        parts.extend(_quick(f"#incident {incident.id} {s}", s) for s in INCIDENT_STATES)
        parts.append(_quick(f"#incident {incident.id} update ", "update") + "</p><ul>")
        for update in incident.updates[-LATEST_ENTRIES:]:
            parts.append(f"<li>{escape(update.at.strftime('%H:%M'))} "
                         f"{escape(update.actor)}: {escape(update.text or update.state or '')}"
                         "</li>")
        parts.append("</ul>")
    if state.components:
        parts.append("<h2>Components</h2><ul>")
        for component in state.components:
            quick = "".join(_quick(f"#component {component.id} {c}", c)
                            for c in COMPONENT_CHOICES)
            parts.append(f"<li>{escape(component.name)}: "
                         f"<b>{escape(component.status.replace('_', ' '))}</b> "
                         f"<span class=\"quick\">{quick}</span></li>")
        parts.append("</ul>")
    return "".join(parts)


def _html(body: str, status: int = 200) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = CSP
    return _no_store(response)


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _see_console() -> web.Response:
    """Post/Redirect/Get: a reload of the page does not post the command again."""
    return _no_store(web.Response(status=303, headers={"Location": "/console"}))


def _forbidden(reason: str) -> web.Response:
    return _no_store(web.Response(text=reason + "\n", status=403, content_type="text/plain"))
