"""The bot names itself by its IRC nick everywhere it writes a timeline entry of its own:
paging (escalation), reminders and playbook suggestions, in the whole app, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.incidents.reminders import REMINDER_KIND
from bot.playbooks.extension import SUGGESTED
from storage.db import open_store, upgrade
from storage.models import TimelineEntry, utcnow
from storage.timeline import Where
from tests.harness import run_app
from tests.integration.paging_rig import BOB_KEY
from tests.servers.fake_pagerduty import FakePagerDuty
from tests.servers.ports import free_port

NICK = "deskbot"


async def _entries(app: App, incident_id: int, kind: str,
                   within: float = 20.0) -> Sequence[TimelineEntry]:
    """The incident's timeline entries of `kind`, once there is one."""
    assert app.store is not None
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        async with app.store.reading() as tx:
            found = await tx.timeline.entries(incident_id, kinds=[kind])
        if found:
            return found
        if loop.time() > end:
            raise AssertionError(f"incident #{incident_id} never got a {kind!r} entry")
        await asyncio.sleep(0.05)


async def test_timeline_entries_of_the_bot_carry_its_irc_nick(db_url: str,
                                                               tmp_path: Path) -> None:
    # An incident nobody has touched for an hour: the first reminder pass nudges it.
    store = open_store(db_url)
    try:
        await upgrade(store.engine)
        async with store.transaction() as tx:
            an_hour_ago = utcnow() - timedelta(hours=1)
            old = await tx.incidents.open(title="Imported", severity=2, opened_by="api",
                                          at=an_hour_ago)
            await tx.timeline.append(old.id, "opened", Where(actor="api"), an_hour_ago)
    finally:
        await store.close()
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "zuul.md").write_text(
        "---\ntitle: Zuul scheduler restarts\nkeywords: [zuul, scheduler]\n---\n"
        "Changes are re-enqueued after the restart; do not recheck.\n")
    async with FakePagerDuty() as pagerduty:
        extra = (
            # Nothing listens there: the IRC network only gives the bot its nick.
            f"irc: [{{name: testnet, host: 127.0.0.1, port: {free_port()}, tls: false,"
            f" nick: {NICK}, channels: ['#infra']}}]\n"
            "incidents: {remind_after: 30m}\n"
            f"playbooks: {{dir: '{playbooks}'}}\n"
            "paging:\n"
            "  auto_page_severity: null\n"
            f"  escalation_managers: [{{name: bob, contacts: {{pagerduty: '{BOB_KEY}'}}}}]\n"
            f"  providers: {{pagerduty: {{url: '{pagerduty.enqueue_url}'}}}}\n"
        )
        async with run_app(db_url, tmp_path, extra) as running:
            app = running.app
            assert app.bot_nick == NICK
            (reminder, *_) = await _entries(app, old.id, REMINDER_KIND)
            assert reminder.actor == NICK

            opened = await running.say("#incident open sev2 Zuul scheduler down")
            new = int(opened[0].split("#", 1)[1].split(" ", 1)[0])
            (suggested,) = await _entries(app, new, SUGGESTED)
            assert suggested.actor == NICK

            assert (await running.say(f"#page {new}"))[0].startswith("Paging bob")
            assert app.store is not None and app.paging is not None
            async with app.store.transaction() as tx:
                (page,) = await tx.pages.of_incident(new)
                page.escalate_at = utcnow() - timedelta(seconds=1)
            app.paging.scheduler.wake()
            (unanswered,) = await _entries(app, new, "page.unanswered")
            assert unanswered.actor == NICK
