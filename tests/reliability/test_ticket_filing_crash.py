"""Crash test for filing action items as tickets: the bot (`statusdesk run` on the console,
a subprocess) is SIGKILLed during rounds of `#action A file`, at random points and once
deliberately between the tracker creating the issue and the bot hearing of it; after the
restarts, every item has exactly one ticket (counted on the fake tracker), and it is the
one linked on the item."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.db import open_store
from tests.console_bot import Bot, wait_for_http
from tests.servers.fake_trackers import FakeTracker, FakeTrackers, TrackersInThread
from tests.servers.ports import free_port

ITEMS = 12
ROUNDS = 6
TARGETS = {"github": "github:acme/infra", "redmine": "redmine:ops"}


@pytest.fixture
def fakes() -> Iterator[FakeTrackers]:
    with TrackersInThread() as trackers:
        yield trackers


def tickets(db_url: str) -> dict[int, str | None]:
    async def read() -> dict[int, str | None]:
        store = open_store(db_url)
        try:
            async with store.reading() as tx:
                return {item.id: item.ticket_url for item in await tx.actions.of(1)}
        finally:
            await store.close()

    return asyncio.run(read())


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def started(bot: Bot) -> None:
    """The bot leads and reads the console (on PostgreSQL, once the killed one's lease ran
    out): what is typed now is applied now."""
    try:
        wait_until(lambda: "statusdesk running with" in bot.stderr(), 30, "the bot to lead")
    except AssertionError:
        raise AssertionError(f"the bot never led; stderr: {bot.stderr()}") from None


def per_item(fake: FakeTracker) -> dict[int, int]:
    """How many issues carry each item's marker."""
    counts: dict[int, int] = {}
    for bug in fake.bugs.values():
        for word in bug.body.split():
            if word.startswith("statusdesk-action-A"):
                item = int(word.removeprefix("statusdesk-action-A").split("-")[0])
                counts[item] = counts.get(item, 0) + 1
    return counts


@pytest.mark.parametrize("tracker", ["github", "redmine"])
def test_sigkill_during_filing_rounds_files_each_ticket_once(
        tmp_path: Path, fakes: FakeTrackers, tracker: str, db_url: str) -> None:
    """On SQLite and PostgreSQL (there a lease of 3 s: a killed leader's successor waits
    for it to run out, as a second instance would)."""
    fake: FakeTracker = getattr(fakes, tracker)
    fake.delay = 0.03  # every request takes a moment: kills land inside them
    trackers = json.dumps(fakes.config)
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: '{db_url}', lease: 3s}}\nconsole: true\n"
        f"status_page: {{listen: '127.0.0.1:{port}', title: Test}}\n"
        f"playbooks: {{trackers: {trackers}, cache_ttl: 1h}}\n"
        f"postmortem: {{file_actions_in: '{TARGETS[tracker]}'}}\n")
    db = db_url
    rng = random.Random(20)

    bot = Bot(config, tmp_path)
    try:
        started(bot)
        wait_for_http(port)
        bot.type("#incident open sev2 Disk full on the database hosts")
        bot.expect(f"<statusdesk> op: Opened incident #1 (sev2): Disk full on the database "
                   f"hosts — http://127.0.0.1:{port}/incidents/1")
        for i in range(1, ITEMS + 1):
            bot.type(f"#action Follow-up number {i}")
            bot.expect(f"<statusdesk> op: Action A{i} added to incident #1.")

        # Round 0, deliberately: the tracker has made the issue, the bot has not heard.
        fake.answer_delay = 5.0
        bot.type("#action A1 file")
        wait_until(lambda: fake.created == 1, 20, "the first issue")
        bot.kill()
        fake.answer_delay = 0.0
        assert tickets(db)[1] is None  # never recorded: the retry must find it

        kills = []
        queue = list(range(2, ITEMS + 1))
        for _ in range(ROUNDS):
            bot = Bot(config, tmp_path)
            started(bot)
            batch, queue = queue[:2], queue[2:]
            for item in batch:
                bot.type(f"#action A{item} file")
            pause = rng.uniform(0.0, 0.6)
            time.sleep(pause)
            kills.append(round(pause, 2))
            bot.kill()

        # The last run: whatever is left is asked for, and everything settles.
        bot = Bot(config, tmp_path)
        started(bot)
        for item in range(1, ITEMS + 1):
            bot.type(f"#action A{item} file")
        wait_until(lambda: all(tickets(db).values()), 60, "every item to have its ticket")
        time.sleep(1.5)  # a straggling duplicate would show up now
        code, _ = bot.close()
        assert code == 0
    finally:
        if bot.process.poll() is None:
            bot.kill()

    counts = per_item(fake)
    assert counts == {item: 1 for item in range(1, ITEMS + 1)}, (counts, kills)
    assert fake.created == ITEMS
    assert fake.refused == []
    assert fake.search_hits >= 1  # A1 at least was found, not made again
    linked = tickets(db)
    by_marker = {int(w.removeprefix("statusdesk-action-A").split("-")[0]): number
                 for number, bug in fake.bugs.items() for w in bug.body.split()
                 if w.startswith("statusdesk-action-A")}
    for item, url in linked.items():
        assert url == fake.web_url(by_marker[item], "acme/infra" if tracker == "github"
                                   else "ops")
