"""The private incident-log endpoints (`/api/incidents/ID/log.md|json`): only a request with
`Authorization: Bearer <status_page.api_token>` reads them; anything else is a 401 that says
nothing about whether the incident exists, and the token is compared in constant time.

Requests go over real HTTP to the running app (on SQLite and PostgreSQL), some of them as raw
bytes because a well-behaved client would refuse to send them.
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.web.app import API_TOKEN_KEY, _authorized
from tests.harness import Running, run_app
from tests.secrets import API_TOKEN

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOG_PATHS = ("/api/incidents/{id}/log.md", "/api/incidents/{id}/log.json")
PRIVATE_PATHS = (*LOG_PATHS, "/api/incidents/{id}/bundle.tar.gz")

REFUSED: list[tuple[str, str, dict[str, str]]] = [
    # (case, query string, headers)
    ("no token", "", {}),
    ("wrong token", "", {"Authorization": "Bearer not-the-token"}),
    ("empty bearer", "", {"Authorization": "Bearer "}),
    ("token prefix", "", {"Authorization": f"Bearer {API_TOKEN[:-1]}"}),
    ("token with more after it", "", {"Authorization": f"Bearer {API_TOKEN}x"}),
    ("token without scheme", "", {"Authorization": API_TOKEN}),
    ("right token, Basic scheme", "", {"Authorization": f"Basic {API_TOKEN}"}),
    ("right token, Token scheme", "", {"Authorization": f"Token {API_TOKEN}"}),
    ("right token in another header", "", {"X-Api-Token": API_TOKEN}),
    ("token in ?token=", f"token={API_TOKEN}", {}),
    ("token in ?access_token=", f"access_token={API_TOKEN}", {}),
    ("token in ?api_token=", f"api_token={API_TOKEN}", {}),
    ("token in the query and a wrong one in the header", f"access_token={API_TOKEN}",
     {"Authorization": "Bearer wrong"}),
    ("token in a cookie", "", {"Cookie": f"token={API_TOKEN}"}),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    tmp = tmp_path_factory.mktemp("private")
    async with run_app(f"sqlite+aiosqlite:///{tmp / 'statusdesk.db'}", tmp) as running:
        assert (await running.say("#incident open sev2 Database down"))[0].startswith(
            "Opened incident #1")
        await running.say("#log 1 private working note: restarted db01")
        yield running


def _port(running: Running) -> int:
    return int(running.base.rsplit(":", 1)[1])


async def _refused(running: Running, path: str, headers: dict[str, str]) -> None:
    status, response_headers, body = await running.get(path, **headers)
    assert status == 401, body
    assert response_headers["WWW-Authenticate"].startswith("Bearer")
    assert response_headers["Cache-Control"] == "no-store"
    assert b"restarted db01" not in body and b"Database down" not in body
    assert API_TOKEN.encode() not in body


@pytest.mark.parametrize("template", PRIVATE_PATHS)
@pytest.mark.parametrize(("case", "query", "headers"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_refused(running: Running, template: str, case: str, query: str,
                       headers: dict[str, str]) -> None:
    path = template.format(id=1) + (f"?{query}" if query else "")
    await _refused(running, path, headers)
    # HEAD is routed with GET: it must not answer differently.
    async with running.http.head(running.base + path, headers=headers) as response:
        assert response.status == 401


@pytest.mark.parametrize("template", LOG_PATHS)
async def test_right_bearer_token_reads_the_log(running: Running, template: str) -> None:
    for scheme in ("Bearer", "bearer"):
        status, headers, body = await running.get(template.format(id=1),
                                                  Authorization=f"{scheme} {API_TOKEN}")
        assert status == 200, body
        assert b"restarted db01" in body
        assert headers["Cache-Control"] == "no-store"


async def test_right_bearer_token_reads_the_bundle(running: Running) -> None:
    status, headers, body = await running.get("/api/incidents/1/bundle.tar.gz",
                                              Authorization=f"Bearer {API_TOKEN}")
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    assert b"restarted db01" in gzip.decompress(body)


@pytest.mark.parametrize("incident", ["2", "999", "2147483648", "9" * 40])
async def test_no_existence_oracle(running: Running, incident: str) -> None:
    """Without the token an unknown incident is a 401 too, however large its id; with the
    token it is a clean 404, never a server error (nor is its public page)."""
    for template in PRIVATE_PATHS:
        path = template.format(id=incident)
        await _refused(running, path, {"Authorization": "Bearer wrong"})
        await _refused(running, path, {})
        status, _, body = await running.get(path, Authorization=f"Bearer {API_TOKEN}")
        assert status == 404, body
    assert (await running.get(f"/incidents/{incident}"))[0] == 404
    assert (await running.get("/incidents/%C2%B2"))[0] == 404  # "²", a digit to str.isdigit


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("value", [
    b"Bearer \xff\xfe\x80",                      # not UTF-8
    b"Bearer caf\xc3\xa9",                       # UTF-8, not ASCII
    b"Bearer " + API_TOKEN.encode() + b"\xff",
    b"Bearer " + b"A" * 8000,                    # long, just under aiohttp's field limit
    b"\xff\xfe " + API_TOKEN.encode(),
])
async def test_odd_bytes_in_the_header_are_a_401_not_a_crash(running: Running,
                                                              value: bytes) -> None:
    response = await _raw(_port(running), b"GET /api/incidents/1/log.md HTTP/1.1\r\n"
                          b"Host: localhost\r\nAuthorization: " + value +
                          b"\r\nConnection: close\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 401 "), response[:200]


async def test_api_off_without_a_token(tmp_path: Path) -> None:
    """No `status_page.api_token`: the private API is off. It answers 401 (as for a wrong
    token, so nothing tells a configured deployment from another) and says how to turn it
    on; no token of any kind opens it."""
    async with run_app(f"sqlite+aiosqlite:///{tmp_path / 'off.db'}", tmp_path,
                       api_token=None) as running:
        await running.say("#incident open Something")
        for template in LOG_PATHS:
            path = template.format(id=1)
            for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"},
                            {"Authorization": f"Bearer {API_TOKEN}"}):
                status, _, body = await running.get(path, **headers)
                assert status == 401, body
                assert b"this API is off: set status_page.api_token" in body


async def test_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """The same answers with PostgreSQL behind (an id beyond its integer column included)."""
    async with run_app(pg_url, tmp_path) as running:
        await running.say("#incident open sev2 Database down")
        good = {"Authorization": f"Bearer {API_TOKEN}"}
        assert (await running.get("/api/incidents/1/log.json", **good))[0] == 200
        for incident in ("2", "2147483648", "9" * 40):
            path = f"/api/incidents/{incident}/log.json"
            await _refused(running, path, {"Authorization": "Bearer wrong"})
            assert (await running.get(path, **good))[0] == 404
            assert (await running.get(f"/incidents/{incident}"))[0] == 404
        await _refused(running, f"/api/incidents/1/log.md?access_token={API_TOKEN}", {})


def _request(token: str, authorization: str) -> web.Request:
    request = make_mocked_request("GET", "/api/incidents/1/log.md",
                                  headers={"Authorization": authorization})
    request.app[API_TOKEN_KEY] = token
    return request


async def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every guess, right or wrong, long or short, goes through `hmac.compare_digest`, and
    always as two values of one length (digests), so neither how much of a guess was right
    nor the token's length shows in the time taken.

    Observed by recording the standard library's comparison as the check runs, not by timing
    requests: over HTTP the network's noise is far larger than the difference between
    comparing 30 bytes or 1, and even in-process a megabyte token's copying by the header
    parsing swamps an early-exit `==`; a timing assertion that cannot tell `==` from
    `compare_digest` would be a test that cannot fail.
    """
    real = hmac.compare_digest
    calls: list[tuple[int, int]] = []

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    token = API_TOKEN
    for guess in ("", "x", token[:-1] + "x", "x" + token[1:], token, token + "x",
                  "k" * 100_000):
        calls.clear()
        assert _authorized(_request(token, f"Bearer {guess}")) is (guess == token)
        assert len(calls) == 1, f"guess {guess[:20]!r}: {len(calls)} constant-time comparisons"
        (sizes,) = calls
        assert sizes[0] == sizes[1], f"guess {guess[:20]!r}: compared {sizes} bytes"
