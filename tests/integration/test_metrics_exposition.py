"""/metrics as Prometheus sees it: promtool's lint on a live scrape, and a real Prometheus
scraping the bot on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import server_missing
from tests.harness import Running, eventually, run_app
from tests.servers import prometheus
from tests.servers.prometheus import Prometheus, ServerUnavailable


@pytest.fixture
def promtool() -> Iterator[None]:
    try:
        prometheus.binary("promtool")
    except ServerUnavailable as error:
        server_missing(str(error))
    yield


async def _busy(running: Running) -> None:
    """Samples in the families that only have some after activity (commands, incidents)."""
    await running.say("#status notice hello")
    await running.say("#incident open db is slow")
    await running.say("#incident open")  # usage
    await running.settled()


async def test_promtool_finds_nothing_to_lint_in_a_live_scrape(
        promtool: None, db_url: str, tmp_path: Path) -> None:
    async with run_app(db_url, tmp_path) as running:
        await _busy(running)
        status, _, body = await running.get("/metrics")
    assert status == 200
    checked = prometheus.check_metrics(body)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    text = body.decode()
    for family in ("process_resident_memory_bytes", "process_cpu_seconds_total",
                   "python_info{", "python_gc_collections_total", "statusdesk_build_info{",
                   'statusdesk_event_loop_lag_recent_seconds{quantile="0.99"}'):
        assert family in text
    assert "statusdesk_gc_collections" not in text


def test_promtool_does_fail_on_what_the_issue_reported(promtool: None) -> None:
    """The lint above can fail: the old gauge with a `quantile` label is refused."""
    old = (b"# HELP statusdesk_event_loop_lag_recent_seconds Event loop lag\n"
           b"# TYPE statusdesk_event_loop_lag_recent_seconds gauge\n"
           b'statusdesk_event_loop_lag_recent_seconds{quantile="0.5"} 0.001\n')
    checked = prometheus.check_metrics(old)
    assert checked.returncode != 0
    assert "quantile" in checked.stdout + checked.stderr


async def test_a_real_prometheus_scrapes_the_bot(sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        await _busy(running)
        target = running.base.removeprefix("http://")
        try:
            server: Prometheus = await asyncio.to_thread(
                prometheus.start_prometheus, tmp_path, target)
        except ServerUnavailable as error:
            server_missing(str(error))
        try:
            async def scraped() -> bool:
                up = await asyncio.to_thread(server.query, 'up{job="statusdesk"}')
                return bool(up) and up[0]["value"][1] == "1"

            await eventually(scraped, within=30, what="Prometheus scraped the bot (up == 1)")
            build = await asyncio.to_thread(server.query, "statusdesk_build_info")
            assert build and build[0]["metric"]["version"] and build[0]["value"][1] == "1"
            opened = await asyncio.to_thread(server.query, "statusdesk_incidents_open")
            assert opened[0]["value"][1] == "1"
            memory = await asyncio.to_thread(server.query, "process_resident_memory_bytes")
            assert float(memory[0]["value"][1]) > 0
        finally:
            await asyncio.to_thread(server.stop)
