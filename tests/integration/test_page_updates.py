"""A change re-reads and re-renders only what shows it (issue 21), and the documents it makes
are the ones a full rebuild from the database makes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.web.snapshot import render_hot
from bot.web.state import load_page_state
from tests.harness import Running, run_app

HOT = ("/", "/api/v2/summary.json", "/api/v2/incidents.json",
       "/api/v2/incidents/unresolved.json", "/api/v2/status.json", "/feed.atom", "/success",
       "/thanks", "/history", "/alert.json")


@pytest.fixture
async def running(db_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with run_app(db_url, tmp_path) as app:
        yield app


async def full_rebuild(running: Running) -> dict[str, bytes]:
    snapshot = running.app.snapshot
    assert snapshot.state is not None
    state = await load_page_state(running.app.store, title=snapshot.state.title,
                                  url=snapshot.state.url, now=snapshot.state.now,
                                  subscribe=snapshot.state.subscribe)
    return {path: document.body for path, document in render_hot(state).items()
            if path in PATHS}


PATHS = {*HOT, *(f"/incidents/{n}" for n in range(1, 60))}


def served(running: Running) -> dict[str, bytes]:
    snapshot = running.app.snapshot
    return {path: d.body for path in PATHS if (d := snapshot.hot(path)) is not None}


async def test_changes_one_by_one_give_the_documents_a_full_rebuild_gives(
        running: Running) -> None:
    # Resolved incidents past the 50 the page keeps, so a reopened one lets another in.
    for n in range(53):
        await running.say(f"#incident open sev{n % 4 + 1} Outage {n}")
        await running.say(f"#incident {n + 1} resolved fixed {n}")
    await running.settled()
    steps = [
        "#incident open sev2 Mirror lagging", "#status alert Gate is broken",
        "#status notice still broken", "#incident 54 identified cause found",
        "#success the gate is green", "#thanks fungi for the fix",
        "#incident 53 monitoring reopened to watch it", "#incident 3 monitoring again",
        "#incident 54 resolved", "#status ok", "#incident 1 monitoring back from the dead",
    ]
    for step in steps:
        await running.say(step)
        await running.settled()  # each a rebuild of its own: read only what it touched
        incremental, full = served(running), await full_rebuild(running)
        assert incremental.keys() == full.keys(), step
        for path, body in full.items():
            assert incremental[path] == body, (step, path)


async def test_a_kudos_renders_its_list_only_and_a_notice_not_the_incident_pages(
        running: Running) -> None:
    for n in range(3):
        await running.say(f"#incident open Outage {n}")
    await running.settled()
    snapshot = running.app.snapshot
    before = {path: snapshot.hot(path) for path in (*HOT, "/incidents/1", "/incidents/2")}
    await running.say("#success the gate is green")
    await running.settled()
    after = {path: snapshot.hot(path) for path in before}
    changed = {path for path in before if after[path] is not before[path]}
    assert changed == {"/success"}
    await running.say("#status notice mirrors are lagging")
    await running.settled()
    again = {path: snapshot.hot(path) for path in before}
    changed = {path for path in before if again[path] is not after[path]}
    assert changed == {"/", "/feed.atom"}


def last_updated(page: bytes) -> bytes:
    found = re.search(rb'class="updated">Last updated <time datetime="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def test_each_document_says_when_what_it_shows_last_changed(running: Running) -> None:
    await running.say("#incident open sev2 Outage one")
    await running.settled()
    _, _, index = await running.get("/")
    await asyncio.sleep(1.1)  # the times shown are to the second
    await running.say("#thanks fungi for the fix")
    await running.settled()
    _, _, thanks = await running.get("/thanks")
    _, _, index_after = await running.get("/")
    kudos_time = re.search(rb'<time datetime="([^"]+)"', thanks.split(b"fungi for the fix")[1])
    assert kudos_time is not None
    assert last_updated(thanks) == kudos_time.group(1)
    # The front page does not show kudos: neither their time, nor a new ETag for them.
    assert index_after == index
    assert last_updated(index) < last_updated(thanks)


async def test_changes_that_leave_components_alone_give_what_a_full_rebuild_gives(
        db_url: str, tmp_path: Path) -> None:
    # A notice, a role, a bug or a note reuses the components, their uptime and the
    # incidents' holds of the state before; the ones that change them read them again.
    components = ("components:\n  - {name: Gerrit, group: Code review}\n"
                  "  - {name: Zuul, group: CI}\n")
    async with run_app(db_url, tmp_path, extra=components) as running:
        steps = [
            "#incident open sev2 Gerrit is slow", "#incident 1 affects gerrit major_outage",
            "#status notice looking at gerrit", "#incident 1 role comms carol",
            "#status alert Zuul is broken", "#status notice still broken",
            "#bug 2 https://bugs.example.org/7", "#component zuul degraded merges slow",
            "#incident 2 affects zuul partial_outage", "#status notice zuul held",
            "#incident 1 resolved fixed", "#status notice gerrit is back", "#status ok",
        ]
        await running.settled()
        for step in steps:
            await running.say(step)
            await running.settled()
            incremental, full = served(running), await full_rebuild(running)
            assert incremental.keys() == full.keys(), step
            for path, body in full.items():
                assert incremental[path] == body, (step, path)
        _, _, index = await running.get("/")
        assert b"Zuul" in index and b"carol" in (await running.get("/incidents/1"))[2]



async def test_announced_returns_once_the_page_shows_the_change(running: Running) -> None:
    # The outbox's pass waits for this (bot/app.py): it must not return before the HTML
    # pages show the change, and must not wait when nothing is queued.
    snapshot = running.app.snapshot
    await running.say("#incident open sev2 Outage one")
    await running.settled()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await snapshot.announced(within=5.0)
    assert loop.time() - started < 0.05
    renders = snapshot.renders
    await running.say("#status notice mirrors are lagging")
    await snapshot.announced(within=5.0)
    assert snapshot.renders >= renders + 1  # (a refresh at UTC midnight may add one)
    page = snapshot.hot("/")
    assert page is not None and b"mirrors are lagging" in page.body
