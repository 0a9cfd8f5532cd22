"""Chromium sees an upcoming maintenance window, then (without a reload) the window in
progress and its component under maintenance; and the page works without JavaScript."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.test_live_page import browser  # noqa: F401 - the fixture
from tests.harness import Running, run_app

COMPONENTS = """components:
  - {name: Gerrit, group: Code review}
  - {name: Zuul, group: CI}
"""


@pytest.fixture
async def running(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with run_app(sqlite_url, tmp_path, COMPONENTS) as app:
        yield app


async def test_maintenance_window_live(running: Running, browser: Browser,  # noqa: F811
                                       tmp_path: Path) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    await running.say(f"#maintenance schedule {start:%Y-%m-%d %H:%M} 1h on gerrit "
                      "Gerrit <i>upgrade</i>")
    await running.settled()
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(running.base + "/")
    window = page.locator("#maintenance-1")
    assert "Gerrit <i>upgrade</i>" in await window.inner_text()  # text, not markup
    assert "Scheduled" in await window.inner_text()
    assert f"{start:%Y-%m-%d %H:%M}" in await window.inner_text()
    await page.wait_for_function("window.statusdeskLive === 'open'", timeout=5000)

    await running.say("#maintenance 1 start")
    await page.get_by_text(f"In progress, planned to end {start + timedelta(hours=1):%H:%M}"
                           ).first.wait_for(timeout=3000)
    assert "Under maintenance" in await page.locator("#component-gerrit").inner_text()
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1

    no_js = await browser.new_page(java_script_enabled=False)
    await no_js.goto(running.base + "/")
    assert "In progress, planned to end" in await no_js.locator("#maintenance-1").inner_text()
    assert errors == []
