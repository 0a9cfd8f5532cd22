"""`/console` over real HTTP: sign-in, CSRF, session fixation, sign-out, expiry, revocation,
and a command applied by the real desk of a running app (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.web.console import COOKIE, Console
from storage.models import utcnow
from tests.harness import opened_store
from tests.servers.ports import free_port
from tests.web_console_rig import Rig, console_rig


@pytest.fixture
async def rig(db_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    async with console_rig(db_url, tmp_path) as rig:
        yield rig



def _client() -> aiohttp.ClientSession:
    # unsafe: the cookie jar keeps cookies of an IP address host (127.0.0.1).
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found, f"no hidden {name} field in the page"
    return found.group(1)


async def _sign_in(http: aiohttp.ClientSession, rig: Rig, token: str | None = None
                   ) -> tuple[int, str]:
    base = rig.base
    async with http.get(base + "/console") as response:
        nonce = _hidden(await response.text(), "signin")
    async with http.post(base + "/console/sign-in",
                         data={"signin": nonce, "token": token or rig.token}) as response:
        return response.status, await response.text()


def _session_cookie(http: aiohttp.ClientSession) -> str | None:
    """The session cookie the server set (path /console), not one planted for all paths."""
    for cookie in http.cookie_jar:
        if cookie.key == COOKIE and cookie["path"] == "/console":
            return cookie.value
    return None


async def test_sign_in_post_a_command_and_see_the_reply_and_the_page(rig: Rig) -> None:
    async with _client() as http:
        status, page = await _sign_in(http, rig)
        assert status == 200 and "Signed in as <b>alice</b>" in page
        csrf = _hidden(page, "csrf")
        async with http.post(rig.base + "/console/command", allow_redirects=False,
                             data={"csrf": csrf, "text": "#status alert Gerrit <b>down</b>"}
                             ) as response:
            assert response.status == 303 and response.headers["Location"] == "/console"
            assert response.headers["Cache-Control"] == "no-store"
        async with http.get(rig.base + "/console") as response:
            page = await response.text()
        assert "Applied" in page and "&lt;b&gt;down&lt;/b&gt;" in page
        assert "<b>down</b>" not in page  # chat text is escaped
        # The flash is shown once.
        async with http.get(rig.base + "/console") as response:
            assert "Applied" not in await response.text()
        await rig.running.settled()
        status_code, _, body = await rig.running.get("/alert.json")
        assert status_code == 200 and b"Gerrit" in body
        async with http.get(rig.base + "/console") as response:
            page = await response.text()
        assert "<h2>Alert</h2>" in page and "Nobody on call" in page


async def test_cookie_flags_and_a_bad_token(rig: Rig) -> None:
    async with _client() as http:
        async with http.get(rig.base + "/console") as response:
            nonce = _hidden(await response.text(), "signin")
        async with http.post(rig.base + "/console/sign-in", allow_redirects=False,
                             data={"signin": nonce, "token": rig.token}) as response:
            assert response.status == 303
            set_cookie = response.headers.getall("Set-Cookie")
        line = next(c for c in set_cookie if c.startswith(COOKIE + "="))
        assert "HttpOnly" in line and "SameSite=Strict" in line and "Path=/console" in line
        assert "Secure" not in line  # plain HTTP, secure_cookies off
        async with http.get(rig.base + "/console") as response:
            assert "script-src 'sha256-" in response.headers["Content-Security-Policy"]
            assert response.headers["Cache-Control"] == "no-store"
    async with _client() as http:
        status, page = await _sign_in(http, rig, token="sdk_wrong")
        assert status == 401 and "not valid" in page and _session_cookie(http) is None
        # Without the form's sign-in value (another site's form): refused.
        async with http.post(rig.base + "/console/sign-in", data={"token": rig.token}) as response:
            assert response.status == 403


async def test_secure_cookie_when_the_public_url_is_https(rig: Rig) -> None:
    console = Console(rig.console.gate, rig.sessions, lambda: None,
                      public_url="https://status.example.org")
    app = web.Application()
    app.router.add_routes(console.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with _client() as http, http.get(f"http://127.0.0.1:{port}/console") as response:
            assert "Secure" in response.headers["Set-Cookie"]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("csrf", [None, "", "wrong"])
async def test_a_post_without_the_right_csrf_token_is_refused(rig: Rig, csrf: str | None
                                                                ) -> None:
    async with _client() as http:
        await _sign_in(http, rig)
        data = {"text": "#status alert should not apply"}
        if csrf is not None:
            data["csrf"] = csrf
        async with http.post(rig.base + "/console/command", data=data) as response:
            assert response.status == 403
        async with http.post(rig.base + "/console/sign-out", data={"csrf": csrf or ""}
                             ) as response:
            assert response.status == 403
    assert "should not apply" not in " ".join(await rig.running.say("#status"))


async def test_a_cookie_set_before_sign_in_is_not_reused(rig: Rig) -> None:
    attacker = "planted-by-the-attacker-0123456789abcdef"
    async with _client() as http:
        http.cookie_jar.update_cookies({COOKIE: attacker})
        status, page = await _sign_in(http, rig)
        assert status == 200 and "Signed in" in page
        mine = _session_cookie(http)
        assert mine is not None and mine != attacker
    # The planted id names no session; the server chose the new one.
    assert rig.sessions.get(attacker) is None and rig.sessions.get(mine) is not None
    # Signing in with a live session's cookie ends that session: a new id each time.
    async with _client() as http:
        async with http.get(rig.base + "/console") as response:
            nonce = _hidden(await response.text(), "signin")
        http.cookie_jar.update_cookies({COOKIE: mine})
        async with http.post(rig.base + "/console/sign-in",
                             data={"signin": nonce, "token": rig.token}) as response:
            assert response.status == 200
        second = _session_cookie(http)
        assert second and second != mine and rig.sessions.get(mine) is None


async def test_sign_out_ends_the_session(rig: Rig) -> None:
    async with _client() as http:
        _, page = await _sign_in(http, rig)
        old = _session_cookie(http)
        async with http.post(rig.base + "/console/sign-out",
                             data={"csrf": _hidden(page, "csrf")}) as response:
            assert response.status == 200 and "Sign in" in await response.text()
        assert rig.sessions.get(old) is None
        http.cookie_jar.update_cookies({COOKIE: old or ""})
        async with http.post(rig.base + "/console/command",
                             data={"csrf": _hidden(page, "csrf"), "text": "#status ok"}
                             ) as response:
            assert response.status == 403


async def test_sessions_expire_when_idle_and_after_twelve_hours(rig: Rig) -> None:
    async with _client() as http:
        await _sign_in(http, rig)
        for _ in range(13):  # a request every 59 minutes keeps it alive... for 12 hours
            rig.clock[0] += 59 * 60
            async with http.get(rig.base + "/console") as response:
                page = await response.text()
            if "Signed in" not in page:
                break
        assert "Signed in" not in page and 11 * 3600 < rig.clock[0] - 1000 <= 13 * 3600
        await _sign_in(http, rig)
        rig.clock[0] += 3600  # an hour idle
        async with http.get(rig.base + "/console") as response:
            assert "Sign in" in await response.text()


async def test_a_revoked_token_ends_its_sessions_on_the_next_request(rig: Rig) -> None:
    async with _client() as http:
        _, page = await _sign_in(http, rig)
        await rig.revoke()
        async with http.post(rig.base + "/console/command",
                             data={"csrf": _hidden(page, "csrf"), "text": "#status ok"}
                             ) as response:
            assert response.status == 403
        assert len(rig.sessions) == 0
        status, page = await _sign_in(http, rig)
        assert status == 401


async def test_a_user_without_the_role_is_refused_as_in_chat(rig: Rig) -> None:
    async with opened_store(rig.db_url) as store, store.transaction() as tx:
        _, token = await tx.api_tokens.create("bob", "phone", utcnow())
    async with _client() as http:
        _, page = await _sign_in(http, rig, token=token)
        assert "Signed in as <b>bob</b>" in page
        async with http.post(rig.base + "/console/command",
                             data={"csrf": _hidden(page, "csrf"),
                                   "text": "#status alert bob should not post this"}
                             ) as response:
            page = await response.text()
    assert "Not applied" in page
    async with rig.running.http.get(rig.running.base + "/alert.json") as response:
        assert "bob should not post" not in await response.text()


async def test_the_quick_links_fill_the_command_line_without_javascript(
    sqlite_url: str, tmp_path: Path
) -> None:
    components = "components:\n  - {name: Gerrit}\n"
    async with console_rig(sqlite_url, tmp_path, extra=components) as rig, _client() as http:
        _, page = await _sign_in(http, rig)
        link = re.search(r'href="(/console\?cmd=[^"]*gerrit%20major)"', page)
        assert link, page
        async with http.get(rig.base + link.group(1)) as response:
            page = await response.text()
        text = re.search(r'id="text" name="text" value="([^"]*)"', page)
        assert text and text.group(1) == "#component gerrit major"
        async with http.post(rig.base + "/console/command",
                             data={"csrf": _hidden(page, "csrf"), "text": text.group(1)}
                             ) as response:
            page = await response.text()
        assert "Applied" in page and "Gerrit: <b>major outage</b>" in page
