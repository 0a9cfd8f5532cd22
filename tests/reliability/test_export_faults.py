"""`status_page.export_dir` on a disk that fills up or turns read-only under the running bot:
the page keeps serving the new content from memory, /healthz and the log say what is wrong
(once), the files already exported stay whole, and the export catches up by itself when the
disk takes writes again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import tmpfs
from tests.conftest import server_missing
from tests.figures import record
from tests.harness import Running, run_app

MOUNT_SIZE = "4m"


@dataclass
class Disk:
    """The export directory and how to break and mend it."""

    path: Path
    mounted: bool

    def break_(self, fault: str) -> None:
        if fault == "full":
            # Fill the tiny filesystem to the last block.
            with contextlib.suppress(OSError), (self.path / "filler").open("wb") as filler:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
        elif self.mounted:
            tmpfs.mount("-o", "remount,ro", str(self.path))
        else:
            for directory in [self.path, *[p for p in self.path.rglob("*") if p.is_dir()]]:
                directory.chmod(stat.S_IRUSR | stat.S_IXUSR)

    def mend(self, fault: str) -> None:
        if fault == "full":
            (self.path / "filler").unlink()
        elif self.mounted:
            tmpfs.mount("-o", "remount,rw", str(self.path))
        else:
            for directory in [self.path, *[p for p in self.path.rglob("*") if p.is_dir()]]:
                directory.chmod(stat.S_IRWXU)


@pytest.fixture
def disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Disk]:
    """A tiny tmpfs of our own at `tmp_path/export` (what run_app exports to) when we may
    mount one; else, for the read-only case, a directory whose permissions say so."""
    path = tmp_path / "export"
    path.mkdir()
    mounted = tmpfs.try_mount(path, MOUNT_SIZE)
    if not mounted and request.node.callspec.params["fault"] == "full":
        server_missing("filling a disk needs a tmpfs of its own (root, mount)")
    try:
        yield Disk(path, mounted)
    finally:
        if mounted:
            tmpfs.unmount(path)


async def _eventually(condition: object, within: float = 20.0) -> float:
    """Seconds until `condition()` (sync or async) is true."""
    started = time.monotonic()
    while True:
        result = condition()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.05)


async def _health(running: Running) -> tuple[int, dict[str, object]]:
    status, _, body = await running.get("/healthz")
    return status, json.loads(body)


def _exported_alert(disk: Disk) -> object:
    try:
        return json.loads((disk.path / "alert.json").read_bytes())["alert"]
    except (OSError, ValueError):
        return "<unreadable>"


@pytest.mark.parametrize("fault", ["full", "read-only"])
async def test_the_page_outlives_a_full_or_read_only_export_disk(
    fault: str, disk: Disk, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="statusdesk.export")
    expected_error = {"full": "No space left on device", "read-only": (
        "Read-only file system" if disk.mounted else "Permission denied")}[fault]
    async with run_app(sqlite_url, tmp_path) as running:
        await running.say("#status alert before the disk broke")
        await running.settled()
        await _eventually(lambda: _exported_alert(disk) == "before the disk broke")
        before = {p: p.read_bytes() for p in disk.path.rglob("*") if p.is_file()}

        disk.break_(fault)
        for text in ("disk trouble one", "disk trouble two", "disk trouble three"):
            await running.say(f"#status alert {text}")
            await running.settled()

        # Served from memory: the newest alert, on every document that shows it.
        _, _, body = await running.get("/alert.json")
        assert json.loads(body) == {"alert": "disk trouble three"}
        _, _, page = await running.get("/")
        assert b"disk trouble three" in page
        status, health = await _health(running)
        assert status == 200  # the page itself is fine: no balancer should drop it
        export = health["export"]
        assert isinstance(export, dict)
        assert export["ok"] is False and expected_error in str(export["error"])
        failures = [r for r in caplog.records
                    if r.levelno == logging.ERROR and "export to" in r.getMessage()]
        assert len(failures) == 1, [r.getMessage() for r in failures]  # said once, not per change
        assert expected_error in failures[0].getMessage()
        assert "still served from memory" in failures[0].getMessage()
        # What nginx serves meanwhile is the last good export, whole: no torn files, no
        # temporaries left behind.
        for file, content in before.items():
            assert file.read_bytes() == content, file
        assert [p.name for p in disk.path.rglob(".*")] == []

        broken_at = time.monotonic()
        disk.mend(fault)
        # No new change needed: the export retries on its own.
        # Caught up = every file rewritten, not just the first small one to fit: an attempt
        # already under way when the disk was mended can write some files and still fail.
        async def caught_up_fully() -> bool:
            _, health = await _health(running)
            export = health["export"]
            return (_exported_alert(disk) == "disk trouble three"
                    and isinstance(export, dict) and export["ok"] is True)

        await _eventually(caught_up_fully, within=60)
        caught_up = time.monotonic() - broken_at
        status, health = await _health(running)
        assert status == 200 and health["export"] == {
            "enabled": True, "dir": str(disk.path), "ok": True, "error": None}
        assert any("works again" in r.getMessage() for r in caplog.records)
        for path, name in [("/", "index.html"), ("/alert.json", "alert.json"),
                           ("/api/v2/summary.json", "api/v2/summary.json")]:
            _, _, served = await running.get(path)
            assert (disk.path / name).read_bytes() == served, name
    record("server faults", f"export_dir {fault} ({'tmpfs' if disk.mounted else 'chmod'}): "
           f"page served from memory, /healthz export.ok=false, 1 log line; "
           f"export caught up {caught_up:.1f} s after the disk was mended")
