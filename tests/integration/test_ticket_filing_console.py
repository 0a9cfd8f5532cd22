"""`#action A1 file` from the console (`statusdesk run` as a subprocess) into a fake GitHub
and a fake Redmine that check the request shape: the ticket is created once, with the
incident's link and the action's text; its URL is announced, linked on the timeline and
shown by `#actions`; its state follows the tracker."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import secrets
from tests.console_bot import Bot, wait_for_http, write_console_config
from tests.servers.fake_trackers import FakeTrackers, TrackersInThread

TARGETS = {"github": "github:acme/infra", "redmine": "redmine:ops"}


@pytest.fixture
def fakes() -> Iterator[FakeTrackers]:
    with TrackersInThread() as trackers:
        yield trackers


def start_bot(tmp_path: Path, fakes: FakeTrackers, target: str,
              every: bool = False) -> tuple[Bot, int]:
    trackers = json.dumps(fakes.config)
    config, port = write_console_config(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db",
        extra=f"playbooks: {{trackers: {trackers}, cache_ttl: 1s}}\n"
              f"postmortem: {{file_actions_in: '{target}', "
              f"file_every_action: {'true' if every else 'false'}}}\n")
    return Bot(config, tmp_path), port


def timeline(db: Path, kind: str) -> list[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT text FROM incident_events WHERE kind = ? ORDER BY id", (kind,)).fetchall()
    return [row[0] for row in rows]


@pytest.mark.parametrize("tracker", ["github", "redmine"])
def test_action_filed_as_a_ticket_from_the_console(tmp_path: Path, fakes: FakeTrackers,
                                                   tracker: str) -> None:
    fake = getattr(fakes, tracker)
    bot, port = start_bot(tmp_path, fakes, TARGETS[tracker])
    try:
        wait_for_http(port)
        bot.type("#incident open sev2 Database full")
        bot.expect(f"<statusdesk> op: Opened incident #1 (sev2): Database full — "
                   f"http://127.0.0.1:{port}/incidents/1")
        bot.type("#action Alert on disk usage above 80% owner alice")
        bot.expect("<statusdesk> op: Action A1 added to incident #1 (owner alice).")
        bot.type("#action A1 file")
        bot.expect(f"<statusdesk> op: Filing action A1 in {TARGETS[tracker]}; the ticket will "
                   "be linked on the incident's timeline.")
        url = fake.web_url(1, "acme/infra" if tracker == "github" else "ops")
        bot.expect(f"-statusdesk- Action A1 filed: {url}")
        assert fake.created == 1 and fake.refused == []
        [bug] = fake.bugs.values()
        assert bug.title == "Alert on disk usage above 80%"
        assert f"http://127.0.0.1:{port}/incidents/1" in bug.body
        assert "Alert on disk usage above 80%" in bug.body and "Owner: alice" in bug.body
        assert "statusdesk-action-A1-" in bug.body

        bot.type("#action A1 file")
        bot.expect(f"<statusdesk> op: Action A1 is already filed: {url}")
        bot.type("#actions")
        bot.expect(f"<statusdesk> op: A1 #1 Alert on disk usage above 80% — owner alice, "
                   f"ticket {url} (open)")

        # Closed in the tracker: the refresher (cache_ttl 1s) notices.
        bug.open = False
        deadline = time.monotonic() + 20
        closed = f"ticket {url} (closed)"
        while time.monotonic() < deadline:
            bot.type("#actions")
            line = bot.answers(1, 10, lambda text: text.startswith("<statusdesk> op: A1 "))[0][1]
            if line.endswith(closed):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the ticket's state never became closed: {line!r}")
        code, stderr = bot.close()
        assert code == 0
    finally:
        if bot.process.poll() is None:
            bot.kill()
    assert timeline(tmp_path / "desk.db", "action.ticket") == [f"A1: {url}"]
    assert fake.created == 1
    for secret in (secrets.GITHUB_TOKEN, secrets.REDMINE_API_KEY):
        assert secret not in stderr and all(secret not in line for line in bot.seen)


def test_every_new_action_is_filed_when_configured(tmp_path: Path,
                                                   fakes: FakeTrackers) -> None:
    bot, port = start_bot(tmp_path, fakes, "redmine:ops", every=True)
    try:
        wait_for_http(port)
        bot.type("#incident open sev3 Slow builds")
        bot.expect(f"<statusdesk> op: Opened incident #1 (sev3): Slow builds — "
                   f"http://127.0.0.1:{port}/incidents/1")
        bot.type("#action Add a cache for the CI images")
        bot.expect(f"-statusdesk- Action A1 filed: {fakes.redmine.web_url(1, 'ops')}")
        bot.type("#action Second one")
        bot.expect(f"-statusdesk- Action A2 filed: {fakes.redmine.web_url(2, 'ops')}")
        assert fakes.redmine.created == 2
        bot.close()
    finally:
        if bot.process.poll() is None:
            bot.kill()


def test_a_refused_filing_is_reported_and_not_retried(tmp_path: Path,
                                                      fakes: FakeTrackers) -> None:
    bot, port = start_bot(tmp_path, fakes, "github:acme/infra")
    fakes.github.create_status = 422
    try:
        wait_for_http(port)
        bot.type("#incident open sev3 Slow builds")
        bot.expect(f"<statusdesk> op: Opened incident #1 (sev3): Slow builds — "
                   f"http://127.0.0.1:{port}/incidents/1")
        bot.type("#action Add a cache")
        bot.expect("<statusdesk> op: Action A1 added to incident #1.")
        bot.type("#action A1 file")
        bot.expect("-statusdesk- Could not file action A1 in github:acme/infra: "
                   "tracker answered HTTP 422: Validation Failed the project does not take issues")
        bot.type("#actions")
        bot.expect("<statusdesk> op: A1 #1 Add a cache — no ticket")
        time.sleep(2)  # a retry would come within the outbox's first backoff
        posts = [s for s in fakes.github.seen if s.path == "/api/v3/repos/acme/infra/issues"]
        assert len(posts) == 1
        assert fakes.github.created == 0
        bot.close()
    finally:
        if bot.process.poll() is None:
            bot.kill()
