"""A real headless Chromium loads the page, sees the alert, and sees a notice appear live."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import server_missing
from tests.harness import Running, run_app

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        server_missing("chromium not installed (Debian package chromium; make test does)")
        raise AssertionError("unreachable")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable,
                                                   args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def running(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with run_app(sqlite_url, tmp_path) as app:
        yield app


async def test_page_shows_the_alert_and_a_new_notice_without_reload(
    running: Running, browser: Browser, tmp_path: Path
) -> None:
    await running.say("#status alert Gate is broken, do not recheck")
    await running.settled()
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(running.base + "/")
    assert "Gate is broken, do not recheck" in await page.inner_text("main")
    await page.wait_for_function("window.statusdeskLive === 'open'", timeout=5000)

    started = time.monotonic()
    await running.say("#status notice Zuul restarted, rechecks welcome")
    await page.get_by_text("Zuul restarted, rechecks welcome").first.wait_for(timeout=1000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
    await page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    assert errors == []
    print(f"notice visible {elapsed * 1000:.0f} ms after the command")
