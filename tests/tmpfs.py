"""A tiny tmpfs of a test's own, to fill up or turn read-only under a running bot."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import server_missing


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def try_mount(target: Path, size: str) -> bool:
    """Mount a tmpfs of `size` (`600k`, `4m`) at `target`; False when we may not (not root)."""
    if os.geteuid() != 0:
        return False
    try:
        mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target))
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def unmount(target: Path) -> None:
    # Lazy: a bot that has not quite let go of its files must not fail the teardown.
    subprocess.run(["umount", "-l", str(target)], check=False, timeout=30)


@contextmanager
def small_tmpfs(target: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `target` for the block; a skip (a failure under CI) when this
    machine does not let us mount one (CI runs as root)."""
    target.mkdir(parents=True, exist_ok=True)
    if not try_mount(target, size):
        server_missing("filling a disk needs a tmpfs of its own (root, mount)")
    try:
        yield target
    finally:
        unmount(target)
