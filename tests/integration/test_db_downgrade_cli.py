"""`statusdesk db downgrade REVISION [--yes]` as an operator runs it: a subprocess, its stdin
a pipe (a script) or a pseudo-terminal (a person at the keyboard)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.db import open_store, revisions, upgrade
from storage.models import utcnow
from storage.rollback import all_revisions

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def config(tmp_path: Path) -> Path:
    """A database at head with two API tokens in it."""
    url = f"sqlite+aiosqlite:///{tmp_path}/desk.db"
    store = open_store(url)
    try:
        await upgrade(store.engine)
        async with store.transaction() as tx:
            for user in ("alice", "bob"):
                await tx.api_tokens.create(user, user, utcnow())
    finally:
        await store.close()
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {{url: '{url}'}}\n")
    return path


def _downgrade(config: Path, *args: str, stdin: int | None = subprocess.DEVNULL,
               answer: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bot.cli", "db", "downgrade", *args, "-c", str(config)]
    if answer is None:
        return subprocess.run(command, cwd=REPO, stdin=stdin, capture_output=True, text=True,
                              timeout=60, check=False)
    leader, follower = os.openpty()
    try:
        os.write(leader, answer.encode() + b"\n")
        return subprocess.run(command, cwd=REPO, stdin=follower, capture_output=True,
                              text=True, timeout=60, check=False)
    finally:
        os.close(leader)
        os.close(follower)


def _revision_named(prefix: str) -> str:
    return next(r for r in all_revisions() if r.startswith(prefix))


async def _revision(config: Path) -> str | None:
    url = f"sqlite+aiosqlite:///{config.parent}/desk.db"
    store = open_store(url)
    try:
        return (await revisions(store.engine))[0]
    finally:
        await store.close()


async def test_a_script_without_yes_is_refused_and_nothing_changes(config: Path) -> None:
    head = all_revisions()[-1]
    done = _downgrade(config, "0011")
    assert done.returncode == 2
    assert "pass --yes" in done.stderr and "stdin is not a terminal" in done.stderr
    # The plan and the warning come first, so a script's log says what it would have done.
    history = all_revisions()
    newer = len(history) - 1 - history.index(_revision_named("0011"))
    plural = "s" if newer > 1 else ""
    assert f"undoes {newer} migration{plural}, newest first" in done.stdout
    assert "DROPS table api_tokens (2 rows)" in done.stdout
    assert "of these drop data for good (2 rows in the tables dropped)" in done.stdout
    assert await _revision(config) == head


async def test_yes_downgrades_and_reports_the_revision(config: Path) -> None:
    target = _revision_named("0010")
    done = _downgrade(config, "0010", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"database at revision {target}" in done.stdout.splitlines()[-1]
    assert "incident_prompts" in done.stdout and "action_items" in done.stdout
    assert await _revision(config) == target
    again = _downgrade(config, "0010", "--yes")
    assert (again.returncode, again.stdout.strip()) == (
        0, f"database at revision {target}: nothing to undo")


async def test_at_a_terminal_it_asks_and_only_yes_goes_ahead(config: Path) -> None:
    head = all_revisions()[-1]
    declined = _downgrade(config, "0011", answer="n")
    assert declined.returncode == 1
    assert "Downgrade? [y/N]" in declined.stdout and "nothing changed" in declined.stdout
    assert await _revision(config) == head
    accepted = _downgrade(config, "0011", answer="y")
    assert accepted.returncode == 0, accepted.stderr
    assert await _revision(config) == _revision_named("0011")


async def test_unknown_or_newer_targets_are_usage_errors(config: Path) -> None:
    unknown = _downgrade(config, "9999_nothing", "--yes")
    assert unknown.returncode == 2 and "no migration '9999_nothing'" in unknown.stderr
    assert _downgrade(config, "0001", "--yes").returncode == 0
    newer = _downgrade(config, "0005", "--yes")
    assert newer.returncode == 2 and "db upgrade" in newer.stderr

