"""What the bot reads when it comes back, against a real Synapse: everything posted while it
was away (more than one sync's timeline holds: the gap is back-filled through /messages),
each command once and in order, its answer saying it was late; and on a very first start
nothing from before, even when the bot's account joined its rooms long ago."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.transports.matrix.backfill import SYNC_TIMELINE_LIMIT
from tests.figures import record
from tests.harness import opened_store, run_app
from tests.matrix_client import MatrixUser
from tests.matrix_scene import TOPIC_INFRA, TOPIC_OPS, Scene, bot_joined, connected, ran_once

LATE = re.compile(r" \(posted \d{4}-\d\d-\d\d \d\d:\d\d UTC while I was away; handled now\)$")


async def audit_rows(db_url: str) -> list[tuple[str, str, str]]:
    """(command, text, outcome) of every audit row, oldest first."""
    async with opened_store(db_url) as store, store.reading() as tx:
        rows = await tx.audit.recent(1000)
    return [(row.command, row.text, row.outcome) for row in reversed(rows)]


async def incident_titles(db_url: str) -> list[str]:
    async with opened_store(db_url) as store, store.reading() as tx:
        incidents = await tx.incidents.list_all()
    return [incident.title for incident in sorted(incidents, key=lambda i: i.id)]


async def test_a_gap_longer_than_a_sync_is_back_filled_each_command_once_in_order(
        scene: Scene, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "statusdesk.matrix")
    alice, mallory = scene.alice, scene.mallory
    await ran_once(scene, sqlite_url, tmp_path)

    # While the bot is away: 150 messages in the ops room (more than the 100 a sync holds,
    # so the sync that comes back is limited and the oldest 50 are in its gap), chatter
    # from two people with commands among it, the first three of them deep in the gap.
    total = SYNC_TIMELINE_LIMIT + 50
    commands = {
        3: (alice, "#status alert Gap alert"),
        8: (mallory, "#status alert Mallory was here"),
        17: (alice, "#incident open sev3 Gap incident"),
        33: (alice, "#log 2 gap note"),
        71: (alice, "#status notice Gap notice in the window"),
        140: (alice, "#status notice Gap notice near the end"),
    }
    for n in range(total):
        who, text = commands.get(n, (alice if n % 2 else mallory, f"chatter {n}"))
        await who.say(scene.ops, text)
    await alice.say(scene.infra, "#status notice Infra notice while away")

    mark = len(alice.seen)
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await connected(running)
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: Gap notice near the end"),
                                 after=mark, within=60)
            await alice.wait_for(scene.from_bot(room, "NOTICE: Infra notice while away"),
                                 after=mark, within=60)
        await asyncio.sleep(2.0)  # anything applied twice would have been answered by now

    rows = await audit_rows(sqlite_url)
    assert [(command, outcome) for command, _, outcome in rows] == [
        ("#status alert", "accepted"),
        ("#status alert", "refused"),
        ("#incident open", "accepted"),
        ("#log", "accepted"),
        ("#status notice", "accepted"),
        ("#status notice", "accepted"),
        ("#status notice", "accepted"),
    ], rows
    assert await incident_titles(sqlite_url) == ["Gap alert", "Gap incident"]
    backfilled = [r.getMessage() for r in caplog.records
                  if "through /messages" in r.getMessage()]
    assert backfilled == [f"matrix: {scene.ops_alias}: the sync skipped some events; read "
                          f"{total - SYNC_TIMELINE_LIMIT} of them through /messages"], backfilled
    for room in scene.rooms:
        notices = [s.body for s in alice.messages(room, "m.notice", scene.bot)[0:]
                   if s.body.startswith("NOTICE: ")]
        expected = ["NOTICE: Gap alert", "NOTICE: Gap notice in the window",
                    "NOTICE: Gap notice near the end"]
        ops_notices = [n for n in notices if n != "NOTICE: Infra notice while away"]
        assert ops_notices == expected, notices
        assert notices.count("NOTICE: Infra notice while away") == 1
        assert await alice.topic(room) == "Gap alert"

    # Each answer says it was late, once, in the order the commands were posted.
    answers = [s.body for s in alice.messages(scene.ops, "m.notice", scene.bot)
               if s.body.startswith(f"{alice.user_id}: ")]
    assert [LATE.sub("", a) for a in answers] == [
        f"{alice.user_id}: Alert set; opened incident #1.",
        f"{alice.user_id}: Opened incident #2 (sev3): Gap incident — "
        "https://status.example.org/incidents/2",
        f"{alice.user_id}: Noted on incident #2.",
        f"{alice.user_id}: Notice sent (added to incident #1).",
        f"{alice.user_id}: Notice sent (added to incident #1).",
    ], answers
    assert all(LATE.search(a) for a in answers), answers
    refusals = [s.body for s in mallory.messages(scene.ops, "m.notice", scene.bot)
                if s.body.startswith(f"{mallory.user_id}: ")]
    assert len(refusals) == 1 and LATE.search(refusals[0]), refusals
    record("matrix catch-up", f"bot away while {total + 1} messages were posted (6 commands, "
           f"3 of them beyond a sync's {SYNC_TIMELINE_LIMIT}-event window): 7/7 audit rows, "
           "each once, in order, every answer marked late")


async def test_first_start_of_an_account_that_joined_long_ago_applies_nothing_old(
        scene: Scene, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    # An operator logged in as the bot account and joined its rooms (accepting the invite
    # to the private one); then, long before statusdesk ever runs, commands are posted.
    as_bot = await MatrixUser.login(scene.synapse, f"bot{scene.tag}")
    try:
        await as_bot.join(scene.ops)
        await as_bot.join(scene.infra)
    finally:
        await as_bot.close()
    await alice.say(scene.ops, "#status alert Week-old alert")
    await alice.say(scene.infra, "#incident open sev1 Week-old outage")
    await alice.say(scene.ops, "just chatting")

    mark = len(alice.seen)
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await connected(running)
        await asyncio.sleep(2.0)  # a replayed backlog would be answered by now
        await alice.say(scene.ops, "#status notice Fresh after start")
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: Fresh after start"),
                                 after=mark)
        await asyncio.sleep(1.0)

    said = [s.body for s in alice.seen[mark:] if s.sender == scene.bot]
    assert sorted(said) == sorted(["NOTICE: Fresh after start", "NOTICE: Fresh after start",
                                   f"{alice.user_id}: Notice sent."]), said
    assert await alice.topic(scene.ops) == TOPIC_OPS
    assert await alice.topic(scene.infra) == TOPIC_INFRA
    assert await incident_titles(sqlite_url) == []
    assert [(c, o) for c, _, o in await audit_rows(sqlite_url)] == [
        ("#status notice", "accepted")]


async def test_a_gap_opened_while_running_is_back_filled(
        scene: Scene, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "statusdesk.matrix")
    alice = scene.alice
    token = str(alice.client.access_token)
    total = SYNC_TIMELINE_LIMIT + 30
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        await connected(running)
        await alice.say(scene.ops, "#status notice before the stall")
        await alice.wait_for(scene.from_bot(scene.ops, "NOTICE: before the stall"))
        await asyncio.sleep(0.5)  # idle: the bot's next /sync is a long poll now

        def post_all() -> None:
            for n in range(total):
                body = "#status notice posted during the stall" if n == 5 else f"burst {n}"
                scene.synapse.admin_request(
                    token, "PUT", f"/_matrix/client/v3/rooms/{quote(scene.ops)}/send/"
                    f"m.room.message/stall{n}", {"msgtype": "m.text", "body": body})

        # The bot's event loop stalls (a blocking call, a long pause) while a burst is
        # posted from elsewhere: its next sync is more than a timeline behind.
        stall = threading.Thread(target=post_all)
        stall.start()
        stall.join()
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: posted during the stall"),
                                 within=60)
        await asyncio.sleep(1.0)

    assert [r.getMessage() for r in caplog.records if "through /messages" in r.getMessage()]
    assert [(c, t) for c, t, _ in await audit_rows(sqlite_url)] == [
        ("#status notice", "#status notice before the stall"),
        ("#status notice", "#status notice posted during the stall")]
