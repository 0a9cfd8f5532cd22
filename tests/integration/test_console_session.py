"""The console as a newcomer meets it: a hint at start-up, and Ctrl-D stops the bot whether
it leads or stands by behind another instance on the same SQLite database."""

from __future__ import annotations

from pathlib import Path

from bot.transports.console import HINT
from tests.console_bot import Bot, wait_for_http, wait_for_role, write_console_config


def test_the_readme_shows_the_hint_as_it_is() -> None:
    assert f"\n{HINT}\n" in (Path(__file__).parents[2] / "README.md").read_text()


def test_the_console_starts_with_a_hint(tmp_path: Path) -> None:
    config, _ = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    bot = Bot(config, tmp_path)
    try:
        bot.expect(HINT)
        assert HINT.startswith("*** ") and "#status alert" in HINT and "Ctrl-D" in HINT
        bot.type("#status alert Gate is broken")
        bot.expect("<statusdesk> op: Alert set; opened incident #1.")
        # The hint is said once, before anything else the bot writes.
        assert bot.seen[0] == HINT and bot.seen.count(HINT) == 1
    finally:
        code, stderr = bot.close()
    assert code == 0, stderr


def test_ctrl_d_stops_a_standby_on_the_same_sqlite_database(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/desk.db"
    first_config, first_port = write_console_config(tmp_path, db_url, "first")
    second_config, second_port = write_console_config(tmp_path, db_url, "second")
    leader = Bot(first_config, tmp_path)
    try:
        leader.expect(HINT)
        wait_for_role(first_port, "leader")
        standby = Bot(second_config, tmp_path)
        wait_for_http(second_port)
        wait_for_role(second_port, "standby")
        standby.type("#status alert typed at the standby")
        code, stderr = standby.close()  # used to wait for the lock forever
        assert code == 0, stderr
        assert "stdin closed while another instance leads: stopping" in stderr
        # What was typed there was never applied (the README: it waits until it leads).
        leader.type("#now")
        assert "All clear" in " ".join(leader.expect(
            "<statusdesk> op: All clear: no alert and no open incidents."))
    finally:
        code, stderr = leader.close()
    assert code == 0, stderr
