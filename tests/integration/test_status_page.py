"""The status page over real HTTP, with the whole app running on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import brotli
import feedparser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import API_TOKEN, Running, eventually, run_app

PUBLIC_CACHE = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"


@pytest.fixture
async def running(db_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with run_app(db_url, tmp_path) as app:
        yield app


async def test_every_public_path_with_the_contract_headers(running: Running) -> None:
    await running.say("#status alert Gate is broken")
    await running.say("#success the gate is green")
    await running.say("#thanks fungi")
    await running.settled()
    for path, content_type in [
        ("/", "text/html"), ("/incidents/1", "text/html"), ("/history", "text/html"),
        ("/success", "text/html"), ("/thanks", "text/html"),
        ("/feed.atom", "application/atom+xml"), ("/alert.json", "application/json"),
        ("/api/v2/summary.json", "application/json"), ("/api/v2/status.json",
                                                       "application/json"),
        ("/api/v2/incidents.json", "application/json"),
        ("/api/v2/incidents/unresolved.json", "application/json"),
        ("/api/v2/components.json", "application/json"),
        ("/static/statusdesk.css", "text/css"),
    ]:
        status, headers, _ = await running.get(path)
        assert status == 200, path
        assert headers["Content-Type"].startswith(content_type), path
        assert headers["Cache-Control"] == PUBLIC_CACHE, path
        etag = headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/"), path
        assert (headers.get("Access-Control-Allow-Origin") == "*") == (
            content_type == "application/json"), path
        not_modified, again, empty = await running.get(path, **{"If-None-Match": etag})
        assert not_modified == 304 and empty == b"" and again["ETag"] == etag, path


async def test_documents_show_the_state(running: Running) -> None:
    await running.say("#status alert Gate is <b>broken</b>")
    await running.say("#incident open sev1 Database down")
    await running.settled()
    _, _, body = await running.get("/alert.json")
    assert json.loads(body) == {"alert": "Gate is <b>broken</b>"}
    _, _, body = await running.get("/api/v2/summary.json")
    summary = json.loads(body)
    assert summary["status"]["indicator"] == "critical"
    assert summary["page"]["name"] == "Example Status"
    assert {i["id"] for i in summary["incidents"]} == {"1", "2"}
    _, _, body = await running.get("/")
    assert b"Gate is &lt;b&gt;broken&lt;/b&gt;" in body
    assert b"<b>broken</b>" not in body
    _, _, body = await running.get("/feed.atom")
    feed = feedparser.parse(body)
    assert not feed.bozo
    assert any(e.get("summary", e.get("content", [{}])[0].get("value", ""))
               for e in feed.entries)
    await running.say("#status ok")
    await running.settled()
    _, _, body = await running.get("/alert.json")
    assert json.loads(body) == {"alert": None}


async def test_compression_is_negotiated_with_its_own_etags(running: Running) -> None:
    await running.say("#status notice " + "long text " * 50)
    await running.settled()
    _, plain, plain_body = await running.get("/", **{"Accept-Encoding": "identity"})
    _, gz, gz_body = await running.get("/", **{"Accept-Encoding": "gzip"})
    _, br, br_body = await running.get("/", **{"Accept-Encoding": "gzip, br"})
    assert "Content-Encoding" not in plain
    assert gz["Content-Encoding"] == "gzip" and br["Content-Encoding"] == "br"
    assert gzip.decompress(gz_body) == plain_body == brotli.decompress(br_body)
    assert len({plain["ETag"], gz["ETag"], br["ETag"]}) == 3
    assert gz["Vary"] == "Accept-Encoding"
    status, _, _ = await running.get("/", **{"Accept-Encoding": "br",
                                            "If-None-Match": br["ETag"]})
    assert status == 304


async def test_history_pages_and_unknown_paths(running: Running) -> None:
    for n in range(25):
        await running.say(f"#incident open Outage {n}")
        await running.say(f"#incident {n + 1} resolved")
    await running.settled()
    _, _, first = await running.get("/history")
    assert b"Outage 24" in first and b"Outage 4" not in first
    assert b"/history?page=2" in first
    status, _, second = await running.get("/history?page=2")
    assert status == 200 and b"Outage 4" in second and b"Outage 5" not in second
    assert b"/history?page=3" not in second
    assert (await running.get("/history?page=9"))[0] == 404
    assert (await running.get("/history?page=x"))[0] == 400
    assert (await running.get("/incidents/999"))[0] == 404
    assert (await running.get("/no/such/page"))[0] == 404


async def test_old_incident_pages_are_rendered_on_demand(running: Running) -> None:
    for n in range(55):
        await running.say(f"#incident open Outage {n}")
        await running.say(f"#incident {n + 1} resolved")
    await running.settled()
    status, _, body = await running.get("/incidents/1")  # beyond the hot 50
    assert status == 200 and b"Outage 0" in body


async def test_sse_announces_each_change_after_the_page_shows_it(running: Running) -> None:
    async with running.http.get(running.base + "/api/events") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        await running.say("#status alert Gate is broken")
        frames = await _read_frames(stream, 2)
        kinds = [json.loads(f["data"])["kind"] for f in frames]
        assert kinds == ["incident.opened", "alert.set"]
        _, _, body = await running.get("/alert.json")
        assert json.loads(body) == {"alert": "Gate is broken"}
        last_id = frames[-1]["id"]
    await running.say("#status notice missed while away")
    await running.settled()
    async with running.http.get(running.base + "/api/events",
                                headers={"Last-Event-ID": last_id}) as resumed:
        (frame,) = await _read_frames(resumed, 1)
        assert json.loads(frame["data"])["kind"] == "status.posted"
        assert int(frame["id"]) == int(last_id) + 1


async def _read_frames(response: aiohttp.ClientResponse, count: int) -> list[dict[str, str]]:
    frames: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with asyncio.timeout(5):
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in current:
                    frames.append(current)
                    if len(frames) == count:
                        return frames
                current = {}
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(": ")
            current[key] = value
    raise AssertionError(f"stream ended after {frames}")


async def test_export_dir_holds_what_the_server_serves(running: Running) -> None:
    await running.say("#status alert Gate is broken")
    await running.settled()
    export = running.export_dir
    exported = [("/", "index.html"), ("/alert.json", "alert.json"),
                ("/api/v2/summary.json", "api/v2/summary.json"),
                ("/incidents/1", "incidents/1.html"), ("/feed.atom", "feed.atom"),
                ("/static/statusdesk.css", "static/statusdesk.css")]

    async def export_caught_up() -> bool:
        for path, name in exported:
            _, _, served = await running.get(path)
            if not (export / name).is_file() or (export / name).read_bytes() != served:
                return False
        return True

    await eventually(export_caught_up, what="the export holding what is served")
    for path, name in exported:
        _, _, served = await running.get(path)
        assert (export / name).read_bytes() == served, name
    assert gzip.decompress((export / "index.html.gz").read_bytes()) == (
        export / "index.html").read_bytes()
    leftovers = [p for p in export.rglob(".*") if p.is_file()]
    assert leftovers == []  # no half-written temporary files


async def test_unwritable_export_dir_shows_in_health_and_the_page_still_serves(
    running: Running,
) -> None:
    if os.geteuid() == 0:
        # root ignores permissions: make the directory a file instead, which nobody can
        # write into.
        for child in sorted(running.export_dir.rglob("*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        running.export_dir.rmdir()
        running.export_dir.write_text("not a directory")
    else:
        running.export_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    await running.say("#status alert Disk trouble")
    await running.settled()

    async def export_failed() -> bool:
        _, _, body = await running.get("/healthz")
        return json.loads(body)["export"]["ok"] is False

    await eventually(export_failed, what="/healthz telling of the failed export")
    _, _, body = await running.get("/alert.json")
    assert json.loads(body) == {"alert": "Disk trouble"}
    status, _, body = await running.get("/healthz")
    health = json.loads(body)
    assert status == 200
    assert health["export"]["ok"] is False and health["export"]["error"]


async def test_metrics(running: Running) -> None:
    await running.say("#status notice hello")
    await running.say("#incident open")  # usage
    await running.settled()
    status, headers, body = await running.get("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    commands = {s.labels["outcome"]: s.value for s in families["statusdesk_commands"].samples
                if s.name.endswith("_total")}
    assert commands["accepted"] == 1 and commands["usage"] == 1
    assert families["statusdesk_page_renders"].samples[0].value >= 2
    assert "statusdesk_outbox_pending" in families
    assert "statusdesk_sse_clients" in families


async def test_incident_log_api_needs_the_token_and_holds_private_entries(
    running: Running,
) -> None:
    await running.say("#incident open sev2 Mirror outage")
    await running.say("#log 1 SECRET-NOTE rsync keys rotated on mirror01")
    await running.say("#incident 1 identified stale rsync key")
    await running.settled()
    for path in ("/api/incidents/1/log.md", "/api/incidents/1/log.json"):
        status, headers, body = await running.get(path)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert b"SECRET-NOTE" not in body
        status, _, _ = await running.get(path, Authorization="Bearer wrong-token")
        assert status == 401
        status, headers, body = await running.get(path, Authorization=f"Bearer {API_TOKEN}")
        assert status == 200 and headers["Cache-Control"] == "no-store"
        assert b"SECRET-NOTE" in body
    _, headers, body = await running.get("/api/incidents/1/log.json",
                                         Authorization=f"Bearer {API_TOKEN}")
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["incident"]["state"] == "identified"
    status, _, _ = await running.get("/api/incidents/9/log.md",
                                     Authorization=f"Bearer {API_TOKEN}")
    assert status == 404
    # Private entries never reach a public document.
    for path in ("/", "/incidents/1", "/feed.atom", "/api/v2/summary.json",
                 "/api/v2/incidents.json", "/history"):
        _, _, body = await running.get(path)
        assert b"SECRET-NOTE" not in body, path
        assert b"stale rsync key" in body or path == "/history", path


async def test_metrics_report_incident_times_from_milestones(running: Running) -> None:
    await running.say("#incident open Disk full")
    await running.say("#incident 1 identified logs")
    await running.say("#incident 1 resolved")
    await running.settled()
    _, _, body = await running.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    resolve = {s.name: s.value for s in
               families["statusdesk_incident_time_to_resolve_seconds"].samples}
    assert resolve["statusdesk_incident_time_to_resolve_seconds_count"] == 1
    assert families["statusdesk_incidents_open"].samples[0].value == 0
