"""Chromium sees the components grid, grouped, and a component's change without a reload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.test_live_page import browser  # noqa: F401 - the fixture
from tests.harness import Running, run_app

COMPONENTS = """components:
  - {name: Gerrit, group: Code review, description: review.example.org}
  - {name: Zuul, group: CI}
  - {name: Docs}
"""


@pytest.fixture
async def running(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with run_app(sqlite_url, tmp_path, COMPONENTS) as app:
        yield app


async def test_grid_changes_live(running: Running, browser: Browser,  # noqa: F811
                                 tmp_path: Path) -> None:
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(running.base + "/")
    grid = page.locator("section.components")
    assert await grid.get_by_role("heading", name="Components").count() == 1
    assert [t.strip() for t in await page.locator(".group-name bdi").all_inner_texts()] == [
        "Code review", "CI"]
    gerrit = page.locator("#component-gerrit")
    assert "Operational" in await gerrit.inner_text()
    await page.wait_for_function("window.statusdeskLive === 'open'", timeout=5000)

    await running.say("#incident open sev2 Gerrit down")
    await running.say("#incident 1 affects gerrit major")
    await page.locator("#component-gerrit.component-major_outage").wait_for(timeout=3000)
    assert "Major outage" in await page.locator("#component-gerrit").inner_text()
    assert "Major Service Outage" in await page.locator("h1").inner_text()
    # Colour is not the only signal: the words are there, and the row has its own colour.
    colour = await page.locator("#component-gerrit .component-status").evaluate(
        "e => getComputedStyle(e).color")
    ok = await page.locator("#component-zuul .component-status").evaluate(
        "e => getComputedStyle(e).color")
    assert colour != ok

    await running.say("#incident 1 resolved")
    await page.locator("#component-gerrit.component-operational").wait_for(timeout=3000)
    await page.screenshot(path=str(tmp_path / "components.png"), full_page=True)
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert errors == []
