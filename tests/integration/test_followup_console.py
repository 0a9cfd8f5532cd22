"""The README's "After the incident" walkthrough, typed into `statusdesk run` (a subprocess
on the console) and checked line by line, then the export it describes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console_bot import Bot, http_get, wait_for_http, write_console_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Bot, int, Path]]:
    config, port = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    bot = Bot(config, tmp_path)
    try:
        yield bot, port, config
    finally:
        if bot.process.poll() is None:
            bot.process.kill()
            bot.process.wait()


def _readme_block(after: str, index: int) -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split(after, 1)[1]
    block = section.split("```text\n")[index + 1].split("```", 1)[0]
    return block.splitlines()


def test_the_readme_walkthrough(running: tuple[Bot, int, Path]) -> None:
    bot, port, config = running
    wait_for_http(port)
    typed = _readme_block("## After the incident\n", 0)
    answers = _readme_block("## After the incident\n", 1)
    for line in typed:
        bot.type(line.split("      (", 1)[0].rstrip())
    for answer in answers:
        answer = answer.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
        bot.expect(answer)
    # The page rebuilds a moment after each change; a private why never reaches it.
    deadline = time.monotonic() + 10
    while True:
        status, _, body = http_get(port, "/incidents/1")
        page = body.decode()
        if "carol" in page or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200
    assert "carol" in page and "logrotate" not in page and "rotate Gerrit" not in page

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    export = subprocess.run(
        [sys.executable, "-m", "bot.cli", "incidents", "export", "1", "-c", str(config)],
        capture_output=True, text=True, env=env, check=True, cwd=config.parent).stdout
    for line in _readme_block("then `statusdesk incidents export 1` shows", 0):
        if line != "…":
            assert line in export.splitlines(), line
    document = json.loads(subprocess.run(
        [sys.executable, "-m", "bot.cli", "incidents", "export", "1", "-c", str(config),
         "--format", "json"], capture_output=True, text=True, env=env, check=True,
        cwd=config.parent).stdout)
    assert [w["number"] for w in document["whys"]] == [1, 2]
    assert [(a["id"], a["state"]) for a in document["actions"]] == [("A1", "open"),
                                                                     ("A2", "done")]
    assert document["roles"] == {"comms": "carol"}
