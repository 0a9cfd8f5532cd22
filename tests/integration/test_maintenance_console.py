"""`statusdesk run` on the console (a subprocess, real time): a window scheduled, its
heads-up and its start announced once each, across a restart of the bot."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.console_bot import Bot, http_get, wait_for_http, write_console_config


def component_statuses(port: int) -> dict[str, str]:
    _, _, body = http_get(port, "/api/v2/components.json")
    return {c["name"]: c["status"] for c in json.loads(body)["components"]}


def wait_for_page(port: int, condition: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("the page never showed it")


def test_announced_once_on_the_console_across_a_restart(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}"
    config, port = write_console_config(tmp_path, db_url,
                                        extra="maintenance: {announce_before: 1h}\n"
                                              "components: [{name: Gerrit}, {name: Zuul}]\n")
    start = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    window = f"{start:%Y-%m-%d %H:%M}–{start + timedelta(minutes=30):%H:%M} UTC"
    bot = Bot(config, tmp_path)
    try:
        typed_at = datetime.now(UTC)
        bot.type(f"#maintenance schedule {start:%Y-%m-%d %H:%M} 30m on gerrit Gerrit upgrade")
        bot.expect(f"<statusdesk> op: Scheduled maintenance #1: Gerrit upgrade ({window} on "
                   "gerrit). I will announce it 1 h before the start and at the start.")
        # Less than an hour ahead: the heads-up is due at once. It says the wait rounded up to
        # the minute as of when it fired, somewhere between the typing and its arrival: 9 or
        # 10 minutes, depending on where in the minute the test began and how long that took.
        [(_, heads_up)] = bot.answers(1, 40, lambda line: "starts in" in line)
        arrived_at = datetime.now(UTC)
        waits = {-(-int((start - moment).total_seconds()) // 60)
                 for moment in (typed_at, arrived_at)}
        assert heads_up in {f"-statusdesk- Maintenance #1 starts in {wait} min: Gerrit upgrade "
                            f"({window} on gerrit)." for wait in waits}, heads_up
        code, stderr = bot.close()
        assert code == 0, stderr
        assert sum("starts in" in line for line in bot.seen) == 1

        bot = Bot(config, tmp_path)
        wait_for_http(port)
        bot.type("#maintenance list")
        bot.expect(f"<statusdesk> op: #1 [scheduled] Gerrit upgrade ({window} on gerrit)")
        bot.type("#maintenance 1 start now")
        bot.expect("<statusdesk> op: Started maintenance #1; announced in every channel.")
        bot.expect(f"-statusdesk- Maintenance #1 has started: Gerrit upgrade ({window} on "
                   "gerrit). now")
        wait_for_page(port, lambda: bool(json.loads(http_get(
            port, "/api/v2/scheduled-maintenances/active.json")[2])["scheduled_maintenances"]))
        assert component_statuses(port) == {"Gerrit": "under_maintenance", "Zuul": "operational"}
        bot.type("#maintenance 1 complete")
        bot.expect("-statusdesk- Maintenance #1 is complete: Gerrit upgrade.")
        wait_for_page(port, lambda: component_statuses(port)["Gerrit"] == "operational")
        code, stderr = bot.close()
        assert code == 0, stderr
        # After the restart the heads-up was not repeated.
        assert not any("starts in" in line for line in bot.seen)
    finally:
        if bot.process.poll() is None:
            bot.kill()
