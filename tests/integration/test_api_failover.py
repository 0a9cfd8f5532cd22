"""`POST /api/v1/commands` on two instances sharing PostgreSQL: whichever instance a load
balancer picks applies the command, exactly once, and the leader announces it (its outbox is
woken by the change relay); during a leader change the API keeps answering."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.console_bot import Bot, role_of, wait_for_http, wait_for_role, write_console_config
from tests.integration.test_api_cli import USERS
from tests.integration.test_cli import statusdesk
from tests.integration.test_failover import _count


async def test_a_command_posted_to_the_standby_is_applied_once_and_announced(
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
        created = statusdesk("tokens", "create", "alice", "--label", "lb", "-c",
                             str(first_config), cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        env = {"STATUSDESK_TOKEN": created.stdout.strip()}

        started = time.monotonic()
        said = statusdesk("say", "--url", f"http://127.0.0.1:{second_port}",
                          "#status alert Gate is down", cwd=tmp_path, env=env)
        assert (said.returncode, said.stdout) == (0, "Alert set; opened incident #1.\n"), \
            said.stderr
        # The leader announces what the standby applied, at once (not at its idle poll).
        first.expect("-statusdesk- NOTICE: Gate is down", timeout=10)
        assert time.monotonic() - started < 10
        assert "-statusdesk- NOTICE: Gate is down" not in second.seen

        # A leader change: the API of the surviving instance answers throughout.
        first.kill()
        said = statusdesk("say", "--url", f"http://127.0.0.1:{second_port}",
                          "#status notice Working on it", cwd=tmp_path, env=env)
        assert said.returncode == 0, said.stderr
        wait_for_role(second_port, "leader")
        second.expect("-statusdesk- NOTICE: Working on it", timeout=15)

        assert await _count(pg_url, "SELECT count(*) FROM status_posts") == 2
        assert await _count(pg_url, "SELECT count(*) FROM incidents") == 1
        assert await _count(pg_url, "SELECT count(*) FROM audit_log "
                                    "WHERE outcome = 'accepted'") == 2
        for _ in range(100):
            if not await _count(pg_url, "SELECT count(*) FROM outbox "
                                        "WHERE delivered_at IS NULL"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("effects left undelivered")
        assert second.seen.count("-statusdesk- NOTICE: Working on it") == 1
        code, stderr = second.close()
        assert code == 0, stderr
    finally:
        for bot in (first, second):
            if bot is not None and bot.process.poll() is None:
                bot.kill()
