"""Paging end to end at the desk, on SQLite and PostgreSQL: commands, the escalation timer
and the outbox delivering to a local PagerDuty Events v2 server that validates every event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from storage.unit_of_work import Store
from tests.integration.paging_rig import BOB_KEY, CAROL_KEY, PagingRig, make_rig, paging_config
from tests.servers.fake_http import Scripted
from tests.servers.fake_pagerduty import FakePagerDuty


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _config(pagerduty: FakePagerDuty, *, dave_key: str = "d" * 32,
            auto: int | None = 1) -> dict[str, object]:
    return {
        "auto_page_severity": auto,
        "escalation_managers": [
            {"name": "bob", "contacts": {"pagerduty": BOB_KEY, "irc": "bob"}},
            {"name": "carol", "contacts": {"pagerduty": CAROL_KEY, "irc": "carol"}},
            {"name": "dave", "contacts": {"pagerduty": dave_key}},
        ],
        "ack_timeout": "10m",
        "providers": {"pagerduty": {"url": pagerduty.enqueue_url}},
    }


@pytest.fixture
async def rig(store: Store, pagerduty: FakePagerDuty, http: aiohttp.ClientSession
              ) -> PagingRig:
    return await make_rig(store, paging_config(**_config(pagerduty)), http=http)


KEY1 = "statusdesk-incident-1-page-1-step-1"
KEY2 = "statusdesk-incident-1-page-1-step-2"


async def test_page_then_ack(rig: PagingRig, pagerduty: FakePagerDuty) -> None:
    await rig.say("#incident open sev2 Database down")
    assert await rig.say("#page 1 primary is gone") == [
        "Paging bob for incident #1 (step 1 of 3 via pagerduty: primary is gone)."]
    assert await rig.deliver() == []
    alert = pagerduty.alert(KEY1)
    assert alert.routing_key == BOB_KEY and alert.status == "triggered"
    (trigger,) = alert.events
    assert trigger["payload"]["summary"] == "[sev2] #1 Database down — primary is gone"
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["source"] == "statusdesk"
    assert trigger["payload"]["custom_details"]["escalation_step"] == "1 of 3"
    assert trigger["links"] == [{"href": "https://status.test/incidents/1",
                                 "text": "Incident #1 on the status page"}]

    assert await rig.say("#page 1") == [
        "Already paging bob for incident #1 (step 1 of 3, since 12:00 UTC); #ack stops it."]
    # Someone else cannot stop the escalation for bob.
    assert await rig.say("#ack", nick="alice") == [
        "you are not authorized to use #ack: you were not paged for incident #1 (paged: bob); "
        "only they or an admin may acknowledge."]
    # A bare nick proves nothing: "bob" without bob's services account is not bob.
    assert await rig.say("#ack 1", nick="bob", account="") == [
        "you are not authorized to use #ack: you were not paged for incident #1 (paged: bob); "
        "only they or an admin may acknowledge."]
    assert await rig.say("#ack", nick="bob") == [
        "Acknowledged: bob is on incident #1; escalation stopped."]
    await rig.deliver()
    assert alert.status == "acknowledged"
    assert [e["event_action"] for e in alert.events] == ["trigger", "acknowledge"]

    rig.clock.advance(hours=1)
    assert await rig.escalate() == 0
    async with rig.store.reading() as tx:
        incident = await tx.incidents.get(1)
        assert incident is not None and incident.acknowledged_at is not None
        kinds = [e.kind for e in await tx.timeline.entries(1)]
        assert kinds[-2:] == ["page.sent", "page.acknowledged"]
        refused = [r for r in await tx.audit.recent(10) if r.outcome == "refused"]
        assert len(refused) == 2 and refused[0].command == "#ack"
    assert await rig.say("#ack 1", nick="bob") == ["Nobody is being paged for incident #1."]


async def test_no_ack_escalates_to_the_next_manager_then_ack(
    rig: PagingRig, pagerduty: FakePagerDuty
) -> None:
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    await rig.deliver()
    rig.clock.advance(minutes=9, seconds=59)
    assert await rig.escalate() == 0
    rig.clock.advance(seconds=1)
    assert await rig.escalate() == 1
    assert await rig.deliver() == [
        "-statusdesk- bob did not acknowledge within 10m for incident #1: escalating to carol "
        "(step 2 of 3 via pagerduty)."]
    assert pagerduty.alert(KEY2).routing_key == CAROL_KEY
    assert pagerduty.alert(KEY1).status == "triggered"
    # The person paged second acknowledges; every page of the round is acknowledged.
    assert await rig.say("#ack 1", nick="carol") == [
        "Acknowledged: carol is on incident #1; escalation stopped."]
    await rig.deliver()
    assert pagerduty.alert(KEY1).status == "acknowledged"
    assert pagerduty.alert(KEY2).status == "acknowledged"
    rig.clock.advance(hours=1)
    assert await rig.escalate() == 0
    async with rig.store.reading() as tx:
        entries = [e for e in await tx.timeline.entries(1) if e.kind.startswith("page.")]
    assert [(e.kind, e.old_value, e.new_value) for e in entries] == [
        ("page.sent", None, "bob"), ("page.escalated", "bob", "carol"),
        ("page.acknowledged", None, "carol")]


async def test_the_chain_ends_after_the_last_manager(rig: PagingRig) -> None:
    await rig.say("#incident open sev3 Slow mirrors")
    await rig.say("#page")
    for _ in range(2):
        rig.clock.advance(minutes=10)
        assert await rig.escalate() == 1
    await rig.deliver()
    rig.clock.advance(minutes=10)
    assert await rig.escalate() == 1
    assert await rig.deliver() == [
        "-statusdesk- Nobody has acknowledged the page for incident #1: dave did not "
        "acknowledge within 10m, and all 3 escalation managers have been paged (bob, carol, "
        "dave). Any of them can still #ack 1."]
    rig.clock.advance(hours=5)
    assert await rig.escalate() == 0
    async with rig.store.reading() as tx:
        pages = await tx.pages.of_incident(1)
        kinds = [e.kind for e in await tx.timeline.entries(1)]
    assert [(p.manager, p.status) for p in pages] == [
        ("bob", "escalated"), ("carol", "escalated"), ("dave", "triggered")]
    assert kinds[-1] == "page.unanswered"
    # The last manager can still acknowledge.
    assert await rig.say("#ack", nick="root") == [
        "Acknowledged: root is on incident #1; escalation stopped."]


async def test_500_twice_then_202_opens_exactly_one_alert(
    rig: PagingRig, pagerduty: FakePagerDuty
) -> None:
    pagerduty.script = [Scripted(500), Scripted(502)]
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    await rig.deliver()
    assert pagerduty.alerts == []
    for _ in range(2):
        rig.clock.advance(minutes=5)  # past any backoff of the first attempts
        await rig.deliver()
    assert len(pagerduty.requests) == 3
    assert len(pagerduty.alerts) == 1
    assert pagerduty.alerts[0].dedup_key == KEY1
    async with rig.store.reading() as tx:
        assert await tx.outbox.pending_count() == 0


async def test_a_retried_trigger_folds_into_the_same_alert(
    rig: PagingRig, pagerduty: FakePagerDuty
) -> None:
    """The provider accepted but the answer was lost: the retry carries the same key."""
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    async with rig.store.reading() as tx:
        (effect,) = [e for e in await tx.outbox.pending() if e.kind == "page.pagerduty"]
    await rig.paging.deliverer.deliver(effect.kind, effect.payload)  # delivered, not settled
    await rig.deliver()
    assert len(pagerduty.accepted) == 2 and len(pagerduty.alerts) == 1


async def test_429_retry_after_is_honoured(rig: PagingRig, pagerduty: FakePagerDuty) -> None:
    pagerduty.script = [Scripted(429, {"Retry-After": "120"}, {"message": "slow down"})]
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    start = rig.clock.now
    await rig.deliver()
    async with rig.store.reading() as tx:
        (effect,) = [e for e in await tx.outbox.pending() if e.kind == "page.pagerduty"]
    assert effect.next_attempt_at == start + timedelta(seconds=120)
    assert "429" in (effect.last_error or "")
    rig.clock.advance(seconds=119)
    await rig.deliver()
    assert len(pagerduty.requests) == 1
    rig.clock.advance(seconds=1)
    await rig.deliver()
    assert len(pagerduty.requests) == 2 and len(pagerduty.alerts) == 1


async def test_400_is_reported_in_the_channel_and_escalates_at_once(
    store: Store, pagerduty: FakePagerDuty, http: aiohttp.ClientSession
) -> None:
    config = _config(pagerduty)
    managers = config["escalation_managers"]
    assert isinstance(managers, list)
    managers.insert(0, {"name": "zed", "contacts": {"pagerduty": "too-short"}})
    rig = await make_rig(store, paging_config(**config), http=http)
    await rig.say("#incident open sev2 Database down")
    assert await rig.say("#page") == [
        "Paging zed for incident #1 (step 1 of 4 via pagerduty)."]
    assert await rig.deliver() == [
        "-statusdesk- Could not send the page for incident #1 to zed via pagerduty: PagerDuty "
        "answered 400: Event object is invalid; invalid event; [\"Length of 'routing_key' is "
        "incorrect (should be 32 characters)\"] — no way left to reach zed: escalating now."]
    assert await rig.escalate() == 1  # no need to wait ack_timeout for someone unreachable
    assert await rig.deliver() == [
        "-statusdesk- zed could not be reached for incident #1: escalating to bob (step 2 of 4 "
        "via pagerduty)."]
    assert pagerduty.alert("statusdesk-incident-1-page-1-step-2").routing_key == BOB_KEY
    async with rig.store.reading() as tx:
        assert await tx.outbox.failed_count() == 1
        (failed,) = await tx.timeline.entries(1, kinds=["page.failed"])
        assert failed.new_value == "zed" and not failed.public
        assert "too-short" not in (failed.text or "")


async def test_resolving_the_incident_resolves_its_pages(
    rig: PagingRig, pagerduty: FakePagerDuty
) -> None:
    await rig.say("#incident open sev2 Database down")
    await rig.say("#page")
    rig.clock.advance(minutes=10)
    await rig.escalate()
    await rig.deliver()
    assert await rig.say("#incident 1 resolved failover done") == [
        "Incident #1 is now resolved.", "Resolved the page(s) of incident #1."]
    await rig.deliver()
    assert pagerduty.alert(KEY1).status == "resolved"
    assert pagerduty.alert(KEY2).status == "resolved"
    rig.clock.advance(hours=1)
    assert await rig.escalate() == 0
    assert await rig.say("#page 1") == [
        "Incident #1 is resolved: there is nobody to page for it."]


async def test_status_ok_resolves_the_alert_incident_pages(
    rig: PagingRig, pagerduty: FakePagerDuty
) -> None:
    await rig.say("#status alert Gerrit is down")
    await rig.say("#page")
    await rig.say("#status ok")
    await rig.deliver()
    assert pagerduty.alert(KEY1).status == "resolved"


async def test_severe_incidents_page_automatically(
    rig: PagingRig, pagerduty: FakePagerDuty
) -> None:
    assert await rig.say("#incident open sev1 Everything is down") == [
        "Opened incident #1 (sev1): Everything is down — https://status.test/incidents/1",
        "Paging bob for incident #1 (step 1 of 3 via pagerduty: automatic page for sev1)."]
    await rig.say("#incident open sev3 Docs slow")
    assert await rig.say("#incident 2 sev 1") == [
        "Incident #2: severity is now 1.",
        "Paging bob for incident #2 (step 1 of 3 via pagerduty: automatic page for sev1)."]
    # Down and up again while the page is going on: no second page.
    await rig.say("#incident 2 sev 2")
    assert await rig.say("#incident 2 sev 1") == ["Incident #2: severity is now 1."]
    await rig.deliver()
    assert [a.events[0]["payload"]["severity"] for a in pagerduty.alerts] == [
        "critical", "critical"]


async def test_no_auto_page_when_switched_off(
    store: Store, pagerduty: FakePagerDuty, http: aiohttp.ClientSession
) -> None:
    rig = await make_rig(store, paging_config(**_config(pagerduty, auto=None)), http=http)
    assert await rig.say("#incident open sev1 Everything is down") == [
        "Opened incident #1 (sev1): Everything is down — https://status.test/incidents/1"]


async def test_oncall_and_override(rig: PagingRig, pagerduty: FakePagerDuty) -> None:
    assert await rig.say("#oncall") == [
        "On call now: bob (no rotation configured). Escalation order: bob → carol → dave."]
    assert await rig.say("#oncall override carol until 2026-11-23 09:00") == [
        "you are not authorized to use #oncall override"]
    assert await rig.say("#oncall override zoe until 2026-11-23 09:00", nick="erin") == [
        "zoe is not an escalation manager (paging.escalation_managers: bob, carol, dave)."]
    assert await rig.say("#oncall override carol until 2026-11-01 09:00", nick="erin") == [
        "Sun 2026-11-01 09:00 UTC has passed already: give a time to come."]
    assert await rig.say("#oncall override carol until 2026-11-23 09:00", nick="erin") == [
        "carol is on call instead of bob until Mon 2026-11-23 09:00 UTC."]
    assert await rig.say("#oncall") == [
        "On call now: carol (override) until Mon 2026-11-23 09:00 UTC; next: bob. "
        "Escalation order: carol → bob → dave."]
    await rig.say("#incident open sev2 Database down")
    assert (await rig.say("#page"))[0].startswith("Paging carol for incident #1")
    rig.clock.advance(days=3)
    assert await rig.say("#oncall") == [
        "On call now: bob (no rotation configured). Escalation order: bob → carol → dave."]


async def test_ack_without_id_picks_the_incident_paging_the_sender(
    rig: PagingRig, pagerduty: FakePagerDuty
) -> None:
    assert await rig.say("#ack", nick="bob") == ["Nobody is being paged right now."]
    await rig.say("#incident open sev2 Database down")
    await rig.say("#incident open sev2 Mirrors down")
    await rig.say("#page 1")
    await rig.say("#page 2")
    assert await rig.say("#ack", nick="bob") == [
        "Pages are going on for several incidents (#1, #2): say which one, e.g. #ack 1."]
    assert await rig.say("#ack 2", nick="bob") == [
        "Acknowledged: bob is on incident #2; escalation stopped."]
    assert await rig.say("#ack", nick="bob") == [
        "Acknowledged: bob is on incident #1; escalation stopped."]
