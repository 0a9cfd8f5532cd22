"""The desk applying commands, on SQLite and PostgreSQL, with effects delivered through the
real console transport (writing to a buffer instead of the terminal)."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from bot.core.desk import Desk
from bot.core.effects import EVERYWHERE, Notice, broadcast, to_row
from bot.core.events import ALERT_CLEARED, ALERT_SET, INCIDENT_OPENED, DeskEvent
from bot.core.extension import Applying
from bot.core.ports import Channel, DeliveryUnavailable, Identity, Message
from bot.core.transport_state import StoredTransportState
from bot.delivery.outbox import OutboxWorker
from bot.transports.console import ConsoleTransport
from bot.transports.registry import Transports
from bot.wiring import build_core
from commands import model as m
from commands.auth import Principal, Whitelist
from commands.model import Role
from storage.unit_of_work import Store
from tests.clock import Clock
from tests.harness import delivered_lines


class FlakyTerminal(io.StringIO):
    """A terminal that can be made to fail, as a disconnected network would."""

    broken = False

    def write(self, text: str) -> int:
        if self.broken:
            raise OSError("terminal went away")
        return super().write(text)


@dataclass
class Rig:
    desk: Desk
    store: Store
    worker: OutboxWorker
    out: FlakyTerminal
    clock: Clock
    events: list[DeskEvent] = field(default_factory=list)

    async def say(self, text: str, *, nick: str = "alice", account: str | None = "alice",
                  transport: str = "irc") -> list[str]:
        identity = Identity(transport=transport, nick=nick, network="oftc", account=account)
        message = Message(transport, "oftc", "#infra", nick, identity, text)
        return [r.text for r in await self.desk.handle(message)]

    async def deliver(self) -> list[str]:
        """Run the outbox until nothing is due; what the channel saw."""
        return await delivered_lines(self.worker, self.out)


WHITELIST = Whitelist([
    Principal("alice", frozenset({Role.STATUS, Role.INCIDENT}), irc_account="alice"),
    Principal("erin", frozenset({Role.ESCALATION}), irc_account="erin"),
    Principal("root", frozenset({Role.ADMIN}), irc_account="root"),
])


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    out = FlakyTerminal()
    console = ConsoleTransport(StoredTransportState(store, "console"), bot_nick="statusdesk",
                               stdin=io.StringIO(""), stdout=out)
    transports = Transports([console])
    clock = Clock()
    core = build_core(store, transports, WHITELIST, bot_nick="statusdesk",
                      page_url="https://status.test", clock=clock, capture={"#infra"})
    rig = Rig(core.desk, store, core.outbox, out, clock)
    core.bus.subscribe(rig.events.append)
    await console.set_topic("console", "Welcome to #infra")
    out.truncate(0)
    out.seek(0)
    yield rig


async def test_alert_broadcasts_swaps_topic_and_opens_an_incident(rig: Rig) -> None:
    assert await rig.say("#status alert Gate is broken") == ["Alert set; opened incident #1."]
    assert await rig.deliver() == [
        "-statusdesk- NOTICE: Gate is broken",
        "*** statusdesk changed the topic of console to: Gate is broken",
    ]
    assert [e.kind for e in rig.events] == [INCIDENT_OPENED, ALERT_SET]
    async with rig.store.reading() as tx:
        alert = await tx.alert.current()
        assert alert is not None and alert.text == "Gate is broken"
        incident = await tx.incidents.get(1)
        assert incident is not None and incident.is_alert and incident.severity == 2
        kinds = [e.kind for e in await tx.timeline.entries(1)]
        assert kinds == ["opened", "status.alert", "topic"]
        saved = await tx.topics.get("console", "console", "console")
        assert saved is not None and saved.topic == "Welcome to #infra"


async def test_second_alert_updates_without_losing_the_saved_topic(rig: Rig) -> None:
    await rig.say("#status alert Gate is broken")
    await rig.deliver()
    assert await rig.say("#status alert Gate still broken, zuul restarting") == [
        "Alert updated (incident #1)."]
    await rig.deliver()
    assert await rig.say("#status ok Gate fixed") == [
        "Alert cleared; topics restored; incident #1 resolved."]
    assert await rig.deliver() == [
        "*** statusdesk changed the topic of console to: Welcome to #infra",
        "-statusdesk- NOTICE: Gate fixed",
    ]
    async with rig.store.reading() as tx:
        assert await tx.alert.current() is None
        incident = await tx.incidents.get(1)
        assert incident is not None and incident.state == "resolved"
        assert incident.resolved_at == rig.clock.now
        assert await tx.topics.all() == []
    assert rig.events[-1].kind == ALERT_CLEARED


async def test_alert_and_ok_before_delivery_still_end_with_the_old_topic(rig: Rig) -> None:
    await rig.say("#status alert Gate is broken")
    await rig.say("#status ok")
    lines = await rig.deliver()
    assert lines[-1] == "*** statusdesk changed the topic of console to: Welcome to #infra"


async def test_ok_without_alert(rig: Rig) -> None:
    assert await rig.say("#status ok") == ["There is no alert to clear."]
    assert await rig.deliver() == []


async def test_notice_attaches_to_the_only_open_incident(rig: Rig) -> None:
    assert await rig.say("#status notice Maintenance at 10:00") == ["Notice sent."]
    await rig.say("#incident open sev2 Mirror outage")
    assert await rig.say("#status notice Mirrors failing over") == [
        "Notice sent (added to incident #1)."]
    await rig.say("#status log restarted mirror01")
    assert await rig.deliver() == [
        "-statusdesk- NOTICE: Maintenance at 10:00",
        "-statusdesk- NOTICE: Mirrors failing over",
    ]
    async with rig.store.reading() as tx:
        posts = await tx.status_posts.recent(10)
        assert [(p.kind, p.incident_id) for p in posts] == [
            ("log", None), ("notice", 1), ("notice", None)]


async def test_refusal_is_answered_and_audited(rig: Rig) -> None:
    assert await rig.say("#status alert pwned", nick="mallory", account=None) == [
        "you are not authorized to use #status alert"]
    assert await rig.say("#incident 1 log", nick="alice") == [
        "you are not authorized to use #incident ID log"]
    # A whitelisted nick without the services account proves nothing.
    assert await rig.say("#status alert pwned", nick="alice", account=None) == [
        "you are not authorized to use #status alert"]
    assert await rig.deliver() == []
    async with rig.store.reading() as tx:
        assert await tx.alert.current() is None
        refused = await tx.audit.recent(10, outcome="refused")
        assert [(r.actor, r.command, r.reason) for r in refused] == [
            ("alice", "#status alert", "not on the whitelist"),
            ("alice", "#incident ID log", "lacks role escalation"),
            ("mallory", "#status alert", "not on the whitelist"),
        ]


async def test_accepted_privileged_commands_are_audited(rig: Rig) -> None:
    await rig.say("#incident open Disk full")
    await rig.say("#incident list")
    async with rig.store.reading() as tx:
        records = await tx.audit.recent(10)
        assert [(r.command, r.outcome) for r in records] == [("#incident open", "accepted")]
        assert records[0].identity == "alice via irc/oftc account=alice"


async def test_incident_commands(rig: Rig) -> None:
    assert await rig.say("#incident open sev1 Database down") == [
        "Opened incident #1 (sev1): Database down — https://status.test/incidents/1"]
    assert await rig.say("#incident 1 identified bad index") == ["Incident #1 is now identified."]
    assert await rig.say("#incident #1 sev 2") == ["Incident #1: severity is now 2."]
    assert await rig.say("#incident 1 lead bob") == ["Incident #1: incident lead is now bob."]
    assert await rig.say("#incident 1 em carol") == [
        "Incident #1: escalation manager is now carol."]
    assert await rig.say("#incident 1 em carol") == [
        "Incident #1: escalation manager is already carol."]
    assert await rig.say("#incident 7 monitoring") == ["There is no incident #7."]
    rig.clock.advance(minutes=5)
    lines = await rig.say("#incident list")
    assert lines[0] == "1 open incident:"
    assert lines[1].startswith("#1 [sev2 identified] Database down (lead bob, EM carol)")
    show = await rig.say("#incident 1")
    assert show[0].startswith("#1 [sev2 identified] Database down")
    assert show[-1] == "https://status.test/incidents/1"
    assert await rig.say("#incident 1 resolved") == ["Incident #1 is now resolved."]
    assert await rig.say("#incident list") == ["No open incidents."]
    async with rig.store.reading() as tx:
        incident = await tx.incidents.get(1)
        assert incident is not None
        assert (incident.severity, incident.lead, incident.manager) == (2, "bob", "carol")
        entries = [(e.kind, e.old_value, e.new_value) for e in await tx.timeline.entries(1)]
        assert entries == [
            ("opened", None, "investigating"), ("severity", None, "1"),
            ("state", "investigating", "identified"), ("severity", "1", "2"),
            ("lead", None, "bob"), ("manager", None, "carol"),
            ("state", "identified", "resolved"),
        ]


async def test_resolving_the_alert_incident_hints_at_status_ok(rig: Rig) -> None:
    await rig.say("#status alert Gate is broken")
    assert await rig.say("#incident 1 resolved") == [
        "Incident #1 is now resolved. The alert is still set: clear it with #status ok."]


async def test_log_note_needs_an_unambiguous_incident(rig: Rig) -> None:
    assert (await rig.say("#log checking"))[0].startswith("No incident is open")
    await rig.say("#incident open A")
    assert await rig.say("#log restarted zuul") == ["Noted on incident #1."]
    await rig.say("#incident open B")
    assert await rig.say("#log restarted zuul") == [
        "Several incidents are open (#1, #2): say which one, e.g. #log #ID TEXT."]
    assert await rig.say("#log #2 failover done") == ["Noted on incident #2."]
    async with rig.store.reading() as tx:
        notes = [e for e in await tx.timeline.entries(2) if e.kind == "note"]
        assert [(n.text, n.public) for n in notes] == [("failover done", False)]


async def test_incident_log_goes_by_private_message(rig: Rig) -> None:
    await rig.say("#incident open Disk full")
    await rig.say("#log cleaning /var")
    identity = Identity(transport="irc", nick="erin", network="oftc", account="erin")
    replies = await rig.desk.handle(Message("irc", "oftc", "#infra", "erin", identity,
                                            "#incident 1 log"))
    private = [r.text for r in replies if r.private]
    public = [r.text for r in replies if not r.private]
    assert public == ["Sent you the log of incident #1 by private message."]
    assert private[0] == "Incident #1: Disk full — last 3 entries:"
    assert "note (private): cleaning /var" in private[3]


async def test_now_answers_with_alert_and_incidents(rig: Rig) -> None:
    assert await rig.say("statusdesk: what's happening?", nick="visitor", account=None) == [
        "All clear: no alert and no open incidents.", "Status page: https://status.test"]
    await rig.say("#status alert Gate is broken")
    rig.clock.advance(minutes=3)
    answer = await rig.say("#now", nick="visitor", account=None)
    assert answer[0] == "ALERT: Gate is broken (set by alice, 3m ago)"
    assert answer[1] == "#1 [sev2 investigating] Gate is broken"


async def test_kudos_are_open_to_everyone(rig: Rig) -> None:
    assert await rig.say("#success gate is green again", nick="x", account=None) == [
        "Added to the success list: https://status.test/success"]
    assert await rig.say("#thanks fungi for the mirror fix", nick="x", account=None) == [
        "Added to the thanks list: https://status.test/thanks"]


async def test_later_features_say_they_are_not_configured(rig: Rig) -> None:
    assert await rig.say("#page") == [
        "#page is not configured here (see the `paging` section of the config)"]
    assert await rig.say("#oncall") == [
        "#oncall is not configured here (see the `paging` section of the config)"]
    assert await rig.say("#playbook zuul") == [
        "#playbook is not configured here (see the `playbooks` section of the config)"]


async def test_a_command_not_configured_is_not_logged_or_reported_as_applied(
    rig: Rig, caplog: pytest.LogCaptureFixture,
) -> None:
    identity = Identity(transport="irc", nick="alice", network="oftc", account="alice")
    with caplog.at_level(logging.INFO, logger="statusdesk.desk"):
        handled = await rig.desk.handle_command(
            Message("irc", "oftc", "#infra", "alice", identity, "#page"))
    assert not handled.applied  # what the command API and `statusdesk say` report
    assert [r.text for r in handled.replies] == [
        "#page is not configured here (see the `paging` section of the config)"]
    logged = [r.getMessage() for r in caplog.records if r.name == "statusdesk.desk"]
    assert logged == ["did not apply #page from alice: the paging section is not configured"]


async def test_bug_link_goes_on_the_timeline(rig: Rig) -> None:
    await rig.say("#incident open Gate")
    assert await rig.say("#bug https://bugs.launchpad.net/nova/+bug/123") == [
        "Linked https://bugs.launchpad.net/nova/+bug/123 to incident #1."]


async def test_usage_and_chatter(rig: Rig) -> None:
    assert await rig.say("just chatting about #status") == []
    reply = await rig.say("#status alert")
    assert len(reply) == 1 and reply[0].startswith("usage: #status alert")
    assert (await rig.say("#incident 1 sev 9"))[0].startswith("severities are sev1")


async def test_admin_may_do_everything(rig: Rig) -> None:
    assert await rig.say("#status alert x", nick="root", account="root") == [
        "Alert set; opened incident #1."]


async def test_console_operator_has_every_role(rig: Rig) -> None:
    identity = Identity(transport="console", nick="op", network="console", local_operator=True)
    message = Message("console", "console", "console", "op", identity, "#incident open X")
    assert (await rig.desk.handle(message))[0].text.startswith("Opened incident #1")


async def test_undeliverable_effects_are_retried_not_lost(rig: Rig) -> None:
    await rig.say("#status notice hello")
    async with rig.store.transaction() as tx:
        # A network that was removed from the config: permanent, given up on and kept.
        await tx.outbox.add("notice", "irc/gone/#x",
                            {"transport": "irc", "network": "gone", "target": "#x",
                             "text": "NOTICE: hello"}, "test:gone", rig.clock.now)
    assert await rig.deliver() == ["-statusdesk- NOTICE: hello"]
    async with rig.store.reading() as tx:
        assert await tx.outbox.pending_count() == 0
        assert await tx.outbox.failed_count() == 1


async def test_failed_delivery_is_retried_after_backoff_in_order(rig: Rig) -> None:
    rig.out.broken = True
    await rig.say("#status notice first")
    await rig.say("#status notice second")
    assert await rig.worker.deliver_due() == 0  # the lane's head failed...
    assert await rig.worker.deliver_due() == 0  # ...and is not retried before its time
    async with rig.store.reading() as tx:
        pending = await tx.outbox.pending()
        assert [(e.attempts, e.last_error) for e in pending] == [
            (1, "terminal went away"), (0, None)]
    rig.out.broken = False
    rig.clock.advance(minutes=10)
    assert await rig.deliver() == ["-statusdesk- NOTICE: first", "-statusdesk- NOTICE: second"]


async def test_effects_older_than_a_day_are_given_up(rig: Rig) -> None:
    rig.out.broken = True
    await rig.say("#status notice stale news")
    await rig.worker.deliver_due()
    rig.out.broken = False
    rig.clock.advance(hours=25)
    assert await rig.deliver() == []
    async with rig.store.reading() as tx:
        assert await tx.outbox.failed_count() == 1


async def test_captured_channel_chatter_goes_privately_into_open_incidents(rig: Rig) -> None:
    await rig.say("the gate looks slow today", nick="bystander", account=None)
    await rig.say("#incident open A")
    await rig.say("#incident open B")
    before = rig.clock.now
    rig.clock.advance(minutes=5)
    await rig.say("zuul01 \x02load\x02 is 40\r\nPRIVMSG #x :hi", nick="bystander",
                  account=None)
    await rig.desk.flush_captured()  # captured lines are written in batches
    async with rig.store.reading() as tx:
        for incident_id in (1, 2):
            chats = [e for e in await tx.timeline.entries(incident_id) if e.kind == "chat"]
            assert [(c.actor, c.text, c.public) for c in chats] == [
                ("bystander", "zuul01 load is 40 PRIVMSG #x :hi", False)]
            incident = await tx.incidents.get(incident_id)
            assert incident is not None and incident.updated_at == before


async def test_topic_changes_are_recorded_on_the_alert_incident(rig: Rig) -> None:
    await rig.say("#status alert Gate is broken")
    await rig.deliver()
    await rig.say("#status ok")
    await rig.deliver()
    async with rig.store.reading() as tx:
        topics = [(e.kind, e.actor, e.new_value, e.public)
                  for e in await tx.timeline.entries(1) if e.kind == "topic"]
    assert topics == [("topic", "statusdesk", "Gate is broken", False),
                      ("topic", "statusdesk", "Welcome to #infra", False)]


class Echo:
    """A desk extension that owns `#oncall` and watches every change, as paging will."""

    commands = (m.OnCall,)

    def __init__(self, channels: Callable[[], Sequence[Channel]]) -> None:
        self.seen: list[str] = []
        self._channels = channels

    async def apply(self, command: object, ctx: Applying) -> None:
        queued = broadcast("echo:1", self._channels(),
                           [Notice(EVERYWHERE, "NOTICE: from an extension")])
        await ctx.tx.outbox.add_many([to_row(q) for q in queued], ctx.now)
        ctx.out.queued = True
        ctx.out.say(f"echo for {ctx.principal.name if ctx.principal else 'nobody'}")

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        self.seen.append(event.kind)
        if event.kind == INCIDENT_OPENED:
            ctx.out.say(f"an extension saw incident #{event.incident_id} open")


async def test_extensions_apply_their_commands_and_see_changes_in_the_transaction(
    rig: Rig,
) -> None:
    echo = Echo(lambda: [Channel("console", "console", "console")])
    rig.desk.add_extension(echo)
    assert await rig.say("#oncall") == ["echo for alice"]
    assert await rig.deliver() == ["-statusdesk- NOTICE: from an extension"]
    assert await rig.say("#incident open Disk full") == [
        "Opened incident #1 (sev3): Disk full — https://status.test/incidents/1",
        "an extension saw incident #1 open",
    ]
    assert echo.seen == [INCIDENT_OPENED]


async def test_retry_after_from_the_far_end_sets_the_next_attempt(rig: Rig) -> None:
    class Throttled:
        kinds = frozenset({"throttled"})

        async def deliver(self, kind: str, payload: dict[str, object]) -> None:
            raise DeliveryUnavailable("429", retry_after=120)

    worker = OutboxWorker(rig.store, [Throttled()], clock=rig.clock)
    async with rig.store.transaction() as tx:
        await tx.outbox.add("throttled", "x", {}, "test:throttled", rig.clock.now)
    await worker.deliver_due()
    async with rig.store.reading() as tx:
        (effect,) = await tx.outbox.pending()
        assert effect.next_attempt_at == rig.clock.now + timedelta(seconds=120)
