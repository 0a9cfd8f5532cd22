"""`statusdesk playbooks check` run as a user runs it: a subprocess, against local trackers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.db import open_store, upgrade
from tests.servers.fake_trackers import FakeTrackers, running_trackers

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def fakes() -> AsyncIterator[FakeTrackers]:
    async with running_trackers() as trackers:
        yield trackers


async def statusdesk(*args: str, cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def write_config(tmp_path: Path, fakes: FakeTrackers) -> Path:
    config = tmp_path / "config.yaml"
    trackers = json.dumps(fakes.config)
    config.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}'}}\n"
        f"playbooks:\n  dir: {tmp_path / 'playbooks'}\n  trackers: {trackers}\n"
        "  cache_ttl: 1m\n")
    return config


def entry(directory: Path, slug: str, *bugs: str) -> None:
    listed = "".join(f"\n  - {bug}" for bug in bugs)
    (directory / f"{slug}.md").write_text(
        f"---\ntitle: {slug.title()}\nkeywords: [{slug}]\nbugs:{listed}\n---\nDo it.\n")


async def test_check_reports_closed_missing_and_unlinked(fakes: FakeTrackers,
                                                         tmp_path: Path) -> None:
    directory = tmp_path / "playbooks"
    directory.mkdir()
    entry(directory, "healthy", fakes.github.add(1, "Still broken"),
          fakes.jira.add("OPS-1", "Done already", open=False))
    entry(directory, "obsolete", fakes.gitlab.add(2, "Fixed upstream", open=False),
          fakes.bugzilla.add(3, "Also fixed", open=False))
    entry(directory, "dangling", fakes.launchpad.web_url(404, "nova"))
    entry(directory, "unlinked")
    (directory / "broken.md").write_text("title: no front matter\n")
    config = write_config(tmp_path, fakes)

    code, out, err = await statusdesk("playbooks", "check", "-c", str(config), cwd=tmp_path)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == f"Checked 4 playbook entries in {directory} (5 linked bugs)."
    assert f"{directory / 'broken.md'}: no front matter: the file must start with a line " \
        "'---'" in lines
    assert "obsolete: every linked bug is closed; the workaround may be obsolete" in lines
    assert f"  [closed] #2 Fixed upstream (gitlab) {fakes.gitlab.web_url(2)}" in lines
    assert (f"dangling: links a bug that does not exist: "
            f"{fakes.launchpad.web_url(404, 'nova')} (launchpad: no such bug)") in lines
    assert any(line.startswith("unlinked: no bug linked") for line in lines)
    assert not any(line.startswith("healthy") for line in lines)
    assert lines[-1] == "4 problems found."
    assert "secret-token" not in out + err


async def test_check_passes_and_tracker_trouble_is_not_a_failure(fakes: FakeTrackers,
                                                                 tmp_path: Path) -> None:
    directory = tmp_path / "playbooks"
    directory.mkdir()
    entry(directory, "healthy", fakes.github.add(1, "Still broken"))
    entry(directory, "limited", fakes.gitlab.add(5, "Whatever"))
    fakes.gitlab.rate_limited = True
    config = write_config(tmp_path, fakes)
    code, out, err = await statusdesk("playbooks", "check", "-c", str(config), cwd=tmp_path)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-3:] == [
        "Not counted as problems:",
        f"  limited: {fakes.gitlab.web_url(5)}: state unknown (rate limited)",
        "No problems found.",
    ]
    # The check never creates a database that was not there.
    assert not (tmp_path / "statusdesk.db").exists()


async def test_check_includes_links_added_from_chat(fakes: FakeTrackers,
                                                    tmp_path: Path) -> None:
    directory = tmp_path / "playbooks"
    directory.mkdir()
    entry(directory, "unlinked")
    config = write_config(tmp_path, fakes)
    store = open_store(f"sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}")
    try:
        await upgrade(store.engine)
        async with store.transaction() as tx:
            await tx.playbook_links.add("unlinked", fakes.github.add(4, "Linked from chat"),
                                        "alice", datetime.now(UTC))
    finally:
        await store.close()
    code, out, _ = await statusdesk("playbooks", "check", "-c", str(config), cwd=tmp_path)
    assert (code, out.splitlines()[-1]) == (0, "No problems found.")


async def test_check_without_playbooks_dir_or_with_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database: {url: 'sqlite+aiosqlite:///x.db'}\n")
    code, _, err = await statusdesk("playbooks", "check", "-c", str(config), cwd=tmp_path)
    assert code == 2
    assert err.strip() == ("statusdesk: playbooks.dir is not set in the configuration: "
                           "nothing to check")
    config.write_text("playbooks: {dir: x, cache_ttl: soon}\n")
    code, _, err = await statusdesk("playbooks", "check", "-c", str(config), cwd=tmp_path)
    assert code == 2
    # Every problem names the file it is in (DESIGN §1.9), then the key path.
    assert err.startswith(f"{config}: playbooks.cache_ttl: invalid duration")
