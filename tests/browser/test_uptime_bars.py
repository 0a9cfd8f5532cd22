"""A real headless Chromium shows the components grid with each component's 90 uptime bars,
a bar's tooltip naming the incident of that day, and the text alternative under the bars."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.test_live_page import browser  # noqa: F401  (the Chromium fixture)
from tests.harness import Running, run_app

COMPONENTS = "components:\n  - {name: Gerrit, group: Code review}\n  - {name: Zuul, group: CI}\n"


@pytest.fixture
async def running(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with run_app(sqlite_url, tmp_path, extra=COMPONENTS) as app:
        yield app


async def test_components_show_uptime_bars_with_the_incident_in_a_title(
    running: Running, browser: Browser, tmp_path: Path  # noqa: F811
) -> None:
    await running.say("#incident open sev2 Gerrit is down")
    await running.say("#incident 1 affects gerrit major_outage")
    await running.settled()
    page = await browser.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(running.base + "/")

    for component in ("gerrit", "zuul"):
        bars = page.locator(f"#uptime-{component} .uptime-bars li")
        assert await bars.count() == 90
        box = await bars.last.bounding_box()
        assert box is not None and box["width"] >= 2 and box["height"] >= 16, box
        assert await bars.last.is_visible()

    today = page.locator("#uptime-gerrit .uptime-bars li").last
    assert "day-major_outage" in (await today.get_attribute("class") or "")
    title = await today.get_attribute("title") or ""
    assert "Major outage" in title and "#1 Gerrit is down" in title
    # The colour differs from a good day's (and a pattern or cap besides).
    good = page.locator("#uptime-zuul .uptime-bars li").last
    assert "day-operational" in (await good.get_attribute("class") or "")
    colour = "el => getComputedStyle(el).backgroundColor"
    assert await today.evaluate(colour) != await good.evaluate(colour)
    await today.hover()  # the tooltip is the native title: nothing to wait for, no JS

    # The text alternative: the uptime figure and the day's list, with a link to the incident.
    gerrit = page.locator("#uptime-gerrit")
    assert "uptime since " in await gerrit.inner_text()  # declared today
    await gerrit.locator("details summary").click()
    link = gerrit.locator("details a[href='/incidents/1']")
    assert await link.is_visible()
    assert "#1 Gerrit is down" in await link.inner_text()
    assert "No problems since " in await page.locator("#uptime-zuul").inner_text()
    assert await page.get_by_role("img", name="Gerrit: daily status").count() == 1

    # Narrow screens draw the last 30 days.
    await page.screenshot(path=str(tmp_path / "uptime-wide.png"), full_page=True)
    await page.set_viewport_size({"width": 400, "height": 900})
    visible = await page.locator("#uptime-gerrit .uptime-bars li").evaluate_all(
        "els => els.filter(e => e.getBoundingClientRect().width > 0).length")
    assert visible == 30
    await page.screenshot(path=str(tmp_path / "uptime.png"), full_page=True)
    assert errors == []


async def test_the_bars_change_live_when_a_component_goes_down(
    running: Running, browser: Browser  # noqa: F811
) -> None:
    page = await browser.new_page()
    await page.goto(running.base + "/")
    await page.wait_for_function("window.statusdeskLive === 'open'", timeout=5000)
    today = "#uptime-gerrit .uptime-bars li:last-child"
    assert "day-operational" in (await page.get_attribute(today, "class") or "")

    await running.say("#incident open sev1 Gerrit is down")
    await running.say("#incident 1 affects gerrit major")
    await page.wait_for_selector(f"{today}.day-major_outage", timeout=5000)
    assert "#1 Gerrit is down" in (await page.get_attribute(today, "title") or "")
    await running.say("#incident 1 resolved")
    await page.get_by_text("Resolved", exact=False).first.wait_for(timeout=5000)
    # Resolved: the component is operational again, but the day keeps its worst status.
    await page.wait_for_selector("#component-gerrit.component-operational", timeout=5000)
    assert "day-major_outage" in (await page.get_attribute(today, "class") or "")
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
