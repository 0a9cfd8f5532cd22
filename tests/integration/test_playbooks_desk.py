"""`#playbook` through the real desk, on SQLite and PostgreSQL, with bug states from local
tracker servers."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import TrackersConfig
from bot.core.desk import Desk
from bot.core.events import EventBus
from bot.core.ports import Identity, Message
from bot.core.transport_state import StoredTransportState
from bot.playbooks.bug_states import BugStates
from bot.playbooks.extension import SUGGESTED, PlaybooksExtension
from bot.playbooks.store import PlaybookStore
from bot.playbooks.trackers.registry import TrackerSet
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.unit_of_work import Store
from tests.clock import Clock
from tests.harness import reply_lines
from tests.servers.fake_trackers import FakeTrackers, running_trackers

WHITELIST = Whitelist([
    Principal("alice", frozenset({Role.STATUS, Role.INCIDENT}), irc_account="alice"),
    Principal("erin", frozenset({Role.ESCALATION}), irc_account="erin"),
])


@dataclass
class Rig:
    desk: Desk
    store: Store
    fakes: FakeTrackers
    states: BugStates
    playbooks: Path
    zuul_bug: str
    mirror_bug: str

    async def say(self, text: str, *, nick: str = "alice") -> list[str]:
        identity = Identity(transport="irc", nick=nick, network="oftc", account=nick)
        message = Message("irc", "oftc", "#infra", nick, identity, text)
        return await reply_lines(await self.desk.handle(message))


@pytest.fixture
async def rig(store: Store, tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_trackers() as fakes:
        zuul_bug = fakes.github.add(1234, "Scheduler loses events on restart",
                                    assignee="alice")
        mirror_bug = fakes.jira.add("OPS-7", "Mirror sync cron", open=False)
        directory = tmp_path / "playbooks"
        directory.mkdir()
        (directory / "zuul-restarts.md").write_text(
            "---\ntitle: Zuul scheduler restarts\nkeywords: [zuul, scheduler]\n"
            f"bugs: [{zuul_bug}]\nowner: infra-core\n---\n"
            "Changes are re-enqueued after the restart; do not recheck.\n")
        (directory / "mirrors.md").write_text(
            "---\ntitle: Package mirror outage\nkeywords: [mirror, pypi]\n"
            f"bugs: [{mirror_bug}]\n---\nSwitch jobs to the fallback mirror.\n")
        (directory / "dns.md").write_text(
            "---\ntitle: DNS resolution errors\nkeywords: [dns, nxdomain]\n---\n"
            "Flush the resolver caches on the executors.\n")
        states = BugStates(TrackerSet.from_config(TrackersConfig.model_validate(fakes.config)),
                           ttl=timedelta(minutes=5), request_timeout=5)
        console = ConsoleTransport(StoredTransportState(store, "console"), bot_nick="statusdesk",
                                   stdin=io.StringIO(""), stdout=io.StringIO())
        desk = Desk(store, EventBus(), WHITELIST, Transports([console]).channels,
                    bot_nick="statusdesk", page_url="https://status.test", clock=Clock())
        desk.add_extension(PlaybooksExtension(PlaybookStore(directory), states,
                                             bot_nick="statusdesk", wait=0.5))
        try:
            yield Rig(desk, store, fakes, states, directory, zuul_bug, mirror_bug)
        finally:
            await states.close()


async def test_playbook_topic_answers_summary_page_and_live_bugs(rig: Rig) -> None:
    assert await rig.say("#playbook zuul") == [
        "Zuul scheduler restarts: Changes are re-enqueued after the restart; do not recheck.",
        "Playbook: https://status.test/playbooks/zuul-restarts",
        "[open] #1234 Scheduler loses events on restart (github)",
    ]
    assert await rig.say("#playbook Package Mirrors") == [
        "Package mirror outage: Switch jobs to the fallback mirror.",
        "Playbook: https://status.test/playbooks/mirrors",
        "[closed] OPS-7 Mirror sync cron (jira)",
    ]


async def test_forgiving_lookup_and_a_helpful_miss(rig: Rig) -> None:
    replies = await rig.say("#playbook ZUUL SCHEDULER RESTRATS")
    assert replies[0].startswith("Zuul scheduler restarts:")
    assert await rig.say("#playbook kubernetes") == [
        "No playbook entry matches 'kubernetes'. All entries: https://status.test/playbooks"]
    assert (await rig.say("#playbook nxdomains"))[0].startswith("DNS resolution errors:")
    assert (await rig.say("#playbook dns"))[2] == (
        "No bug is linked to this entry (link one with #playbook link dns BUG-URL).")


async def test_second_lookup_within_ttl_asks_no_tracker(rig: Rig) -> None:
    await rig.say("#playbook zuul")
    await rig.say("#playbook zuul-restarts")
    assert rig.fakes.github.requests == 1


async def test_unreachable_tracker_never_holds_the_channel(rig: Rig) -> None:
    rig.fakes.github.delay = 3
    loop = asyncio.get_running_loop()
    started = loop.time()
    replies = await rig.say("#playbook zuul")
    assert loop.time() - started < 2
    assert replies[-1] == "[unknown] #1234 (github): state unknown (tracker unreachable)"


async def test_the_entry_is_answered_at_once_and_its_bugs_follow(rig: Rig) -> None:
    """The desk answers what it knows and lets go; only the bug lines wait for the tracker,
    and meanwhile other commands are applied."""
    rig.fakes.github.delay = 0.4
    identity = Identity(transport="irc", nick="alice", network="oftc", account="alice")
    loop = asyncio.get_running_loop()
    started = loop.time()
    replies = await rig.desk.handle(Message("irc", "oftc", "#infra", "alice", identity,
                                            "#playbook zuul"))
    assert loop.time() - started < 0.3
    assert [r.text for r in replies] == [
        "Zuul scheduler restarts: Changes are re-enqueued after the restart; do not recheck.",
        "Playbook: https://status.test/playbooks/zuul-restarts",
    ]
    follow_up = replies[-1].follow_up
    assert follow_up is not None
    # While the tracker thinks, the desk takes the next command.
    assert await rig.say("#status notice checking the scheduler") == ["Notice sent."]
    assert loop.time() - started < 0.3
    assert list(await follow_up()) == [
        "[open] #1234 Scheduler loses events on restart (github)"]
    # Cached now: the next question is answered whole, with no follow-up.
    replies = await rig.desk.handle(Message("irc", "oftc", "#infra", "alice", identity,
                                            "#playbook zuul"))
    assert [r.follow_up for r in replies] == [None, None, None]
    assert rig.fakes.github.requests == 1


async def test_link_a_bug_from_chat(rig: Rig) -> None:
    bug = rig.fakes.gitlab.add(55, "DNS cache poisoned", project="ops/dns")
    assert await rig.say(f"#playbook link dns {bug}") == [
        f"Linked {bug} to the playbook entry dns (DNS resolution errors)."]
    assert await rig.say(f"#playbook link dns {bug}") == [
        f"{bug} is already linked to dns."]
    assert await rig.say(f"#playbook link zuul {rig.zuul_bug}") == [
        f"{rig.zuul_bug} is already linked to zuul-restarts (in its file)."]
    replies = await rig.say("#playbook dns")
    assert replies[-1] == "[open] #55 DNS cache poisoned (gitlab)"
    async with rig.store.reading() as tx:
        links = await tx.playbook_links.of("dns")
        assert [(link.url, link.added_by) for link in links] == [(bug, "alice")]

    untracked = "https://bugs.example.net/show/9"
    assert await rig.say(f"#playbook link mirrors {untracked}") == [
        f"Linked {untracked} to the playbook entry mirrors (Package mirror outage). No tracker "
        "is configured for bugs.example.net: its state will show as unknown (see "
        "playbooks.trackers)."]
    assert await rig.say("#playbook link nothing-like-it https://x.example/1") == [
        "No playbook entry matches 'nothing-like-it': a bug is linked to an existing entry. "
        "All entries: https://status.test/playbooks"]


async def test_linking_needs_the_incident_role(rig: Rig) -> None:
    assert await rig.say(f"#playbook link dns {rig.zuul_bug}", nick="erin") == [
        "you are not authorized to use #playbook link"]
    async with rig.store.reading() as tx:
        assert await tx.playbook_links.all() == {}


async def test_alert_suggests_a_matching_entry_once(rig: Rig) -> None:
    replies = await rig.say("#status alert Zuul scheduler is restarting, expect delays")
    assert replies == [
        "Alert set; opened incident #1.",
        "Playbook for incident #1: Zuul scheduler restarts — Changes are re-enqueued after "
        "the restart; do not recheck. https://status.test/playbooks/zuul-restarts",
    ]
    assert await rig.say("#status alert Zuul scheduler still restarting") == [
        "Alert updated (incident #1)."]
    async with rig.store.reading() as tx:
        suggested = await tx.timeline.entries(1, kinds=(SUGGESTED,))
    assert [(e.new_value, e.public, e.actor) for e in suggested] == [
        ("zuul-restarts", False, "statusdesk")]
    # A new incident about something else gets its own suggestion.
    replies = await rig.say("#incident open sev2 NXDOMAIN from the executors' DNS")
    assert replies[1] == (
        "Playbook for incident #2: DNS resolution errors — Flush the resolver caches on the "
        "executors. https://status.test/playbooks/dns")
    assert await rig.say("#incident open sev3 Disk full on logs server") == [
        "Opened incident #3 (sev3): Disk full on logs server — "
        "https://status.test/incidents/3"]


async def test_playbook_alone_lists_entries_for_open_incidents(rig: Rig) -> None:
    assert await rig.say("#playbook") == [
        "No incident is open. Ask #playbook TOPIC for an entry. All entries: "
        "https://status.test/playbooks"]
    await rig.say("#status alert pypi mirror is down")
    await rig.say("#incident open sev3 Disk full on logs server")
    assert await rig.say("#playbook") == [
        "Incident #1 pypi mirror is down: mirrors (Package mirror outage)",
        "Ask #playbook TOPIC for an entry and its bugs.",
    ]
    await rig.say("#status ok")
    assert await rig.say("#playbook") == [
        "No playbook entry matches the open incidents (#2). All entries: "
        "https://status.test/playbooks"]


async def test_a_broken_playbook_file_does_not_break_the_desk(rig: Rig) -> None:
    (rig.playbooks / "broken.md").write_text("---\ntitle: [oops\n---\n")
    (rig.playbooks / "zuul-restarts.md").unlink()
    store = PlaybookStore(rig.playbooks)
    assert [p.file.endswith("broken.md") for p in store.problems] == [True]
    assert (await rig.say("#playbook mirrors"))[0].startswith("Package mirror outage")
