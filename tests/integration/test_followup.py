"""After the incident (DESIGN §1.7) on SQLite and PostgreSQL, through the real desk, outbox
and console transport: Five Whys, action items (global ids, done/drop, #actions, filing's
seam, overdue reminders), roles (chat, page, exports) and the escalation manager prompt with
a clock the test moves (and a restart in between)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from bot.config import IncidentsConfig
from bot.core.desk import Desk
from bot.core.events import ActionFilingRequested, DeskEvent
from bot.core.extension import Applying
from bot.core.ports import Identity, Message
from bot.core.transport_state import StoredTransportState
from bot.delivery.outbox import OutboxWorker
from bot.followup.direct import DirectMessages, Recipient
from bot.followup.em_prompt import EmPromptScheduler, OnCall
from bot.followup.extension import FollowUpExtension
from bot.incidents.aftermath import load_aftermath
from bot.incidents.export import export_json, export_markdown
from bot.incidents.reminders import ReminderScheduler
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from bot.web.state import load_page_state
from bot.wiring import build_core
from commands import model as m
from commands.auth import Whitelist
from storage.db import _alembic_config, revisions, upgrade
from storage.unit_of_work import Store, Transaction
from tests.clock import Clock
from tests.harness import delivered_lines, eventually, run_app

SCHEMA = Path(__file__).parents[2] / "bot" / "schemas" / "incident-log-v1.schema.json"
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ROLES = ["lead", "em", "comms", "scribe"]


@dataclass
class Filer:
    """Stands where the ticket filer will: sees the request inside the transaction."""

    commands: tuple[type, ...] = ()
    seen: list[tuple[int, str, bool]] = field(default_factory=list)

    async def apply(self, command: m.Command, ctx: Applying) -> None:
        return None

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        if isinstance(event, ActionFilingRequested):
            item = await ctx.tx.actions.get(event.action_id)
            assert item is not None
            # The seam's columns exist, for the filer to write (no migration of its own).
            item.filed_marker = f"statusdesk-action-{item.id}"
            self.seen.append((event.action_id, event.tracker, ctx.tx is not None))


@dataclass
class Rig:
    desk: Desk
    store: Store
    worker: OutboxWorker
    out: io.StringIO
    clock: Clock
    follow_up: FollowUpExtension
    filer: Filer
    transports: Transports

    async def say(self, text: str, nick: str = "op") -> list[str]:
        identity = Identity(transport="console", nick=nick, network="console",
                            local_operator=True)
        message = Message("console", "console", "console", nick, identity, text,
                          addressed=True)
        return [r.text for r in await self.desk.handle(message)]

    async def deliver(self) -> list[str]:
        return await delivered_lines(self.worker, self.out)

    async def markdown(self, incident_id: int) -> str:
        async with self.store.reading() as tx:
            incident = await tx.incidents.get(incident_id)
            assert incident is not None
            aftermath = await load_aftermath(tx, incident, ROLES)
            return "".join([c async for c in export_markdown(incident, tx.timeline,
                                                             aftermath=aftermath)])

    async def json(self, incident_id: int) -> dict[str, object]:
        async with self.store.reading() as tx:
            incident = await tx.incidents.get(incident_id)
            assert incident is not None
            aftermath = await load_aftermath(tx, incident, ROLES)
            text = "".join([c async for c in export_json(incident, tx.timeline,
                                                         aftermath=aftermath)])
        document: dict[str, object] = json.loads(text)
        jsonschema.validate(document, json.loads(SCHEMA.read_text()))
        return document

    def reminders(self, config: IncidentsConfig | None = None) -> ReminderScheduler:
        return ReminderScheduler(
            self.store, config or IncidentsConfig.model_validate({"remind_after": "1d"}),
            bot_nick="statusdesk", clock=self.clock, fallback=self.transports.channels)

    def em_prompts(self) -> EmPromptScheduler:
        async def on_call(tx: Transaction, now: datetime) -> OnCall:
            return OnCall("pat", (Recipient("console", "console", "pat"),))

        return EmPromptScheduler(self.store, timedelta(minutes=10), bot_nick="statusdesk",
                                 channels=self.transports.channels, on_call=on_call,
                                 clock=self.clock)


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    out = io.StringIO()
    console = ConsoleTransport(StoredTransportState(store, "console"), bot_nick="statusdesk",
                               stdin=io.StringIO(""), stdout=out)
    transports = Transports([console])
    clock = Clock(START)
    follow_up = FollowUpExtension(ROLES)
    filer = Filer()
    core = build_core(store, transports, Whitelist([]), bot_nick="statusdesk", clock=clock,
                      extensions=[follow_up, filer], deliverers=[DirectMessages(transports)])
    yield Rig(core.desk, store, core.outbox, out, clock, follow_up, filer, transports)


async def test_five_whys_in_order_replaced_and_private(rig: Rig) -> None:
    assert await rig.say("#why nobody knows") == [
        "No incident is open: say which one (#why #ID TEXT) or open one with "
        "#incident open TITLE."]
    assert (await rig.say("#incident open sev2 Gerrit down"))[0].startswith("Opened incident #1")
    assert await rig.say("#why the disk filled up", nick="alice") == [
        "Why 1 recorded on incident #1."]
    assert await rig.say("#why logs were not rotated", nick="bob") == [
        "Why 2 recorded on incident #1."]
    assert await rig.say("#why 1 logrotate's <config> was | missing") == [
        "Why 3 recorded on incident #1."]
    assert await rig.say("#why 1 2 logs were never rotated", nick="carol") == [
        "Why 2 of incident #1 replaced."]
    assert await rig.say("#why 1 7 nope") == [
        "Incident #1 has no why 7 (it has 3); #why 1 TEXT adds the next one."]
    assert await rig.say("#why 9 x y") == ["There is no incident #9."]
    assert await rig.say("#why 1 0 x") == [
        "entries are numbered 1 to 99. Usage: #why [ID] TEXT — the incident's next Five-Whys "
        "entry · #why ID N TEXT — replace entry N (ID is then required: #why 12 TEXT is a why "
        "on incident 12)"]
    await rig.say("#incident open sev3 Second")
    assert await rig.say("#why which one") == [
        "Several incidents are open (#1, #2): say which one, e.g. #why #ID TEXT."]

    markdown = await rig.markdown(1)
    five = markdown.split("## Five Whys\n\n")[1].split("\n\n")[0].splitlines()
    assert five == [
        "1. the disk filled up (alice)",
        "2. logs were never rotated (carol)",
        "3. logrotate's &lt;config&gt; was \\| missing (op)",
        "4. Why _…_? Because _…_",
        "5. Why _…_? Because _…_",
    ]
    assert "| why.replaced _(private)_ | 2. logs were not rotated → 2. logs were never " \
           "rotated |" in markdown
    document = await rig.json(1)
    assert [(w["number"], w["text"], w["author"]) for w in document["whys"]] == [  # type: ignore[attr-defined, index]
        (1, "the disk filled up", "alice"), (2, "logs were never rotated", "carol"),
        (3, "logrotate's <config> was | missing", "op")]
    # Private, like notes: never on the page.
    state = await load_page_state(rig.store, title="t", url="http://x")
    texts = [u.text or "" for i in state.open_incidents for u in i.updates]
    assert not any("disk" in t or "rotated" in t for t in texts)


async def test_action_items(rig: Rig) -> None:
    await rig.say("#incident open sev2 Gerrit down")
    await rig.say("#incident open sev3 Zuul slow")
    assert await rig.say("#action 1 rotate logs owner alice due 2026-11-20") == [
        "Action A1 added to incident #1 (owner alice, due 2026-11-20)."]
    assert await rig.say("#action 2 add a queue alert") == ["Action A2 added to incident #2."]
    assert await rig.say("#action #1 alert on disk space due 2026-12-24") == [
        "Action A3 added to incident #1 (due 2026-12-24)."]
    assert await rig.say("#action no incident named") == [
        "Several incidents are open (#1, #2): say which one, e.g. #action #ID TEXT."]
    assert await rig.say("#actions") == [
        "3 open action items:",
        "A1 #1 rotate logs — owner alice, due 2026-11-20 (overdue), no ticket",
        "A2 #2 add a queue alert — no ticket",
        "A3 #1 alert on disk space — due 2026-12-24, no ticket",
    ]
    assert await rig.say("#actions 2") == [
        "1 open action item of incident #2:", "A2 #2 add a queue alert — no ticket"]
    assert await rig.say("#action A2 done merged the alert") == ["Action A2 is done."]
    assert await rig.say("#action A2 drop") == ["Action A2 is already done."]
    assert await rig.say("#action A3 drop") == ["Action A3 is dropped."]
    assert await rig.say("#action A99 done") == ["There is no action item A99."]
    assert await rig.say("#actions 2") == ["Incident #2 has no open action items."]
    assert await rig.say("#actions 7") == ["There is no incident #7."]
    assert await rig.say("#action A1 fly") == [
        "after an action id comes done, drop or file. Usage: #action [ID] TEXT [owner NICK] "
        "[due YYYY-MM-DD] — a follow-up action item (I answer with its id, e.g. A7) · "
        "#action A7 done|drop [TEXT] · #action A7 file · #actions [ID]"]

    # Filing: decided here, done by the filer (another module) in the same transaction.
    assert await rig.say("#action A1 file") == [
        "no tracker configured (postmortem.file_actions_in)"]
    rig.follow_up.file_actions_in = "github:acme/infra"
    assert await rig.say("#action A1 file") == [
        "Cannot file action A1: this statusdesk cannot file tickets yet."]
    rig.follow_up.can_file = True
    assert await rig.say("#action A2 file") == ["Action A2 is done: only open items are filed."]
    assert await rig.say("#action A1 file") == [
        "Filing action A1 in github:acme/infra; the ticket will be linked on the incident's "
        "timeline."]
    assert rig.filer.seen == [(1, "github:acme/infra", True)]
    async with rig.store.transaction() as tx:
        item = await tx.actions.get(1)
        assert item is not None and item.filed_marker == "statusdesk-action-1"
        # What the filer writes once the tracker answered.
        item.ticket_url, item.ticket_state = "https://github.com/acme/infra/issues/5", "open"
        item.ticket_checked_at = rig.clock()
    assert await rig.say("#action A1 file") == [
        "Action A1 is already filed: https://github.com/acme/infra/issues/5"]
    assert await rig.say("#actions 1") == [
        "1 open action item of incident #1:",
        "A1 #1 rotate logs — owner alice, due 2026-11-20 (overdue), ticket "
        "https://github.com/acme/infra/issues/5 (open)"]

    markdown = await rig.markdown(1)
    table = markdown.split("## Action items\n\n")[1].splitlines()
    assert table == [
        "| Action | Owner | Bug | Due |",
        "|---|---|---|---|",
        "| A1: rotate logs | alice | <https://github.com/acme/infra/issues/5> (open) "
        "| 2026-11-20 |",
        "| A3: alert on disk space _(dropped)_ |  |  | 2026-12-24 |",
    ]
    document = await rig.json(1)
    actions = document["actions"]
    assert [(a["id"], a["state"], a["owner"], a["due"]) for a in actions] == [  # type: ignore[attr-defined]
        ("A1", "open", "alice", "2026-11-20"), ("A3", "dropped", None, "2026-12-24")]
    assert actions[0]["ticket"] == {  # type: ignore[index]
        "url": "https://github.com/acme/infra/issues/5", "state": "open",
        "checked_at": "2026-11-21T12:00:00Z"}
    # Private, like notes: not on the page, its feed or its Statuspage JSON.
    state = await load_page_state(rig.store, title="t", url="http://x")
    shown = " ".join(f"{u.kind} {u.text} {u.new}" for i in state.open_incidents
                     for u in i.updates)
    assert "rotate" not in shown and "action" not in shown and "A1" not in shown


async def test_overdue_actions_are_reminded_once_a_day_and_not_at_night(rig: Rig) -> None:
    await rig.say("#incident open sev3 Gerrit down")
    await rig.say("#incident 1 lead op")
    await rig.say("#incident 1 em op")
    await rig.say("#action 1 rotate logs owner alice due 2026-11-21")
    await rig.say("#action 1 later due 2026-12-31")
    await rig.say("#incident 1 resolved")  # items outlive their incident
    await rig.deliver()
    reminders = rig.reminders()
    assert await reminders.check() == 0  # due today: not overdue yet
    rig.clock.advance(days=1)
    assert await reminders.check() == 1
    assert await reminders.check() == 0
    assert await rig.reminders().check() == 0  # a restart: the outbox knows the key
    assert await rig.deliver() == [
        "-statusdesk- alice: action A1 of incident #1 was due 2026-11-21: rotate logs — "
        "#action A1 done|drop when it is settled."]
    rig.clock.advance(hours=20)  # 2026-11-23 08:00: the next day
    assert await reminders.check() == 1
    # Quiet hours hold the nudge whatever the severity; it goes out after them.
    night = IncidentsConfig.model_validate({"remind_after": "1d", "quiet_hours": {
        "from": "22:00", "to": "07:00", "timezone": "UTC", "below_severity": 4}})
    rig.clock.advance(hours=15)  # 23:00
    assert await rig.reminders(night).check() == 0
    rig.clock.advance(hours=9)  # 08:00 the day after
    assert await rig.reminders(night).check() == 1
    await rig.say("#action A1 done")
    rig.clock.advance(days=1)
    assert await reminders.check() == 0
    async with rig.store.reading() as tx:
        kinds = [e.kind for e in await tx.timeline.entries(1) if not e.public]
    assert kinds.count("reminder") == 3


async def test_roles_in_chat_on_the_page_and_in_the_exports(rig: Rig) -> None:
    await rig.say("#incident open sev2 Gerrit down")
    assert await rig.say("#incident 1 role comms carol") == ["Incident #1: comms is now carol."]
    assert await rig.say("#incident 1 role comms carol") == [
        "Incident #1: comms is already carol."]
    assert await rig.say("#incident 1 role scribe sam") == ["Incident #1: scribe is now sam."]
    assert await rig.say("#incident 1 role lead dave") == [
        "Incident #1: incident lead is now dave."]
    assert await rig.say("#incident 1 em bob") == [
        "Incident #1: escalation manager is now bob."]
    assert await rig.say("#incident 1 role pilot x") == [
        "pilot is not a role here (the roles are lead, em, comms, scribe). Usage: "
        "#incident ID role ROLE NICK"]
    assert await rig.say("#incident 5 role comms x") == ["There is no incident #5."]
    shown = await rig.say("#incident 1")
    assert shown[0].startswith("#1 [sev2 investigating] Gerrit down (lead dave, EM bob, "
                               "comms carol, scribe sam)")

    state = await load_page_state(rig.store, title="t", url="http://x")
    (view,) = state.open_incidents
    assert view.roles == (("lead", "dave"), ("comms", "carol"))
    kinds = [u.kind for u in view.updates]
    assert "role.comms" in kinds and "role.scribe" not in kinds and "manager" not in kinds
    from bot.web.pages import render_incident
    html = render_incident(state, view)
    assert "carol" in html and "dave" in html and "sam" not in html and "bob" not in html

    document = await rig.json(1)
    assert document["roles"] == {"lead": "dave", "em": "bob", "comms": "carol",
                                 "scribe": "sam"}
    markdown = await rig.markdown(1)
    assert "| Role: comms | carol |\n| Role: scribe | sam |\n" in markdown


async def test_em_prompt_once_per_incident_across_restarts(rig: Rig) -> None:
    await rig.say("#incident open sev2 Gerrit down")
    await rig.say("#incident open sev3 Mild")  # milder: never prompted
    await rig.say("#incident open sev1 Everything down")
    await rig.say("#incident 3 em bob")  # has one: never prompted
    await rig.say("#incident open sev1 Resolved fast")
    await rig.say("#incident 4 resolved")
    await rig.deliver()
    prompts = rig.em_prompts()
    rig.clock.advance(minutes=9, seconds=59)
    assert await prompts.check() == 0
    rig.clock.advance(seconds=1)
    assert await prompts.check() == 1
    assert await prompts.check() == 0
    prompt = ('Incident #1 (sev2) has had no escalation manager for 10m: pat is on call: '
              'take it with "#incident 1 em NICK".')
    assert sorted(await rig.deliver()) == [f"*statusdesk* {prompt}",  # to pat directly
                                           f"-statusdesk- {prompt}"]  # in the channel
    # A restart (a new scheduler, as a new leader would have): nothing again.
    rig.clock.advance(hours=1)
    assert await rig.em_prompts().check() == 0
    # Raised to sev2 later, long past the wait: prompted at the next look.
    await rig.say("#incident 2 sev 2")
    assert await rig.em_prompts().check() == 1
    async with rig.store.reading() as tx:
        entries = [e for e in await tx.timeline.entries(1) if e.kind == "prompt.em"]
    assert len(entries) == 1 and not entries[0].public


async def test_actions_ids_are_one_sequence(rig: Rig) -> None:
    for n in range(3):
        await rig.say(f"#incident open Incident {n}")
    replies = [await rig.say(f"#action {n} thing {n}") for n in (3, 1, 2, 1)]
    assert [r[0].split(" ")[1] for r in replies] == ["A1", "A2", "A3", "A4"]
    async with rig.store.reading() as tx:
        assert [a.id for a in await tx.actions.of(1)] == [2, 4]
        assert [a.due for a in await tx.actions.open()] == [None] * 4


async def test_migration_0011_rolls_back_and_forward(store: Store) -> None:
    ours = {"incident_whys", "action_items", "incident_roles", "incident_prompts"}

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    def down(connection: Connection) -> None:
        config = _alembic_config(connection)
        before = ScriptDirectory.from_config(config).get_revision("0011_actions").down_revision
        assert isinstance(before, str)
        command.downgrade(config, before)

    async with store.engine.begin() as connection:
        await connection.run_sync(down)
        assert not ours & await connection.run_sync(tables)
    await upgrade(store.engine)
    async with store.engine.connect() as connection:
        assert ours <= await connection.run_sync(tables)
    current, head = await revisions(store.engine)
    assert current == head


async def test_the_leader_prompts_for_an_escalation_manager(db_url: str, tmp_path: Path
                                                             ) -> None:
    """Wired into the running app: the leader's timer, the rotation's on-call person."""
    paging = (
        "paging:\n"
        "  auto_page_severity: null\n"
        "  ack_timeout: 1s\n"
        "  escalation_managers:\n"
        "    - {name: pat, contacts: {irc: pat}}\n"
        "  providers: {chat: {}}\n"
    )
    async with run_app(db_url, tmp_path, paging) as running:
        assert (await running.say("#incident open sev1 Everything is down"))[0].startswith(
            "Opened incident #1")
        await running.say("#incident open sev2 Named in time")
        await running.say("#incident 2 em pat")
        store = running.app.store
        assert store is not None

        async def prompted() -> bool:
            async with store.reading() as tx:
                return any(e.kind == "prompt.em" for e in await tx.timeline.entries(1))

        await eventually(prompted, within=15, what="the prompt")
        async with store.reading() as tx:
            (entry,) = [e for e in await tx.timeline.entries(1) if e.kind == "prompt.em"]
            assert not any(e.kind == "prompt.em" for e in await tx.timeline.entries(2))
        # The wait it names is however long the timer took to look (1s or 2s).
        assert entry.text is not None
        assert entry.text.startswith("Incident #1 (sev1) has had no escalation manager for ")
        assert entry.text.endswith(': pat is on call: take it with "#incident 1 em NICK".')
        assert not entry.public
