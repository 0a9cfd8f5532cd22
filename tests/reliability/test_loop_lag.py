"""The event-loop lag monitor: it sees a blocked loop, and /metrics and /healthz show it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.observability.loop_lag import BUCKETS, LoopLagMonitor, quantile
from tests.harness import run_app


async def _until(condition: object, within: float = 10.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def test_quantiles_by_nearest_rank() -> None:
    samples = sorted(float(i) for i in range(1, 101))
    assert quantile(samples, 0.5) == 50.0
    assert quantile(samples, 0.99) == 99.0
    assert quantile(samples, 1.0) == 100.0
    assert quantile([], 0.99) == 0.0
    assert quantile([7.0], 0.5) == 7.0


def test_histogram_buckets_are_cumulative_and_count_every_sample() -> None:
    monitor = LoopLagMonitor(interval=0.1, window=1.0)
    for lag in (0.0005, 0.003, 0.04, 0.05, 0.2, 30.0, -0.001):
        monitor.record(lag)
    buckets = dict(monitor.cumulative_buckets())
    assert buckets["0.001"] == 2  # the negative one counts as on time
    assert buckets["0.05"] == 5  # the bound itself is inside its bucket
    assert buckets["0.25"] == 6
    assert buckets["10.0"] == 6 and buckets["+Inf"] == 7 == monitor.count
    assert len(buckets) == len(BUCKETS) + 1
    # The window keeps only the newest samples (1 s / 0.1 s = 10).
    for _ in range(10):
        monitor.record(0.002)
    assert monitor.reading().max == 0.002 and monitor.count == 17


async def test_a_blocked_loop_is_measured(caplog: pytest.LogCaptureFixture) -> None:
    monitor = LoopLagMonitor(interval=0.02, window=10.0)
    monitor.start()
    try:
        await _until(lambda: monitor.count >= 5)
        with caplog.at_level(logging.WARNING, logger="statusdesk.loop"):
            # A callback that blocks the loop, as a synchronous call in a handler would.
            asyncio.get_running_loop().call_soon(time.sleep, 0.2)
            await _until(lambda: monitor.count >= 20)
        reading = monitor.reading()
        assert reading.max >= 0.2 - monitor.interval - 0.01  # blocked part-way into a sleep
        assert reading.slow  # fewer than 100 samples: the p99 is the worst one
        over = sum(monitor.bucket_counts[i] for i, b in enumerate(BUCKETS) if b > 0.1)
        over += monitor.bucket_counts[-1]
        assert over >= 1
        assert "event loop is slow" in caplog.text
    finally:
        await monitor.stop()
    assert monitor._task is None
    count = monitor.count
    await asyncio.sleep(0.1)
    assert monitor.count == count  # stopped means stopped


async def test_metrics_and_healthz_show_the_lag_tasks_and_connections(tmp_path: Path) -> None:
    async with run_app(f"sqlite+aiosqlite:///{tmp_path / 'sd.db'}", tmp_path) as running:
        assert await running.say("#status notice lag test")
        _, _, body = await running.get("/healthz")
        health = json.loads(body)
        assert set(health["event_loop"]) == {"state", "lag_p99_seconds", "lag_max_seconds"}
        lag = running.app.loop_lag
        await _until(lambda: lag.count >= 3)
        asyncio.get_running_loop().call_soon(time.sleep, 0.3)
        await _until(lambda: lag.count >= 6)
        status, _, body = await running.get("/healthz")
        health = json.loads(body)
        assert status == 200  # slow is not down
        assert health["event_loop"]["state"] == "slow"
        assert health["event_loop"]["lag_max_seconds"] >= 0.19  # 0.3 s less one interval

        _, _, body = await running.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        histogram = {(s.name, s.labels.get("le")): s.value
                     for s in families["statusdesk_event_loop_lag_seconds"].samples}
        total = histogram[("statusdesk_event_loop_lag_seconds_count", None)]
        assert total >= 6
        assert histogram[("statusdesk_event_loop_lag_seconds_bucket", "+Inf")] == total
        assert histogram[("statusdesk_event_loop_lag_seconds_bucket", "0.1")] < total
        summary = families["statusdesk_event_loop_lag_recent_seconds"]
        assert summary.type == "summary"
        recent = {s.labels["quantile"]: s.value for s in summary.samples if "quantile" in s.labels}
        assert recent["1"] >= 0.19 and recent["0.5"] <= recent["0.99"] <= recent["1"]
        window = {s.name: s.value for s in summary.samples if not s.labels}
        assert window["statusdesk_event_loop_lag_recent_seconds_count"] >= 6
        assert window["statusdesk_event_loop_lag_recent_seconds_sum"] >= 0.19
        tasks = families["statusdesk_asyncio_tasks"].samples[0].value
        assert tasks >= 4  # at least the outbox, reminders, lag monitor and this test
        out = families["statusdesk_db_connections_checked_out"].samples[0].value
        opened = families["statusdesk_db_connections_open"].samples[0].value
        assert out == 0 and opened >= 1  # the scrape's own connection went back
        # Collections are the client library's standard family, not a copy of ours.
        assert "statusdesk_gc_collections" not in families
        collections = {s.labels["generation"]: s.value
                       for s in families["python_gc_collections"].samples}
        assert set(collections) == {"0", "1", "2"} and collections["0"] >= 1
        assert families["process_resident_memory_bytes"].samples[0].value > 0
        assert families["process_open_fds"].samples[0].value > 0
        assert families["python_info"].samples[0].labels["implementation"] == "CPython"
        build = families["statusdesk_build_info"].samples
        assert len(build) == 1 and build[0].value == 1 and build[0].labels["version"]
        # An embedded App (this test's) leaves the process's collector alone.
        assert families["statusdesk_gc_frozen_objects"].samples[0].value == 0
