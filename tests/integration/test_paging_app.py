"""Paging in the whole app: the inbound PagerDuty webhook (in-process, on SQLite and
PostgreSQL), and a SIGKILL between accepting `#page` and delivering it (a real subprocess)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
from pathlib import Path

from bot.paging.hooks import pagerduty_signed
from storage.db import open_store
from tests import secrets
from tests.console_bot import Bot, wait_for_http, write_console_config
from tests.harness import eventually, run_app
from tests.integration.paging_rig import BOB_KEY, CAROL_KEY
from tests.servers.fake_pagerduty import FakePagerDuty

HOOK_SECRET = secrets.PAGERDUTY_HOOK_SECRET
KEY1 = "statusdesk-incident-1-page-1-step-1"


def _paging_yaml(pagerduty: FakePagerDuty, hooks: bool = True) -> str:
    text = (
        "paging:\n"
        "  auto_page_severity: null\n"
        f"  escalation_managers: [{{name: bob, contacts: {{pagerduty: '{BOB_KEY}'}}}}]\n"
        f"  providers: {{pagerduty: {{url: '{pagerduty.enqueue_url}'}}}}\n"
    )
    if hooks:
        text += f"  hooks: {{pagerduty: {{secret: '{HOOK_SECRET}'}}}}\n"
    return text


def _webhook(event_type: str, incident_key: str) -> bytes:
    """A PagerDuty v3 webhook delivery, shaped like PagerDuty's documented example."""
    return json.dumps({"event": {
        "id": "01DEN4HPBQAAAG05V5QQYBRZMF",
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": "2026-11-21T12:03:12.000Z",
        "agent": {"html_url": "https://acme.pagerduty.com/users/PLH1HKV", "id": "PLH1HKV",
                  "self": "https://api.pagerduty.com/users/PLH1HKV",
                  "summary": "Bob Example\r\nPRIVMSG #x :owned", "type": "user_reference"},
        "client": None,
        "data": {"id": "PGR0VU2", "type": "incident", "number": 2, "status": "acknowledged",
                 "incident_key": incident_key, "title": "[sev2] #1 Database down",
                 "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                 "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2"},
    }}).encode()


def _sign(body: bytes, secret: str = HOOK_SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_pagerduty_signature_accepts_any_of_several() -> None:
    body = b'{"event": {}}'
    assert pagerduty_signed("s", body, _sign(body, "s"))
    assert pagerduty_signed("s", body, f"v1=00ff, {_sign(body, 's')}")  # secret rotation
    assert not pagerduty_signed("s", body, _sign(body, "other"))
    assert not pagerduty_signed("s", body, "")
    assert not pagerduty_signed("s", body + b" ", _sign(body, "s"))


async def test_inbound_pagerduty_acknowledgement(db_url: str, tmp_path: Path) -> None:
    async with FakePagerDuty() as pagerduty, \
            run_app(db_url, tmp_path, _paging_yaml(pagerduty)) as running:
        await running.say("#incident open sev2 Database down")
        assert await running.say("#page 1") == [
            "Paging bob for incident #1 (step 1 of 1 via pagerduty)."]
        await eventually(lambda: len(pagerduty.alerts) == 1)
        url = running.base + "/hooks/pagerduty"
        body = _webhook("incident.acknowledged", KEY1)

        async with running.http.post(url, data=body, headers={
                "X-PagerDuty-Signature": _sign(body, "wrong")}) as response:
            assert response.status == 401
        async with running.http.post(url, data=body) as response:
            assert response.status == 401
        async with running.http.post(url, data=b"{}", headers={
                "X-PagerDuty-Signature": _sign(b"{}")}) as response:
            assert response.status == 400
        other = _webhook("incident.triggered", KEY1)
        async with running.http.post(url, data=other, headers={
                "X-PagerDuty-Signature": _sign(other)}) as response:
            assert response.status == 200
            assert await response.json() == {"ignored": "incident.triggered"}
        unknown = _webhook("incident.acknowledged", "somebody-elses-key")
        async with running.http.post(url, data=unknown, headers={
                "X-PagerDuty-Signature": _sign(unknown)}) as response:
            assert await response.json() == {"ignored": "no page with this incident_key"}

        assert running.app.store is not None
        async with running.app.store.reading() as tx:
            (page,) = await tx.pages.of_incident(1)
            assert page.status == "triggered"

        async with running.http.post(url, data=body, headers={
                "X-PagerDuty-Signature": f"v1=00ff,{_sign(body)}"}) as response:
            assert response.status == 200
            assert await response.json() == {"acknowledged": 1}
        async with running.app.store.reading() as tx:
            (page,) = await tx.pages.of_incident(1)
            assert page.status == "acknowledged"
            assert page.acknowledged_by == "Bob Example PRIVMSG #x :owned"
            (entry,) = await tx.timeline.entries(1, kinds=["page.acknowledged"])
            assert entry.text == "via PagerDuty; paged: bob"
        await eventually(lambda: pagerduty.alerts[0].status == "acknowledged")
        assert await running.say("#ack 1") == ["Nobody is being paged for incident #1."]


async def test_no_hook_route_unless_configured(sqlite_url: str, tmp_path: Path) -> None:
    async with FakePagerDuty() as pagerduty, \
            run_app(sqlite_url, tmp_path, _paging_yaml(pagerduty, hooks=False)) as running:
        body = _webhook("incident.acknowledged", KEY1)
        async with running.http.post(running.base + "/hooks/pagerduty", data=body,
                                     headers={"X-PagerDuty-Signature": _sign(body)}) as resp:
            assert resp.status in (404, 405)


async def test_sigkill_between_accepting_and_delivering_a_page(tmp_path: Path) -> None:
    """The page is committed with `#page`; a bot killed before delivering it delivers it
    after the restart, once."""
    pagerduty = FakePagerDuty()
    pagerduty.hold = asyncio.Event()  # requests wait here: nothing is processed yet
    async with pagerduty:
        config, port = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db",
                                            extra=_paging_yaml(pagerduty, hooks=False))
        first = Bot(config, tmp_path)
        try:
            await asyncio.to_thread(wait_for_http, port)
            first.type("#incident open sev2 Database down")
            first.type("#page 1")
            await asyncio.to_thread(
                first.expect,
                "<statusdesk> op: Paging bob for incident #1 (step 1 of 1 via pagerduty).")
            await eventually(lambda: len(pagerduty.requests) == 1)  # in flight, held
            first.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.process.wait, 30)
        finally:
            if first.process.poll() is None:
                first.process.kill()
        pagerduty.hold.set()
        await eventually(lambda: pagerduty.dropped == 1)  # the killed bot's request
        assert pagerduty.alerts == []

        second = Bot(config, tmp_path)
        try:
            await eventually(lambda: len(pagerduty.alerts) == 1)
            await asyncio.sleep(1.0)  # nothing else trickles in
            assert len(pagerduty.alerts) == 1 and len(pagerduty.accepted) == 1
            assert pagerduty.alerts[0].dedup_key == KEY1
            code, stderr = await asyncio.to_thread(second.close)
            assert code == 0, stderr
        finally:
            if second.process.poll() is None:
                second.process.kill()
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    try:
        async with store.reading() as tx:
            assert await tx.outbox.pending_count() == 0
            (page,) = await tx.pages.of_incident(1)
            assert page.status == "triggered"
    finally:
        await store.close()


async def test_the_running_app_escalates_on_its_own(sqlite_url: str, tmp_path: Path) -> None:
    async with FakePagerDuty() as pagerduty:
        paging = (
            "paging:\n"
            "  auto_page_severity: 1\n"
            "  ack_timeout: 1s\n"
            f"  escalation_managers: [{{name: bob, contacts: {{pagerduty: '{BOB_KEY}'}}}},"
            f" {{name: carol, contacts: {{pagerduty: '{'c' * 32}'}}}}]\n"
            f"  providers: {{pagerduty: {{url: '{pagerduty.enqueue_url}'}}}}\n"
        )
        async with run_app(sqlite_url, tmp_path, paging) as running:
            replies = await running.say("#incident open sev1 Everything is down")
            assert replies[-1] == ("Paging bob for incident #1 (step 1 of 2 via pagerduty: "
                                   "automatic page for sev1).")
            await eventually(lambda: len(pagerduty.alerts) == 2, within=15)
            assert [a.routing_key for a in pagerduty.alerts] == [BOB_KEY, CAROL_KEY]
            assert await running.say("#ack") == [
                "Acknowledged: op is on incident #1; escalation stopped."]
            await eventually(lambda: all(a.status == "acknowledged" for a in pagerduty.alerts))
