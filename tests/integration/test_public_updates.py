"""Each public update shows once: on `/incidents/ID`, in `/api/v2/*`, in the Atom feed and
on the operators' `/console`, whatever entries one command wrote (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import feedparser  # type: ignore[import-untyped]
import pytest

from tests.harness import Running, run_app
from tests.web_console_rig import console_rig


@pytest.fixture
async def running(db_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with run_app(db_url, tmp_path) as app:
        yield app


async def _updates(running: Running, incident_id: int) -> list[tuple[str, str]]:
    _, _, body = await running.get("/api/v2/incidents.json")
    (incident,) = [i for i in json.loads(body)["incidents"] if i["id"] == str(incident_id)]
    return [(u["status"], u["body"]) for u in incident["incident_updates"]]


def _timeline(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", body).strip()
            for body in re.findall(r'<p class="entry-body"><bdi>(.*?)</bdi>', page, re.S)]


async def test_an_alert_and_its_clearing_show_once_each(running: Running) -> None:
    await running.say("#status alert Gate is broken")
    await running.say("#status ok Gate fixed")
    await running.settled()
    # Newest first; before, the alert showed twice (`opened` and `status.alert`) and so did
    # the clearing (`status.ok` and the `state` entry that resolves the incident).
    assert await _updates(running, 1) == [("resolved", "Gate fixed"),
                                          ("investigating", "Gate is broken")]
    _, _, page = await running.get("/incidents/1")
    assert _timeline(page.decode()) == ["Gate fixed", "Gate is broken"]
    _, _, unresolved = await running.get("/api/v2/incidents/unresolved.json")
    assert json.loads(unresolved)["incidents"] == []


async def test_an_opened_incident_does_not_announce_its_opening_severity(
    running: Running,
) -> None:
    await running.say("#incident open sev2 Database down")
    await running.say("#incident 1 sev1")
    await running.settled()
    # The opening severity is the incident's impact; a change of it is an update.
    assert await _updates(running, 1) == [("investigating", "Severity changed from 2 to 1."),
                                          ("investigating", "Database down")]
    _, _, body = await running.get("/api/v2/summary.json")
    (incident,) = json.loads(body)["incidents"]
    assert [u["body"] for u in incident["incident_updates"]] == [
        "Severity changed from 2 to 1.", "Database down"]


async def test_no_two_feed_entries_share_an_id_or_a_time_and_text(running: Running) -> None:
    for command in ("#status alert Gate is broken", "#status notice Still looking",
                    "#incident 1 identified stale key", "#status ok Gate fixed",
                    "#incident open sev2 Database down", "#incident 2 sev1",
                    "#incident 2 monitoring", "#status notice unrelated",
                    "#status ok", "#status alert again", "#status ok"):
        await running.say(command)
    await running.settled()
    _, _, body = await running.get("/feed.atom")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    ids = Counter(e.id for e in feed.entries)
    assert [i for i, n in ids.items() if n > 1] == []
    # The W3C validator's DuplicateUpdated: two entries of one instant. Every command here
    # is its own instant, so each instant must be one entry.
    updated = Counter(e.updated for e in feed.entries)
    assert [u for u, n in updated.items() if n > 1] == [], [
        (e.updated, e.content[0].value) for e in feed.entries]
    contents = [e.content[0].value for e in feed.entries]
    assert contents.count("Gate is broken") == 1 and contents.count("Gate fixed") == 1
    assert not any(c.startswith("Severity set to") for c in contents)


async def test_the_operators_console_lists_the_alert_once(db_url: str, tmp_path: Path) -> None:
    async with console_rig(db_url, tmp_path) as rig, aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await rig.running.say("#status alert Gerrit is down")
        await rig.running.settled()
        async with http.get(rig.base + "/console") as response:
            nonce = re.search(r'name="signin" value="([^"]+)"', await response.text())
        assert nonce is not None
        async with http.post(rig.base + "/console/sign-in",
                             data={"signin": nonce.group(1), "token": rig.token}) as response:
            page = await response.text()
        assert "Signed in as" in page
        entries = re.findall(r"<li>\d\d:\d\d op: (.*?)</li>", page)
        assert entries == ["Gerrit is down"]
