"""A real headless Chromium signs in to /console, posts an alert, sees the reply, and the
status page shows the alert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from storage.models import utcnow
from tests.browser.test_live_page import browser  # noqa: F401 - the fixture
from tests.harness import opened_store
from tests.irc_bot import running_bot, unique
from tests.irc_client import RawClient
from tests.servers.ngircd import NgircdServer
from tests.web_console_rig import Rig, console_rig


@pytest.fixture
async def rig(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    async with console_rig(sqlite_url, tmp_path) as rig:
        yield rig


async def test_sign_in_post_an_alert_and_see_it_on_the_page(
    rig: Rig, browser: Browser, tmp_path: Path  # noqa: F811
) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(rig.base + "/console")
    await page.fill("#token", rig.token)
    await page.click("button[type=submit]")
    await page.get_by_text("Signed in as").wait_for(timeout=5000)
    # On a phone the heading keeps its line (the sign-out form once squeezed it to a
    # letter column).
    lines = await page.evaluate(
        "(() => { const h = [...document.querySelectorAll('h1')].find("
        "e => e.textContent.trim() === 'Console');"
        " return h.getBoundingClientRect().height / parseFloat(getComputedStyle(h).lineHeight)"
        " })()")
    assert lines < 1.5, f"the heading takes {lines:.1f} lines"

    await page.get_by_role("link", name="#status alert").click()
    assert await page.input_value("#text") == "#status alert "
    await page.fill("#text", "#status alert Gerrit is down <script>x</script>")
    await page.press("#text", "Enter")
    await page.get_by_text("Applied").wait_for(timeout=5000)
    assert "<script>x</script>" in await page.inner_text(".flash")
    # With JavaScript the live part follows /api/events: a change made in chat appears.
    await rig.running.say("#incident open Zuul queue stuck")
    await page.locator("#live").get_by_text("Zuul queue stuck").first.wait_for(timeout=5000)
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
    await page.screenshot(path=str(tmp_path / "console.png"), full_page=True)

    await rig.running.settled()
    status = await browser.new_page()
    await status.goto(rig.running.base + "/")
    assert "Gerrit is down" in await status.inner_text("main")
    assert errors == []


async def test_an_alert_from_the_console_reaches_irc(
    ngircd: NgircdServer, watcher: RawClient, sqlite_url: str, browser: Browser  # noqa: F811
) -> None:
    channel = unique("#ops-")
    users = "  - {name: alice, roles: [status], irc: {nick: alice}}\n"
    async with running_bot(sqlite_url, ngircd.port, [channel], nick=unique("desk"),
                           users=users) as bot:
        await bot.joined()
        await watcher.join(channel)
        async with opened_store(sqlite_url) as store, store.transaction() as tx:
            _, token = await tx.api_tokens.create("alice", "browser", utcnow())
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{bot.app.web_port}/console")
        await page.fill("#token", token)
        await page.click("button[type=submit]")
        await page.fill("#text", "#status alert Gerrit is down, from the web console")
        since = watcher.mark()
        await page.press("#text", "Enter")
        await page.get_by_text("Applied").wait_for(timeout=5000)
        notice = await watcher.wait_for(
            lambda m: m.command == "NOTICE" and "from the web console" in m.text, since=since)
        assert notice.params[0] == channel
