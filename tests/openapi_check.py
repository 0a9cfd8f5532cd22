"""Every JSON answer the test suite gets from a statusdesk web app, checked against
/api/openapi.json with openapi-core.

tests/conftest.py lists `CHECK` in `bot.web.app.ANSWER_OBSERVERS` for the whole run (every
app the tests start in this process gets the observing middleware) and fails a test during
which an answer did not match: an undocumented path or status, a missing or mistyped field.
Answers that are not JSON, or compressed, are left alone. The same body of the same path and
status is checked once (the page serves the same snapshot bytes to every client), so a load
test pays for a check per distinct answer, not per request.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from openapi_core import OpenAPI
from openapi_core.contrib.aiohttp import AIOHTTPOpenAPIWebRequest, AIOHTTPOpenAPIWebResponse

from bot.web import openapi
from tests.recorded_cli import new_json_answer


def _reason(error: BaseException) -> str:
    """openapi-core wraps the schema errors; the innermost ones say what was wrong."""
    parts = [str(error)]
    for cause in (getattr(error, "__cause__", None), *getattr(error, "schema_errors", ())):
        if cause is not None:
            for inner in getattr(cause, "schema_errors", (cause,)):
                parts.append(str(getattr(inner, "message", inner))[:300])
    return "; ".join(parts)


class AnswerCheck:
    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self._openapi = OpenAPI.from_dict(document or openapi.document())
        self._seen: set[bytes] = set()
        self.mismatches: list[str] = []
        self.checked = 0

    def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        if new_json_answer(request, response, self._seen) is None:
            return
        self.checked += 1
        if request.method == "HEAD":
            # aiohttp answers HEAD with the GET handler, and drops the body on the wire: the
            # answer is the GET's, which is what the document describes.
            request = request.clone(method="GET")
        try:
            self._openapi.validate_response(AIOHTTPOpenAPIWebRequest(request, body=None),
                                            AIOHTTPOpenAPIWebResponse(response))
        except Exception as error:
            self.mismatches.append(f"{request.method} {request.path} answered "
                                   f"{response.status}: {_reason(error)}")

    def new_since(self, mark: int) -> list[str]:
        return self.mismatches[mark:]

    def check_recorded(self, answers: Path, offset: int) -> int:
        """Check the answers bots in subprocesses recorded (tests/recorded_cli.py) from
        `offset` on; the offset to start from next time."""
        if not answers.exists():
            return offset
        with answers.open("rb") as recorded:
            recorded.seek(offset)
            lines = recorded.read()
        complete = lines[:lines.rfind(b"\n") + 1]
        for line in complete.splitlines():
            record = json.loads(line)
            response = web.Response(status=record["status"],
                                    body=base64.b64decode(record["body"]),
                                    content_type="application/json")
            self(make_mocked_request(record["method"], record["path"]), response)
        return offset + len(complete)


CHECK = AnswerCheck()
