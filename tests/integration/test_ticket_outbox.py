"""Filing through the real desk and outbox on SQLite and PostgreSQL, against fake trackers
in the same loop: `#action A1 file` queues one effect (asking twice queues nothing more), the
deliverer files it once even when the first answer is lost, the ticket is recorded on the
item and the timeline and announced; tracker trouble is retried without blocking chat; the
refresher follows the ticket's state."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.config.loading import load_config_text
from bot.core.desk import Desk
from bot.core.ports import Identity, Message
from bot.core.transport_state import StoredTransportState
from bot.delivery.outbox import OutboxWorker
from bot.followup.extension import FollowUpExtension
from bot.playbooks.bug_states import BugStates
from bot.playbooks.trackers.registry import TrackerSet
from bot.tickets.deliverer import TicketDeliverer
from bot.tickets.extension import TicketFilingExtension
from bot.tickets.refresher import TicketStates
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from bot.wiring import build_core
from commands.auth import Principal, Whitelist
from commands.filing_targets import FilingTarget
from commands.model import Role
from storage.models import OutboxEffect
from storage.unit_of_work import Store
from tests.clock import Clock
from tests.harness import delivered_lines
from tests.servers.fake_trackers import FakeTrackers, running_trackers

WHITELIST = Whitelist([Principal("alice", frozenset({Role.STATUS, Role.INCIDENT}),
                                 irc_account="alice")])


@dataclass
class Rig:
    desk: Desk
    store: Store
    worker: OutboxWorker
    out: io.StringIO
    clock: Clock
    fakes: FakeTrackers
    refresher: TicketStates

    async def say(self, text: str) -> list[str]:
        identity = Identity(transport="irc", nick="alice", network="oftc", account="alice")
        message = Message("irc", "oftc", "#infra", "alice", identity, text)
        return [r.text for r in await self.desk.handle(message)]

    async def deliver(self) -> list[str]:
        return await delivered_lines(self.worker, self.out)

    async def item(self, action_id: int = 1) -> tuple[str | None, str | None, str | None]:
        async with self.store.reading() as tx:
            item = await tx.actions.get(action_id)
            assert item is not None
            return item.ticket_url, item.ticket_state, item.filed_marker


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    async with running_trackers() as fakes:
        out = io.StringIO()
        console = ConsoleTransport(StoredTransportState(store, "console"),
                                   bot_nick="statusdesk", stdin=io.StringIO(""), stdout=out)
        transports = Transports([console])
        clock = Clock()
        config = load_config_text(f"playbooks: {{trackers: {json.dumps(fakes.config)}}}\n")
        trackers = TrackerSet.from_config(config.playbooks.trackers)
        deliverer = TicketDeliverer(trackers, store, transports.channels, bot_nick="statusdesk",
                                    clock=clock)
        target = FilingTarget("redmine", "ops")
        core = build_core(
            store, transports, WHITELIST, bot_nick="statusdesk",
            page_url="https://status.test", clock=clock,
            extensions=[FollowUpExtension(file_actions_in=str(target), can_file=True),
                        TicketFilingExtension(target, installation="t3st")],
            deliverers=[deliverer])
        states = BugStates(trackers, ttl=timedelta(0))
        refresher = TicketStates(store, states, every=timedelta(seconds=1), clock=clock)
        try:
            yield Rig(core.desk, store, core.outbox, out, clock, fakes, refresher)
        finally:
            await deliverer.close()
            await states.close()


async def effects(store: Store) -> int:
    async with store.reading() as tx:
        query = select(func.count()).select_from(OutboxEffect).where(
            OutboxEffect.kind == "ticket.file")
        return int((await tx.session.execute(query)).scalar_one())


async def test_filed_once_recorded_and_announced(rig: Rig) -> None:
    assert (await rig.say("#incident open sev2 Database full"))[0].startswith(
        "Opened incident #1")
    assert await rig.say("#action Alert on disk usage owner bob") == [
        "Action A1 added to incident #1 (owner bob)."]
    assert await rig.say("#action A1 file") == [
        "Filing action A1 in redmine:ops; the ticket will be linked on the incident's "
        "timeline."]
    # Asked again before it went out: the same effect, not a second one.
    await rig.say("#action A1 file")
    assert await effects(rig.store) == 1
    assert (await rig.item())[2] == "statusdesk-action-A1-t3st"  # recorded before sending

    url = rig.fakes.redmine.web_url(1, "ops")
    assert await rig.deliver() == [f"-statusdesk- Action A1 filed: {url}"]
    assert rig.fakes.redmine.created == 1
    [bug] = rig.fakes.redmine.bugs.values()
    assert "Incident: https://status.test/incidents/1" in bug.body
    assert "Action item A1 of incident #1 (Database full)." in bug.body
    assert bug.body.rstrip().endswith("statusdesk-action-A1-t3st")
    assert await rig.item() == (url, "open", "statusdesk-action-A1-t3st")
    async with rig.store.reading() as tx:
        entries = [(e.kind, e.text, e.public) for e in await tx.timeline.entries(1)
                   if e.kind.startswith("action")]
    assert entries[-1] == ("action.ticket", f"A1: {url}", False)
    assert await rig.say("#action A1 file") == [f"Action A1 is already filed: {url}"]
    assert (await rig.say("#actions"))[-1] == (
        f"A1 #1 Alert on disk usage — owner bob, ticket {url} (open)")


async def test_an_answer_lost_is_retried_and_found_not_filed_again(rig: Rig) -> None:
    await rig.say("#incident open sev2 Database full")
    await rig.say("#action Rotate the keys")
    rig.fakes.redmine.lose_answers = 1
    await rig.say("#action A1 file")
    assert await rig.deliver() == []  # 502 after the tracker stored it: retried later
    assert rig.fakes.redmine.created == 1
    assert (await rig.item())[0] is None
    rig.clock.advance(minutes=10)
    url = rig.fakes.redmine.web_url(1, "ops")
    assert await rig.deliver() == [f"-statusdesk- Action A1 filed: {url}"]
    assert rig.fakes.redmine.created == 1 and rig.fakes.redmine.search_hits == 1
    assert (await rig.item())[0] == url


async def test_tracker_down_is_retried_and_chat_goes_on(rig: Rig) -> None:
    await rig.say("#incident open sev2 Database full")
    await rig.say("#action Rotate the keys")
    rig.fakes.redmine.fail_status = 503
    await rig.say("#action A1 file")
    assert await rig.deliver() == []
    assert await rig.say("#action Second item") == ["Action A2 added to incident #1."]
    async with rig.store.reading() as tx:
        [effect] = [e for e in await tx.outbox.due(rig.clock.now + timedelta(days=1))
                    if e.kind == "ticket.file"]
    assert effect.attempts == 1 and "redmine: tracker unreachable" in (effect.last_error or "")
    rig.fakes.redmine.fail_status = None
    rig.clock.advance(minutes=10)
    lines = await rig.deliver()
    assert lines == [f"-statusdesk- Action A1 filed: "
                     f"{rig.fakes.redmine.web_url(1, 'ops')}"]


async def test_the_refresher_follows_the_ticket_state(rig: Rig) -> None:
    await rig.say("#incident open sev2 Database full")
    await rig.say("#action Rotate the keys")
    await rig.say("#action A1 file")
    await rig.deliver()
    assert await rig.refresher.refresh() == 0  # still open
    rig.fakes.redmine.bugs["1"].open = False
    assert await rig.refresher.refresh() == 1
    assert (await rig.item())[1] == "closed"
    rig.fakes.redmine.fail_status = 503  # unknown is not a state: the last one is kept
    assert await rig.refresher.refresh() == 0
    assert (await rig.item())[1] == "closed"


async def test_refused_for_good_then_asked_again_after_the_fix(rig: Rig) -> None:
    await rig.say("#incident open sev2 Database full")
    await rig.say("#action Rotate the keys")
    rig.fakes.redmine.create_status = 422
    await rig.say("#action A1 file")
    assert await rig.deliver() == [
        "-statusdesk- Could not file action A1 in redmine:ops: tracker answered "
        "HTTP 422: Validation Failed the project does not take issues"]
    async with rig.store.reading() as tx:
        failed = [e.text for e in await tx.timeline.entries(1)
                  if e.kind == "action.ticket.failed"]
    assert len(failed) == 1
    rig.clock.advance(hours=1)
    assert await rig.deliver() == []  # given up: not retried
    rig.fakes.redmine.create_status = None  # someone fixed the project
    rig.clock.advance(seconds=1)
    assert (await rig.say("#action A1 file"))[0].startswith("Filing action A1")
    assert await rig.deliver() == [
        f"-statusdesk- Action A1 filed: {rig.fakes.redmine.web_url(1, 'ops')}"]
    assert rig.fakes.redmine.created == 1
