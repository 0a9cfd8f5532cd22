"""/api/openapi.json as served, and the suite-wide check of JSON answers against it
(tests/openapi_check.py): it sees the answers of a running app and it catches wrong ones."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from openapi_spec_validator import validate

from bot.web import openapi
from bot.web.app import ANSWER_OBSERVERS
from tests.console_bot import Bot, http_get, wait_for_http, write_console_config
from tests.harness import run_app
from tests.openapi_check import CHECK, AnswerCheck
from tests.recorded_cli import ENV as RECORDED_ANSWERS_ENV


async def test_the_document_is_served_with_an_etag_and_is_valid(
        sqlite_url: str, tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        status, headers, body = await running.get("/api/openapi.json")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        again, _, _ = await running.get("/api/openapi.json", **{"If-None-Match": headers["ETag"]})
    assert again == 304
    served = json.loads(body)
    validate(served)
    assert served == json.loads(json.dumps(openapi.document()))
    assert served["openapi"] == "3.1.0"


async def test_the_check_sees_a_running_apps_answers_and_catches_a_wrong_one(
        sqlite_url: str, tmp_path: Path) -> None:
    # A document that says /alert.json's `alert` is a number: the real answer (a string or
    # null) must be reported by the same middleware and check the suite runs everywhere.
    strict = copy.deepcopy(openapi.document())
    strict["components"]["schemas"]["Alert"]["properties"]["alert"] = {"type": "integer"}
    wrong = AnswerCheck(strict)
    checked_before = CHECK.checked
    ANSWER_OBSERVERS.append(wrong)
    try:
        async with run_app(sqlite_url, tmp_path) as running:
            await running.say("#status alert the gate is down")
            await running.settled()
            status, _, _ = await running.get("/alert.json")
            assert status == 200
            await running.get("/api/v2/summary.json")
            await running.get("/healthz")
    finally:
        ANSWER_OBSERVERS.remove(wrong)
    assert len(wrong.mismatches) == 1, wrong.mismatches
    assert wrong.mismatches[0].startswith("GET /alert.json answered 200")
    assert "is not of type 'integer'" in wrong.mismatches[0]
    # The suite's own check saw those answers too (and found them right).
    assert CHECK.checked >= checked_before + 3


def _answer(path: str, body: object, status: int = 200, method: str = "GET") -> list[str]:
    check = AnswerCheck()
    check(make_mocked_request(method, path), web.json_response(body, status=status))
    return check.mismatches


def test_wrong_answers_are_reported_with_what_is_wrong() -> None:
    page = {"id": "statusdesk", "name": "Example", "url": "https://status.example.org",
            "time_zone": "Etc/UTC", "updated_at": "2026-11-21T14:02:00.000Z"}
    right = {"page": page, "status": {"indicator": "none",
                                      "description": "All Systems Operational"}}
    assert _answer("/api/v2/status.json", right) == []
    purple = _answer("/api/v2/status.json",
                     {"page": page, "status": {"indicator": "purple", "description": "?"}})
    assert len(purple) == 1 and "'purple' is not one of" in purple[0]
    missing = _answer("/api/v2/status.json", {"page": page})
    assert len(missing) == 1 and "'status' is a required property" in missing[0]
    # A status the document does not list for the path, and a path it does not describe.
    assert _answer("/healthz", {"status": "ok"}, status=418)
    assert _answer("/api/v9/nothing.json", {})
    # Not JSON: not this check's business.
    check = AnswerCheck()
    check(make_mocked_request("GET", "/"), web.Response(text="<p>hi</p>",
                                                        content_type="text/html"))
    assert (check.mismatches, check.checked) == ([], 0)


def test_a_bot_in_a_subprocess_records_its_answers_for_the_check(tmp_path: Path) -> None:
    """tests/console_bot.py runs `statusdesk run` through tests/recorded_cli.py: its JSON
    answers reach the check in this process (a stricter document flags /alert.json)."""
    answers = Path(os.environ[RECORDED_ANSWERS_ENV])
    offset = answers.stat().st_size if answers.exists() else 0
    config, port = write_console_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/desk.db")
    bot = Bot(config, tmp_path)
    try:
        wait_for_http(port)
        status, _, _ = http_get(port, "/alert.json")
        assert status == 200
        http_get(port, "/healthz")
    finally:
        bot.close()
    strict = copy.deepcopy(openapi.document())
    strict["components"]["schemas"]["Alert"]["properties"]["alert"] = {"type": "integer"}
    wrong = AnswerCheck(strict)
    wrong.check_recorded(answers, offset)
    assert wrong.checked >= 2
    assert [m.split(":")[0] for m in wrong.mismatches] == ["GET /alert.json answered 200"]
