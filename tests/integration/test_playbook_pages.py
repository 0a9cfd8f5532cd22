"""The playbooks on the status page, served by the whole app: `/playbooks`, an entry's page
(Markdown rendered and sanitized), and what incident pages and logs show of bugs."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.harness import API_TOKEN, Running, run_app
from tests.servers.fake_trackers import FakeTrackers, running_trackers

HOSTILE = """---
title: Zuul <b>restarts</b>
keywords: [zuul, scheduler]
bugs:
  - {bug}
owner: infra-core
updated: 2026-11-01
---
# What to do

Changes are re-enqueued; **do not** recheck.

<script>alert("pwned")</script>
<img src=x onerror="alert(1)">
[click](javascript:alert(1)) and [the runbook](https://docs.example.org/zuul).

| step | who |
|------|-----|
| wait | everyone |
"""


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def parse(body: bytes) -> Elements:
    parser = Elements()
    parser.feed(body.decode())
    return parser


@pytest.fixture
async def site(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Running, FakeTrackers]]:
    async with running_trackers() as fakes:
        bug = fakes.github.add(1234, "Scheduler loses events", assignee="alice")
        directory = tmp_path / "playbooks"
        directory.mkdir()
        (directory / "zuul-restarts.md").write_text(HOSTILE.format(bug=bug))
        (directory / "dns.md").write_text("---\ntitle: DNS errors\nkeywords: [dns]\n---\n"
                                          "Flush the caches.\n")
        extra = (f"playbooks:\n  dir: {directory}\n  trackers: {json.dumps(fakes.config)}\n")
        async with run_app(db_url, tmp_path, extra) as running:
            yield running, fakes


async def test_playbook_page_renders_markdown_without_any_script(
    site: tuple[Running, FakeTrackers]
) -> None:
    running, _ = site
    status, headers, body = await running.get("/playbooks/zuul-restarts")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"].startswith("public, max-age=10")
    page = parse(body)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"src": "/static/live.js", "defer": None}]  # the page's own, only
    assert page.script_text == []
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    hrefs = [attrs.get("href") or "" for tag, attrs in page.tags if tag == "a"]
    assert not any(href.lower().startswith("javascript:") for href in hrefs)
    assert "https://docs.example.org/zuul" in hrefs
    assert [tag for tag, _ in page.tags if tag in ("img", "iframe")] == []
    text = body.decode()
    assert "&lt;script&gt;" in text  # shown as text, so the reader sees what was written
    assert "<strong>do not</strong>" in text and "<table>" in text
    assert "Zuul &lt;b&gt;restarts&lt;/b&gt;" in text  # the title is text, never markup
    assert "infra-core" in text and "2026-11-01" in text

    status, headers, _ = await running.get("/playbooks/zuul-restarts",
                                           **{"If-None-Match": headers["ETag"]})
    assert status == 304


async def test_playbook_index_and_missing_entries(site: tuple[Running, FakeTrackers]) -> None:
    running, _ = site
    status, _, body = await running.get("/playbooks")
    assert status == 200
    links = [attrs.get("href") for tag, attrs in parse(body).tags if tag == "a"]
    assert "/playbooks/zuul-restarts" in links and "/playbooks/dns" in links
    assert "Flush the caches." in body.decode()
    status, _, _ = await running.get("/playbooks/no-such-entry")
    assert status == 404


async def test_bug_states_show_on_pages_once_known(site: tuple[Running, FakeTrackers]) -> None:
    running, fakes = site
    bug = fakes.github.web_url(1234)
    replies = await running.say("#playbook zuul")
    assert replies[-1] == "[open] #1234 Scheduler loses events (github)"
    _, _, body = await running.get("/playbooks/zuul-restarts")
    text = body.decode()
    assert f'href="{bug}"' in text
    assert "Scheduler loses events" in text and "assigned to <bdi>alice</bdi>" in text


async def test_incident_page_links_playbooks_and_shows_bugs(
    site: tuple[Running, FakeTrackers]
) -> None:
    running, fakes = site
    bug = fakes.github.web_url(1234)
    replies = await running.say("#status alert Zuul scheduler restarting")
    assert replies[1] == ("Playbook for incident #1: Zuul <b>restarts</b> — Changes are "
                          "re-enqueued; do not recheck. https://status.example.org/playbooks/"
                          "zuul-restarts")
    await running.say("#playbook zuul")  # learns the bug's state
    await running.say(f"#bug 1 {bug}")
    await running.say("#bug 1 https://bugs.example.net/42")
    await running.settled()
    _, _, body = await running.get("/incidents/1")
    text = body.decode()
    assert '<a href="/playbooks/zuul-restarts"><bdi>Zuul &lt;b&gt;restarts&lt;/b&gt;</bdi>' \
        in text
    assert "Linked bugs" in text
    assert f'<a href="{bug}" rel="nofollow noopener noreferrer">#1234</a>' in text
    assert "Scheduler loses events" in text
    assert "no tracker configured for this host" in text

    status, _, log = await running.get("/api/incidents/1/log.md",
                                       Authorization=f"Bearer {API_TOKEN}")
    assert status == 200
    assert (f"- bug: <{bug}> — \\[open\\] #1234 Scheduler loses events (github) (linked by op"
            in log.decode())

    # The bundle's bugs.json and postmortem carry the same cached states (no tracker waited on)
    status, _, packed = await running.get("/api/incidents/1/bundle.tar.gz",
                                          Authorization=f"Bearer {API_TOKEN}")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as archive:
        bugs_file = archive.extractfile("bugs.json")
        postmortem = archive.extractfile("postmortem.md")
        assert bugs_file is not None and postmortem is not None
        bugs = json.loads(bugs_file.read())
        assert "Scheduler loses events (github)" in postmortem.read().decode()
    states = {b["url"]: b["state"] for b in bugs["bugs"]}
    assert states[bug]["state"] == "open" and states[bug]["tracker"] == "github"
    assert states[bug]["key"] == "#1234" and states[bug]["title"] == "Scheduler loses events"
    assert states[bug]["line"] == "[open] #1234 Scheduler loses events (github)"
    assert states["https://bugs.example.net/42"]["state"] == "unknown"
