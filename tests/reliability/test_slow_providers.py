"""A pager that hangs and a bug tracker that is a black hole never hold up chat: questions
are answered, broadcasts go out and /healthz answers within a bound while the page waits,
and the page still goes out, once, when the provider wakes up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import load_config_text
from bot.playbooks.extension import CHAT_WAIT
from tests.figures import record
from tests.harness import started_app
from tests.integration.paging_rig import BOB_KEY
from tests.irc_bot import NETWORK, Bot, unique
from tests.irc_client import Line, RawClient
from tests.servers.black_hole import BlackHole
from tests.servers.fake_pagerduty import FakePagerDuty
from tests.servers.ngircd import NgircdServer
from tests.servers.ports import free_port

ANSWER_BOUND = 1.5
"""Seconds within which a question or a command must be answered in chat, round trip
through ngIRCd (which delays a client's line by a second once it is past its flood burst:
the rounds below are paced like a person typing to stay under it)."""
PACE = 1.0
BROADCAST_BOUND = 3.0
"""Seconds within which a `#status notice` must reach the channel."""


@pytest.fixture
async def chat(ngircd: NgircdServer) -> AsyncIterator[tuple[RawClient, RawClient, str]]:
    """(alice, who may post; a watcher; the channel), both in the channel."""
    channel = unique("#slow-")
    alice = await RawClient.connect(ngircd.host, ngircd.port, "alice")
    watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
    try:
        await alice.join(channel)
        await watcher.join(channel)
        yield alice, watcher, channel
    finally:
        await alice.close()
        await watcher.close()


async def _answer(alice: RawClient, channel: str, text: str, *, within: float = 10.0
                  ) -> tuple[float, Line]:
    """Seconds until the bot answers `text` (said by alice in `channel`), and the answer."""
    since = alice.mark()
    started = time.monotonic()
    await alice.say(channel, text)
    line = await alice.wait_for(lambda m: m.command == "PRIVMSG" and m.params[0] == channel
                                and m.text.startswith("alice: "), since=since, within=within)
    return time.monotonic() - started, line


async def test_a_hanging_pager_and_a_dead_tracker_never_hold_up_chat(
    ngircd: NgircdServer, chat: tuple[RawClient, RawClient, str], sqlite_url: str,
    tmp_path: Path,
) -> None:
    alice, watcher, channel = chat
    pagerduty = FakePagerDuty()
    async with pagerduty, BlackHole() as tracker:
        pagerduty.hold = asyncio.Event()  # every request waits until the test lets it go
        bug = f"{tracker.url}/acme/infra/issues/42"
        playbooks = tmp_path / "playbooks"
        playbooks.mkdir()
        (playbooks / "database.md").write_text(
            f"---\ntitle: Database failover\nkeywords: [database]\nbugs: [{bug}]\n---\n"
            "Promote the replica.\n")
        nick = unique("desk")
        web_port = free_port()
        config = load_config_text(
            f"database: {{url: '{sqlite_url}'}}\n"
            f"status_page: {{listen: '127.0.0.1:{web_port}'}}\n"
            "irc:\n"
            f"  - {{name: {NETWORK}, host: '{ngircd.host}', port: {ngircd.port}, tls: false,"
            f" nick: {nick}, channels: ['{channel}'], rate: {{burst: 10, per_second: 5.0}}}}\n"
            "users:\n"
            "  - {name: alice, roles: [status, incident], irc: {nick: alice}}\n"
            "paging:\n"
            "  auto_page_severity: null\n"
            f"  escalation_managers: [{{name: bob, contacts: {{pagerduty: '{BOB_KEY}'}}}}]\n"
            f"  providers: {{pagerduty: {{url: '{pagerduty.enqueue_url}'}}}}\n"
            "playbooks:\n"
            f"  dir: '{playbooks}'\n"
            f"  trackers: {{github: {{api_url: '{tracker.url}/api/v3'}}}}\n"
        )
        try:
            async with started_app(config) as app, aiohttp.ClientSession() as http:
                await Bot(app, nick).joined()
                await _answer(alice, channel, "#incident open sev2 database down")
                await _answer(alice, channel, "#page 1 the primary is gone")
                for _ in range(400):
                    if pagerduty.requests:
                        break
                    await asyncio.sleep(0.05)
                assert pagerduty.requests, "the page never reached PagerDuty"

                # PagerDuty now holds the page's request open.
                answers, broadcasts, health = [], [], []
                for round_ in range(4):
                    await asyncio.sleep(PACE)
                    took, line = await _answer(alice, channel, f"{nick}: #now")
                    answers.append(took)
                    assert "#1" in line.text, line.text
                    text = f"NOTICE: failover in progress, step {round_}"
                    since = watcher.mark()
                    started = time.monotonic()
                    await alice.say(channel, f"#status notice failover in progress, "
                                             f"step {round_}")
                    await watcher.wait_for(lambda m, t=text: m.command == "NOTICE"  # type: ignore[misc]
                                           and m.text == t, since=since, within=30)
                    broadcasts.append(time.monotonic() - started)
                    started = time.monotonic()
                    async with http.get(f"http://127.0.0.1:{web_port}/healthz") as response:
                        assert response.status == 200
                    health.append(time.monotonic() - started)

                # The tracker never answers: the entry is answered at once, and while
                # the bug line waits for the tracker, chat goes on.
                await asyncio.sleep(PACE)
                asked = time.monotonic()
                took, first = await _answer(alice, channel, "#playbook database")
                assert first.text.startswith("alice: Database failover:")
                assert took < ANSWER_BOUND, took
                since = alice.mark() - 1
                await asyncio.sleep(PACE)
                meanwhile, line = await _answer(alice, channel, f"{nick}: #now")
                assert "#1" in line.text, line.text
                answers.append(meanwhile)
                bug_line = await alice.wait_for(lambda m: "#42" in m.text, since=since,
                                                within=CHAT_WAIT + 10)
                bug_took = time.monotonic() - asked
                assert "unknown" in bug_line.text or "unreachable" in bug_line.text, bug_line
                # At most CHAT_WAIT: sooner when the lookup the incident's playbook
                # suggestion started a while ago has given up already.
                assert bug_took < CHAT_WAIT + ANSWER_BOUND, bug_took
                assert tracker.connections >= 1

                assert max(answers) < ANSWER_BOUND, (answers, broadcasts, health)
                assert max(broadcasts) < BROADCAST_BOUND, broadcasts
                assert max(health) < ANSWER_BOUND, health

                # PagerDuty wakes up: the page goes out, exactly once.
                pagerduty.hold.set()
                for _ in range(1200):
                    if pagerduty.alerts:
                        break
                    await asyncio.sleep(0.05)
                assert len(pagerduty.alerts) == 1, pagerduty.alerts
        finally:
            if pagerduty.hold is not None:
                pagerduty.hold.set()
    record("server faults", f"PagerDuty hanging, tracker a black hole: #now answered in "
           f"<= {max(answers) * 1000:.0f} ms, #status notice broadcast in "
           f"<= {max(broadcasts) * 1000:.0f} ms, /healthz <= {max(health) * 1000:.0f} ms, "
           f"#playbook answered in {took * 1000:.0f} ms, its bug line (state unknown) "
           f"followed after {bug_took:.1f} s")
