"""`/healthz` answers with every key the README lists, whatever is configured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp

from bot.config.loading import load_config_text
from tests.harness import run_app, started_app
from tests.servers.ports import free_port

README = Path(__file__).parents[2] / "README.md"


def _listed_keys() -> set[str]:
    (row,) = [line for line in README.read_text().splitlines()
              if line.startswith("| `/healthz` |")]
    example = re.search(r"`(\{.*?\})`", row)
    assert example, row
    return set(re.findall(r'"(\w+)":', example.group(1)))


async def test_every_listed_key_without_an_export_dir(sqlite_url: str) -> None:
    port = free_port()
    config = load_config_text(f"database: {{url: '{sqlite_url}'}}\n"
                              f"status_page: {{listen: '127.0.0.1:{port}'}}\n")
    async with started_app(config), aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/healthz") as response:
        assert response.status == 200
        health = json.loads(await response.read())
    assert {"status", "database", "transports", "outbox", "export",
            "event_loop"} <= _listed_keys()
    assert _listed_keys() <= health.keys()
    assert health["export"] == {"enabled": False}


async def test_the_export_key_with_an_export_dir(sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        _, _, body = await running.get("/healthz")
    export = json.loads(body)["export"]
    assert export == {"enabled": True, "dir": str(running.export_dir), "ok": True,
                      "error": None}
