"""A flood posted while the bot is away cannot make its catch-up endless: Mallory posts more
than a sync's timeline and a back-fill's bound together, burying a command of Alice's; the
bot reads the newest 1,000 events of the gap, applies nothing older, says so once in the
room, and is live again within seconds. Posting the flood takes a while: `make test-soak`."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.transports.matrix.backfill import MAX_GAP_EVENTS, SYNC_TIMELINE_LIMIT
from tests.figures import record
from tests.harness import run_app
from tests.matrix_scene import Scene, connected, ran_once


@pytest.mark.soak
async def test_a_flood_while_away_is_read_only_within_the_bound(
        scene: Scene, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "statusdesk.matrix")
    alice, mallory = scene.alice, scene.mallory
    await ran_once(scene, sqlite_url, tmp_path)

    await alice.say(scene.ops, "#status notice buried under the flood")
    flood = SYNC_TIMELINE_LIMIT + MAX_GAP_EVENTS + 50
    token = str(mallory.client.access_token)

    def post_flood() -> None:
        for n in range(flood):
            scene.synapse.admin_request(
                token, "PUT", f"/_matrix/client/v3/rooms/{quote(scene.ops)}/send/"
                f"m.room.message/flood{n}", {"msgtype": "m.text", "body": f"#status alert {n}"})

    await asyncio.to_thread(post_flood)
    await alice.say(scene.ops, "#status notice after the flood")

    mark = len(alice.seen)
    started = time.monotonic()
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await connected(running)
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: after the flood"), after=mark,
                                 within=120)
        caught_up = time.monotonic() - started
        note = await alice.wait_for(lambda s: s.sender == scene.bot
                                    and s.body.startswith("I was away: "), after=mark)
        await asyncio.sleep(2.0)

    assert note.room_id == scene.ops
    assert note.body.endswith(f"were not read (I catch up on at most {MAX_GAP_EVENTS} "
                              "messages and 24 hours); repeat any command from then that "
                              "still matters."), note.body
    said = [s.body for s in alice.seen[mark:] if s.sender == scene.bot]
    assert not [body for body in said if "buried" in body], said
    assert [body for body in said if body.startswith("I was away: ")] == [note.body]
    topics = [s for s in alice.seen[mark:] if s.kind == "topic"]
    assert topics == []
    assert [r.getMessage() for r in caplog.records if "through /messages" in r.getMessage()
            ] == [f"matrix: {scene.ops_alias}: the sync skipped some events; read "
                  f"{MAX_GAP_EVENTS} of them through /messages"]
    assert len([r for r in caplog.records if "were posted while I was away and are not "
                "read" in r.getMessage()]) == 1
    record("matrix catch-up", f"{flood} hostile messages posted while away over a command: "
           f"{MAX_GAP_EVENTS} back-filled, the rest left unread and said so once; live again "
           f"{caught_up:.1f} s after the start")
