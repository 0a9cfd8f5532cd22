"""Components from the console (`statusdesk run` as a subprocess, the embedded default plus
`components:`): set, link, two incidents holding one component, resolve, and the page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console_bot import Bot, http_get, wait_for_http, write_console_config

COMPONENTS = """components:
  - {name: Gerrit, group: Code review, description: review.example.org}
  - {name: Zuul, group: CI}
"""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Bot, int]]:
    config, port = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db",
                                        extra=COMPONENTS)
    bot = Bot(config, tmp_path)
    try:
        yield bot, port
    finally:
        if bot.process.poll() is None:
            bot.process.kill()
            bot.process.wait()


def statuses(port: int) -> dict[str, str]:
    status, _, body = http_get(port, "/api/v2/components.json")
    assert status == 200
    return {c["id"]: c["status"] for c in json.loads(body)["components"]}


def eventually_statuses(port: int, expected: dict[str, str]) -> None:
    """The page rebuilds a moment after each change."""
    deadline = time.monotonic() + 10
    while statuses(port) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses(port) == expected


def test_components_from_the_console(running: tuple[Bot, int]) -> None:
    bot, port = running
    wait_for_http(port)
    eventually_statuses(port, {"group-code-review": "operational", "gerrit": "operational",
                               "group-ci": "operational", "zuul": "operational"})

    bot.type("#component zuul degraded slow merges")
    bot.expect("<statusdesk> op: Zuul: degraded performance (was operational).")
    bot.type("#component zuul nonsense")
    bot.expect("<statusdesk> op: no status word after the name (one of operational (ok), "
               "degraded_performance (degraded), partial_outage (partial), major_outage "
               "(major), under_maintenance (maintenance)). Usage: #component NAME STATUS "
               "[TEXT] — set a component's status; STATUS is operational (ok), "
               "degraded_performance (degraded), partial_outage (partial), major_outage "
               "(major) or under_maintenance (maintenance) · #component list")
    bot.type("#component jenkins major")
    bot.expect("<statusdesk> op: No component 'jenkins'. Components: Gerrit (gerrit), "
               "Zuul (zuul).")

    bot.type("#incident open sev2 Gerrit down")
    bot.expect(f"<statusdesk> op: Opened incident #1 (sev2): Gerrit down — "
               f"http://127.0.0.1:{port}/incidents/1")
    bot.type("#incident 1 affects gerrit major_outage")
    bot.expect("<statusdesk> op: Incident #1 affects Gerrit (major outage).")
    bot.expect("-statusdesk- NOTICE: Gerrit: major outage")
    bot.type("#incident open sev3 Gerrit replication lag")
    bot.expect(f"<statusdesk> op: Opened incident #2 (sev3): Gerrit replication lag — "
               f"http://127.0.0.1:{port}/incidents/2")
    bot.type("#incident 2 affects Gerrit, zuul")
    bot.expect("<statusdesk> op: Incident #2 affects Gerrit (major outage), Zuul (partial "
               "outage).")
    eventually_statuses(port, {"group-code-review": "major_outage", "gerrit": "major_outage",
                               "group-ci": "partial_outage", "zuul": "partial_outage"})
    _, _, body = http_get(port, "/api/v2/status.json")
    assert json.loads(body)["status"]["indicator"] == "critical"

    bot.type("#components")
    bot.expect("<statusdesk> op: Gerrit [Code review]: major outage · Zuul [CI]: partial "
               "outage")
    bot.type("#now")
    bot.expect("<statusdesk> op: Components: Gerrit major outage, Zuul partial outage")

    # Incident 1 resolves: incident 2 still holds Gerrit, at partial outage.
    bot.type("#incident 1 resolved fixed the disk")
    bot.expect("<statusdesk> op: Incident #1 resolved: Gerrit stays partial outage (held by "
               "#2).")
    eventually_statuses(port, {"group-code-review": "partial_outage",
                               "gerrit": "partial_outage", "group-ci": "partial_outage",
                               "zuul": "partial_outage"})
    bot.type("#incident 2 resolved")
    bot.expect("<statusdesk> op: Incident #2 resolved: Gerrit, Zuul operational again.")
    eventually_statuses(port, {"group-code-review": "operational", "gerrit": "operational",
                               "group-ci": "operational", "zuul": "operational"})

    status, _, page = http_get(port, "/")
    assert status == 200
    html = page.decode()
    assert 'id="components-heading"' in html and "review.example.org" in html
    _, _, body = http_get(port, "/api/v2/incidents.json")
    incidents = {i["id"]: i for i in json.loads(body)["incidents"]}
    assert [c["id"] for c in incidents["1"]["components"]] == ["gerrit"]
    assert [c["id"] for c in incidents["2"]["components"]] == ["gerrit", "zuul"]
    code, _ = bot.close()
    assert code == 0
