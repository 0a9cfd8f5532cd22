"""Chromium with JavaScript off subscribes from the status page: the link in the navigation,
the form (an address and a component ticked), the confirmation link from the mail."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser

from tests.browser.test_live_page import browser  # noqa: F401 - the fixture
from tests.harness import eventually, run_app
from tests.servers.smtp import plain_smtp_server


async def test_subscribe_without_javascript(sqlite_url: str, tmp_path: Path,
                                            browser: Browser) -> None:  # noqa: F811
    with plain_smtp_server() as smtp:
        extra = ("components: [{name: Gerrit}, {name: Zuul}]\n"
                 "subscribers:\n"
                 f"  email: {{host: 127.0.0.1, port: {smtp.port}, starttls: false,"
                 " from: status@example.org}\n")
        async with run_app(sqlite_url, tmp_path, extra) as running:
            context = await browser.new_context(java_script_enabled=False)
            page = await context.new_page()
            await page.goto(running.base + "/")
            await page.get_by_role("link", name="Subscribe").click()
            await page.get_by_label("E-mail address").fill("reader@example.net")
            await page.get_by_label("Gerrit").check()
            await page.get_by_role("button", name="Subscribe").click()
            assert await page.locator("h1").inner_text() == "Check your mail"
            await eventually(lambda: len(smtp.mailbox.messages) == 1, what="the mail")
            _, mail = smtp.mailbox.messages[0]
            plain = mail.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
            found = re.search(r"https://status\.example\.org(/subscriptions/confirm\?token=\S+)",
                              plain.get_content())
            assert found
            await page.goto(running.base + found.group(1))
            assert await page.locator("h1").inner_text() == "Subscribed"
            async with running.app.store.reading() as tx:  # type: ignore[union-attr]
                row = await tx.subscribers.by_address("reader@example.net")
            assert row is not None and row.components == ["gerrit"]
            assert row.confirmed_at is not None
            await page.screenshot(path=str(tmp_path / "subscribed.png"), full_page=True)
            await context.close()
