"""Another process holding an SQLite database's write lock, for the tests of what the bot
does while it cannot write."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("CREATE TABLE IF NOT EXISTS someone_elses (x)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
print("released", flush=True)
"""


async def hold_lock(path: Path, seconds: float) -> asyncio.subprocess.Process:
    """A process holding the write lock of the SQLite file `path` for `seconds`: it holds it
    when this returns."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path), str(seconds), stdout=subprocess.PIPE)
    assert holder.stdout is not None
    assert await holder.stdout.readline() == b"locked\n"
    return holder


async def released(holder: asyncio.subprocess.Process) -> int:
    """Wait until `holder` has let go of the lock and exited: its exit code."""
    assert holder.stdout is not None
    assert await holder.stdout.readline() == b"released\n"
    return await holder.wait()
