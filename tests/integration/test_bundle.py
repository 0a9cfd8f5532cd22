"""The escalation manager's bundle, as they would get it: `statusdesk incidents bundle` in a
subprocess, unpacked with the `tar` command, and GET /api/incidents/ID/bundle.tar.gz from the
running bot (bearer token), on SQLite and PostgreSQL, with a hostile channel name among the
captured chat."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

from bot.incidents.bundle import BundleSources, write_bundle
from storage.timeline import Where
from storage.unit_of_work import Store
from tests.harness import Running, run_app
from tests.secrets import API_TOKEN

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "bot" / "schemas" / "incident-log-v1.schema.json"
BUG = "https://bugs.example.org/show_bug.cgi?id=4242"  # no tracker: nothing leaves the machine
HOSTILE = "../../evil\x07\r\n\u202egol.exe"  # PostgreSQL refuses NUL in text: unit-tested
AT = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)

CHAT = [
    # (network, channel, nick, text)
    ("oftc", "#opendev", "fungi", "gerrit01 heap is at 98%"),
    ("libera", "#opendev", "corvus", "same channel name, other network"),
    ("oftc", HOSTILE, "mallory", "hello from a hostile channel"),
    ("oftc", "#opendev", "clarkb", "restarting with -Xmx96g"),
    ("oftc", HOSTILE, "mallory", "line with\r\nan injected line and \x1b[31mcolour"),
]
EXPECTED_CHAT = {
    "chat/#opendev@oftc.log": [
        "2026-11-22 01:00:00 <fungi> gerrit01 heap is at 98%",
        "2026-11-22 01:03:00 <clarkb> restarting with -Xmx96g",
    ],
    "chat/#opendev@libera.log": [
        "2026-11-22 01:01:00 <corvus> same channel name, other network",
    ],
    "chat/_.._evil____gol.exe.log": [
        "2026-11-22 01:02:00 <mallory> hello from a hostile channel",
        "2026-11-22 01:04:00 <mallory> line with an injected line and [31mcolour",
    ],
}


async def _incident(running: Running) -> None:
    """An incident with a bug, a page, notes and captured chat in three channels."""
    assert (await running.say("#incident open sev1 Gerrit is down"))[0].startswith(
        "Opened incident #1")
    await running.say("#incident 1 lead fungi")
    await running.say("#log 1 private note: heap dump saved")
    await running.say(f"#bug 1 {BUG}")
    store = running.app.store
    assert store is not None
    async with store.transaction() as tx:
        await tx.timeline.append_private_many([
            (1, "chat", Where(nick, transport="irc", network=network, channel=channel),
             AT.replace(minute=n), text)
            for n, (network, channel, nick, text) in enumerate(CHAT)
        ])
        await tx.pages.add(incident_id=1, round=1, step=1, manager="clarkb", chain=["clarkb"],
                           status="acknowledged", dedup_key="incident-1-round-1-step-1",
                           text="Gerrit is down", paged_by="op", created_at=AT,
                           escalate_at=None, acknowledged_at=AT.replace(minute=5),
                           acknowledged_by="clarkb", resolved_at=None, updated_at=AT)


def _check_unpacked(directory: Path, *, asked_trackers: bool) -> None:
    """Every part of the bundle is there, right, and nothing is outside `directory`."""
    files = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    assert files == sorted(["postmortem.md", "log.json", "bugs.json", "pages.json",
                            *EXPECTED_CHAT]), files
    for path in directory.rglob("*"):
        assert path.resolve().is_relative_to(directory.resolve())

    postmortem = (directory / "postmortem.md").read_text()
    assert postmortem.startswith("# Incident #1: Gerrit is down\n")
    assert "| Incident lead | fungi |" in postmortem
    assert "private note: heap dump saved" in postmortem
    assert "hello from a hostile channel" in postmortem  # captured chat is in the timeline

    log = json.loads((directory / "log.json").read_text())
    jsonschema.validate(log, json.loads(SCHEMA.read_text()))
    assert log["schema_version"] == "1.1"
    assert [e["kind"] for e in log["timeline"]].count("chat") == len(CHAT)
    assert HOSTILE in [e["where"]["channel"] for e in log["timeline"]]  # the record is exact

    for name, lines in EXPECTED_CHAT.items():
        assert (directory / name).read_text().splitlines() == lines

    bugs = json.loads((directory / "bugs.json").read_text())
    assert bugs["incident"] == "1"
    assert [b["url"] for b in bugs["bugs"]] == [BUG]
    assert bugs["bugs"][0]["linked_by"] == "op"
    if asked_trackers:  # the command line asks; no tracker knows bugs.example.org
        assert bugs["bugs"][0]["state"]["state"] == "unknown"
        assert bugs["bugs"][0]["state"]["reason"] == "no tracker configured for this host"
    else:  # the bot answers from its cache, and no playbooks are configured here
        assert bugs["bugs"][0]["state"] is None
    assert bugs["action_tickets"] == []

    pages = json.loads((directory / "pages.json").read_text())["pages"]
    assert len(pages) == 1
    assert pages[0]["manager"] == "clarkb" and pages[0]["status"] == "acknowledged"
    assert pages[0]["acknowledged_at"] == "2026-11-22T01:05:00Z"


def _statusdesk(*args: str, cwd: Path, **options: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
                          **options)  # type: ignore[call-overload]


async def test_cli_and_http_bundles(db_url: str, tmp_path: Path) -> None:
    async with run_app(db_url, tmp_path) as running:
        await _incident(running)

        # --- HTTP: the token or nothing ---
        path = "/api/incidents/1/bundle.tar.gz"
        for headers in ({}, {"Authorization": "Bearer wrong"},
                        {"Authorization": f"Basic {API_TOKEN}"}):
            status, _, body = await running.get(path, **headers)
            assert status == 401, body
            assert b"PK" not in body and b"postmortem" not in body
        good = {"Authorization": f"Bearer {API_TOKEN}"}
        assert (await running.get("/api/incidents/2/bundle.tar.gz", **good))[0] == 404
        status, headers, body = await running.get(path, **good)
        assert status == 200
        assert headers["Content-Type"] == "application/gzip"
        assert headers["Cache-Control"] == "no-store"
        assert 'filename="incident-1.tar.gz"' in headers["Content-Disposition"]
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            names = archive.getnames()
            archive.extractall(tmp_path / "http", filter="data")
        assert names[:2] == ["postmortem.md", "log.json"]
        _check_unpacked(tmp_path / "http", asked_trackers=False)

    config = tmp_path / "config.yaml"
    config.write_text(f"database: {{url: '{db_url}'}}\n")
    await asyncio.to_thread(_command_line_bundles, config, tmp_path)


def _command_line_bundles(config: Path, tmp_path: Path) -> None:
    # --- the command line, unpacked by tar(1) ---
    done = _statusdesk("incidents", "bundle", "1", "-c", str(config),
                       "-o", "incident-1.tar.gz", cwd=tmp_path,
                       capture_output=True)
    assert done.returncode == 0, done.stderr
    assert b"bundled in incident-1.tar.gz" in done.stderr
    bundle = tmp_path / "incident-1.tar.gz"
    assert oct(bundle.stat().st_mode & 0o777) == oct(0o600)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incident-1")]
    listing = subprocess.run(["tar", "-tzf", str(bundle)], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert listing[:2] == ["postmortem.md", "log.json"]
    unpacked = tmp_path / "cli"
    unpacked.mkdir()
    subprocess.run(["tar", "-xzf", str(bundle), "-C", str(unpacked)], check=True)
    _check_unpacked(unpacked, asked_trackers=True)

    # stdout, when it is a file or a pipe
    with (tmp_path / "piped.tar.gz").open("wb") as out:
        done = _statusdesk("incidents", "bundle", "#1", "-c",
                           str(config), cwd=tmp_path, stdout=out,
                           stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    piped = tmp_path / "piped"
    piped.mkdir()
    subprocess.run(["tar", "-xzf", str(tmp_path / "piped.tar.gz"), "-C", str(piped)],
                   check=True)
    _check_unpacked(piped, asked_trackers=True)

    # never to a terminal; an incident that does not exist is one line, exit 1
    controller, terminal = pty.openpty()
    try:
        done = _statusdesk("incidents", "bundle", "1", "-c",
                           str(config), cwd=tmp_path, stdout=terminal,
                           stderr=subprocess.PIPE)
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "statusdesk: refusing to write a .tar.gz to a terminal: use -o FILE or redirect "
        "stdout to a file")
    done = _statusdesk("incidents", "bundle", "7", "-c", str(config),
                       "-o", "seven.tar.gz", cwd=tmp_path, capture_output=True)
    assert done.returncode == 1
    assert done.stderr.decode().strip() == "statusdesk: there is no incident #7"
    assert not [p for p in tmp_path.iterdir() if "seven" in p.name]


async def test_the_configured_template_is_used_everywhere(tmp_path: Path) -> None:
    """`postmortem.template` shapes the bundle's postmortem.md, /api/incidents/ID/log.md and
    `statusdesk incidents export` alike."""
    template = tmp_path / "rca.md.j2"
    template.write_text("RCA for #{{ incident.id }}: {{ incident.title }}\n"
                        "{% for row in timeline %}\n- {{ row.kind }}: {{ row.detail }}\n"
                        "{% endfor %}\n")
    url = f"sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}"
    extra = f"postmortem: {{template: '{template}'}}\n"
    async with run_app(url, tmp_path, extra=extra) as running:
        await running.say("#incident open sev2 Zuul | stuck")
        await running.say("#log 1 restarted the *scheduler*")
        good = {"Authorization": f"Bearer {API_TOKEN}"}
        status, _, body = await running.get("/api/incidents/1/log.md", **good)
        assert status == 200
        expected = ("RCA for #1: Zuul \\| stuck\n"
                    "- opened: - → investigating Zuul \\| stuck\n"
                    "- severity: - → 2\n"
                    "- note: restarted the \\*scheduler\\*\n")
        assert body.decode() == expected
        status, _, body = await running.get("/api/incidents/1/bundle.tar.gz", **good)
        assert status == 200
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            member = archive.extractfile("postmortem.md")
            assert member is not None
            assert member.read().decode() == expected
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {{url: '{url}'}}\n" + extra)
    done = await asyncio.to_thread(_statusdesk, "incidents", "export", "1", "-c", str(config),
                                   cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == expected


async def test_every_part_is_read_from_one_snapshot(store: Store) -> None:
    """An event written while the bundle is being made (here: while linked bugs are looked
    up, after the incident was read) is in none of its parts, on either database."""
    async with store.transaction() as tx:
        incident = await tx.incidents.open(title="Still going", severity=2, opened_by="op",
                                           at=AT)
        await tx.timeline.append(incident.id, "bug", Where("op"), AT, new=BUG)

    async def meanwhile(urls: Sequence[str]) -> dict[str, Any]:
        async with store.transaction() as tx:
            await tx.timeline.append(1, "note", Where("late"), AT, text="written meanwhile",
                                     public=False)
        return {}

    out = io.BytesIO()
    await write_bundle(store, 1, out, BundleSources(bug_lookup=meanwhile))
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as archive:
        parts = {m.name: archive.extractfile(m).read().decode()  # type: ignore[union-attr]
                 for m in archive.getmembers()}
    assert all("written meanwhile" not in text for text in parts.values())
    assert [e["kind"] for e in json.loads(parts["log.json"])["timeline"]] == ["bug"]
    async with store.reading() as tx:  # it was written, all the same
        assert [e.kind for e in await tx.timeline.entries(1)] == ["bug", "note"]
