"""`statusdesk incidents export 1 | head`: a reader that stops early is no error to report."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from storage.db import upgrade
from storage.models import utcnow
from storage.timeline import Where
from tests.harness import opened_store

NOTES = 200
"""Each note some 1,000 bytes: an export far beyond a pipe's buffer (64 KiB on Linux), so the
writer is still writing when the reader has gone."""


def test_a_reader_that_stops_early_gets_no_broken_pipe_message(tmp_path: Path) -> None:
    asyncio.run(_fill(f"sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}"))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "incidents", "export", "1"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # as `head -1` does once it has its line
    stderr = process.stderr.read().decode()
    code = process.wait(timeout=60)
    assert first.startswith(b"#")
    assert stderr == ""  # was "statusdesk: [Errno 32] Broken pipe"
    assert code == 1  # the Python docs' choice for an output cut short, said quietly


async def _fill(db_url: str) -> None:
    now = utcnow()
    async with opened_store(db_url) as store:
        await upgrade(store.engine)
        async with store.transaction() as tx:
            incident = await tx.incidents.open(title="Mirror outage", severity=2,
                                               opened_by="op", at=now)
            for n in range(NOTES):
                await tx.timeline.append(
                    incident.id, "note", Where("op"), now,
                    text=f"note {n}: rsync of the mirror still running " * 20, public=False)
