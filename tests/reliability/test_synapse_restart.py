"""Synapse SIGKILLed while the bot long-polls `/sync` (an idle bot always has a sync
outstanding), then started again: the bot syncs on from its saved token, so a command posted
just before the crash, and one posted as soon as Synapse was back, are each handled exactly
once, and nothing handled before is handled again.

The homeserver is the session's shared one: it is started again before the test ends,
whatever happens, and the other Matrix tests make their own users and rooms. A Synapse
restart takes a while, so this runs with `make test-soak`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.figures import record
from tests.harness import run_app
from tests.integration.test_matrix_catch_up import LATE
from tests.matrix_scene import (
    Scene,
    bot_joined,
    connected,
    matrix_health,
)
from tests.servers.synapse import SynapseServer


@pytest.mark.soak
async def test_synapse_killed_during_sync_nothing_lost_nothing_twice(
        scene: Scene, synapse: SynapseServer, sqlite_url: str, tmp_path: Path) -> None:
    alice = scene.alice
    commands = {
        "before": "#status notice handled before the crash",
        "racing": "#status notice posted just as the homeserver died",
        "after": "#status notice posted as soon as it was back",
    }
    async with run_app(sqlite_url, tmp_path, scene.config()) as running:
        await bot_joined(running, scene, scene.rooms)
        device = (await connected(running))["device_id"]
        await alice.say(scene.ops, commands["before"])
        for room in scene.rooms:
            await alice.wait_for(scene.from_bot(room, "NOTICE: handled before the crash"))
        await asyncio.sleep(0.5)  # idle: the bot's next /sync is a long poll now

        await alice.say(scene.ops, commands["racing"])
        killed_at = time.monotonic()
        try:
            await asyncio.to_thread(synapse.kill)
            for _ in range(300):
                if not matrix_health(running)["connected"]:
                    break
                await asyncio.sleep(0.1)
            assert matrix_health(running)["connected"] is False
        finally:
            await asyncio.to_thread(synapse.start)
        back_at = time.monotonic()
        await alice.say(scene.ops, commands["after"])

        for room in scene.rooms:
            for text in ("posted just as the homeserver died", "posted as soon as it was back"):
                await alice.wait_for(scene.from_bot(room, f"NOTICE: {text}"), within=90)
        handled_at = time.monotonic()
        await asyncio.sleep(3.0)  # anything handled twice would have been answered by now
        health = matrix_health(running)
        assert health["connected"] is True and health["device_id"] == device

    for room in scene.rooms:
        notices = [s.body for s in alice.messages(room, "m.notice", scene.bot)
                   if s.body.startswith("NOTICE: ")]
        assert sorted(notices) == sorted(["NOTICE: handled before the crash",
                                          "NOTICE: posted just as the homeserver died",
                                          "NOTICE: posted as soon as it was back"]), notices
    answers = [s.body for s in alice.messages(scene.ops, "m.notice", scene.bot)
               if s.body.startswith(f"{alice.user_id}: ")]
    # What the first sync after the reconnect brought was posted while the bot was away,
    # and its answer says so (which of the two others that is depends on the race); the
    # command handled before the crash was not late.
    assert [LATE.sub("", answer) for answer in answers] == [
        f"{alice.user_id}: Notice sent."] * 3, answers
    assert not LATE.search(answers[0]), answers
    record("server faults", f"Synapse SIGKILLed during /sync, back after "
           f"{back_at - killed_at:.1f} s: 3/3 commands handled once (one racing the crash), "
           f"all delivered {handled_at - back_at:.1f} s after Synapse was back")
