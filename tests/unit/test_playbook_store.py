"""The playbook directory: loading, reloading on change, bad files reported, never a crash."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from bot.playbooks.store import PlaybookStore

ZUUL = "---\ntitle: Zuul restarts\nkeywords: [zuul]\n---\nWait for it.\n"
DNS = "---\ntitle: DNS errors\nkeywords: [dns]\n---\nFlush caches.\n"


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, mtime: int) -> None:
    # An explicit mtime: two writes within the file system's timestamp granularity
    # must still count as a change in the test, as they would seconds apart in life.
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


def test_loads_entries_and_reloads_when_a_file_changes(tmp_path: Path) -> None:
    ticks = Ticks()
    write(tmp_path / "zuul.md", ZUUL, 1000)
    (tmp_path / "notes.txt").write_text("not a playbook")
    store = PlaybookStore(tmp_path, poll_interval=2.0, clock=ticks)
    assert list(store.entries) == ["zuul"]
    assert store.problems == []
    version = store.version

    write(tmp_path / "zuul.md", ZUUL.replace("Wait for it.", "Wait longer."), 2000)
    write(tmp_path / "dns.md", DNS, 2000)
    # Within the poll interval nothing is looked at...
    assert list(store.entries) == ["zuul"]
    # ...after it, the change is seen.
    ticks.now += 2.5
    assert sorted(store.entries) == ["dns", "zuul"]
    assert store.entries["zuul"].summary == "Wait longer."
    assert store.version > version

    (tmp_path / "dns.md").unlink()
    ticks.now += 2.5
    assert list(store.entries) == ["zuul"]


def test_unchanged_directory_keeps_its_version(tmp_path: Path) -> None:
    ticks = Ticks()
    write(tmp_path / "zuul.md", ZUUL, 1000)
    store = PlaybookStore(tmp_path, clock=ticks)
    assert store.refresh(force=True) is True  # the first load
    assert store.refresh(force=True) is False
    version = store.version
    ticks.now += 10
    assert store.refresh() is False
    assert store.version == version


def test_bad_files_are_reported_and_skipped(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path / "zuul.md", ZUUL, 1000)
    write(tmp_path / "broken.md", "---\ntitle: [unclosed\n---\n", 1000)
    write(tmp_path / "notitle.md", "---\nkeywords: [x]\n---\n", 1000)
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00garbage")
    write(tmp_path / "typo.md", "---\ntitle: Typo\nbug: [https://x.example/1]\n---\n", 1000)
    caplog.set_level(logging.WARNING, logger="statusdesk.playbooks")
    store = PlaybookStore(tmp_path)
    assert sorted(store.entries) == ["typo", "zuul"]
    messages = sorted(str(p) for p in store.problems)
    assert any("broken.md: front matter is not valid YAML" in m for m in messages)
    assert any("notitle.md: title: required" in m for m in messages)
    assert any("binary.md: cannot read: not valid UTF-8" in m for m in messages)
    assert any("typo.md: unknown key 'bug'" in m for m in messages)
    assert [p.fatal for p in store.problems if "typo.md" in p.file] == [False]
    logged = [r.getMessage() for r in caplog.records]
    assert sum("broken.md" in m for m in logged) == 1
    # Reported once per version of the file, not on every poll.
    store.refresh(force=True)
    assert sum("broken.md" in m for m in [r.getMessage() for r in caplog.records]) == 1


def test_missing_directory_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    store = PlaybookStore(tmp_path / "nowhere")
    assert store.entries == {}
    assert [str(p) for p in store.problems] == [
        f"{tmp_path / 'nowhere'}: playbooks directory not found"]
    (tmp_path / "nowhere").mkdir()
    write(tmp_path / "nowhere" / "zuul.md", ZUUL, 1000)
    store.refresh(force=True)
    assert list(store.entries) == ["zuul"] and store.problems == []


def test_the_example_entry_loads_cleanly() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "playbooks"
    store = PlaybookStore(examples)
    assert list(store.entries) == ["zuul-scheduler-restarts"]
    assert store.problems == []
    entry = store.entries["zuul-scheduler-restarts"]
    assert entry.summary.startswith("While the scheduler restarts")
    assert len(entry.bugs) == 2
