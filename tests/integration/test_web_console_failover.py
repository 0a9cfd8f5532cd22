"""`/console` on the standby of two instances sharing PostgreSQL: the command is forwarded
to the leader, applied once there and announced by it."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.console_bot import Bot, role_of, wait_for_http, wait_for_role, write_console_config
from tests.integration.test_api_cli import USERS
from tests.integration.test_cli import statusdesk
from tests.integration.test_failover import _count
from tests.integration.test_web_console import _hidden


async def test_a_command_typed_on_the_standbys_console_is_applied_once_by_the_leader(
    pg_url: str, tmp_path: Path
) -> None:
    first_config, first_port = write_console_config(tmp_path, pg_url, "first", USERS)
    second_config, second_port = write_console_config(tmp_path, pg_url, "second", USERS)
    first = Bot(first_config, tmp_path)
    second: Bot | None = None
    try:
        wait_for_http(first_port)
        wait_for_role(first_port, "leader")
        second = Bot(second_config, tmp_path)
        wait_for_http(second_port)
        assert role_of(second_port) == "standby"
        created = statusdesk("tokens", "create", "alice", "--label", "web", "-c",
                             str(first_config), cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip()

        base = f"http://127.0.0.1:{second_port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(base + "/console") as response:
                nonce = _hidden(await response.text(), "signin")
            async with http.post(base + "/console/sign-in",
                                 data={"signin": nonce, "token": token}) as response:
                page = await response.text()
            async with http.post(base + "/console/command",
                                 data={"csrf": _hidden(page, "csrf"),
                                       "text": "#status alert Gate is down"}) as response:
                page = await response.text()
        assert "Applied" in page and "Alert set" in page, page
        first.expect("-statusdesk- NOTICE: Gate is down", timeout=10)
        assert "-statusdesk- NOTICE: Gate is down" not in second.seen
        assert await _count(pg_url, "SELECT count(*) FROM status_posts") == 1
        assert await _count(pg_url, "SELECT count(*) FROM audit_log "
                                    "WHERE outcome = 'accepted'") == 1
    finally:
        for bot in (first, second):
            if bot is not None and bot.process.poll() is None:
                bot.kill()
