"""`python -m bot.cli` for the tests that run the bot as a subprocess, with its JSON answers
written down for the suite's OpenAPI check (tests/openapi_check.py).

The subprocess only records (one JSON line per distinct answer, appended to
$STATUSDESK_TEST_ANSWERS): checking needs openapi-core, seconds of CPU to import, which a
bot started dozens of times should not pay. tests/conftest.py checks the recorded answers
after each test, in the test process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys

from aiohttp import web

from bot.web.app import ANSWER_OBSERVERS

ENV = "STATUSDESK_TEST_ANSWERS"


def new_json_answer(request: web.Request, response: web.StreamResponse,
                    seen: set[bytes]) -> bytes | None:
    """The body of an uncompressed JSON answer (not a 304) not `seen` before, else None;
    what the recorder here and the OpenAPI check (tests/openapi_check.py) both look at."""
    if not isinstance(response, web.Response) or response.status == 304:
        return None
    if response.content_type != "application/json" or response.headers.get("Content-Encoding"):
        return None
    body = response.body if isinstance(response.body, bytes) else b""
    key = hashlib.sha256(b"%s %s %d\n%s" % (request.method.encode(), request.path.encode(),
                                           response.status, body)).digest()
    if key in seen:
        return None
    seen.add(key)
    return body


class AnswerRecorder:
    def __init__(self, path: str) -> None:
        self._path = path
        self._seen: set[bytes] = set()

    def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        body = new_json_answer(request, response, self._seen)
        if body is None:
            return
        record = {"method": request.method, "path": request.path, "status": response.status,
                  "body": base64.b64encode(body).decode()}
        # One write per line, O_APPEND: lines from several bots at once do not interleave.
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def main() -> int:
    path = os.environ.get(ENV)
    if path:
        ANSWER_OBSERVERS.append(AnswerRecorder(path))
    from bot.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
