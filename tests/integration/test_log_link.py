"""`#incident ID log` links to the log API only when that API answers (status_page.api_token
is set); without it the reply says how to get the log instead of a link that answers 401."""

from __future__ import annotations

from pathlib import Path

from tests.harness import API_TOKEN, run_app


async def test_no_link_to_a_log_api_that_is_off(sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path, api_token=None) as running:
        await running.say("#incident open sev2 Mirror outage")
        lines = await running.say("#incident 1 log")
        assert lines[-2] == ("Full log: run `statusdesk incidents export 1` on the bot's host "
                             "(the log API is off: status_page.api_token is not set)")
        assert not any("/api/" in line for line in lines)
        # What the link used to lead to:
        status, _, _ = await running.get("/api/incidents/1/log.md")
        assert status == 401


async def test_the_link_given_with_a_token_answers(sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        await running.say("#incident open sev2 Mirror outage")
        lines = await running.say("#incident 1 log")
        link = "https://status.example.org/api/incidents/1/log.md"
        assert lines[-2] == f"Full log: {link} (needs the API token)"
        path = link.removeprefix("https://status.example.org")
        status, _, body = await running.get(path, Authorization=f"Bearer {API_TOKEN}")
        assert status == 200 and b"Mirror outage" in body
