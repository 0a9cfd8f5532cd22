"""Personal API tokens and `POST /api/v1/commands` (DESIGN §1.8), on SQLite and PostgreSQL:
the command takes chat's own path (roles, audit, replies), and tokens are checked on every
request (a revocation holds at once)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from alembic import command
from sqlalchemy import Connection, inspect, select

from storage.db import _alembic_config, revisions, upgrade
from storage.models import ApiToken, AuditRecord, utcnow
from storage.unit_of_work import Store
from tests.harness import Running, opened_store, run_app

USERS = """\
users:
  - name: alice
    roles: [status, incident]
    irc: {account: alice}
  - name: bob
    roles: []
    irc: {account: bob}
"""


async def test_a_token_is_kept_as_a_salted_hash_and_checked_each_time(store: Store) -> None:
    async with store.transaction() as tx:
        row, token = await tx.api_tokens.create("alice", "laptop", utcnow())
        _, other = await tx.api_tokens.create("alice", "phone", utcnow())
    assert token.startswith(f"sdk_{row.id}_")
    async with store.reading() as tx:
        stored = (await tx.session.execute(select(ApiToken))).scalars().all()
        assert all(token.split("_", 2)[2] not in (s.hash + s.salt) for s in stored)
        assert len({s.salt for s in stored}) == 2
        owner = await tx.api_tokens.verify(token)
        assert owner is not None and (owner.user_name, owner.label) == ("alice", "laptop")
        # Another token's secret under this id, a truncated one, garbage: all refused.
        assert await tx.api_tokens.verify(f"sdk_{row.id}_" + other.split("_", 2)[2]) is None
        assert await tx.api_tokens.verify(token[:-1]) is None
        assert await tx.api_tokens.verify("sdk_99999_nope") is None
        assert await tx.api_tokens.verify("Bearer") is None
        assert await tx.api_tokens.verify("sdk_x_y") is None
    async with store.transaction() as tx:
        assert await tx.api_tokens.revoke(row.id, utcnow())
        assert not await tx.api_tokens.revoke(12345, utcnow())
    async with store.reading() as tx:
        assert await tx.api_tokens.verify(token) is None
        assert await tx.api_tokens.verify(other) is not None


async def test_checking_tokens_leaves_the_event_loop_free(store: Store) -> None:
    """Each check costs ~5 ms of PBKDF2: a crowd sending wrong tokens must not spend it on
    the loop that serves the page. Measured as the loop thread's own CPU time, which the
    machine's load does not change."""
    async with store.transaction() as tx:
        row, token = await tx.api_tokens.create("alice", "laptop", utcnow())
    wrong = [f"sdk_{row.id}_{n:043d}" for n in range(20)] + \
        [f"sdk_{row.id + 1 + n}_{n:043d}" for n in range(20)]  # known id, unknown id
    async with store.reading() as tx:
        await tx.api_tokens.verify(token)  # warm up the session and the thread pool
        before = time.thread_time()
        for candidate in wrong:
            assert await tx.api_tokens.verify(candidate) is None
        spent = time.thread_time() - before
    # On the loop: ~150 ms here (40 x PBKDF2). Off it: the database reads only, ~20 ms.
    assert spent < 0.08, f"the loop thread spent {spent * 1000:.0f} ms on 40 checks"


async def _token(app: Running, user: str, label: str) -> str:
    assert app.app.store is not None
    async with app.app.store.transaction() as tx:
        _, token = await tx.api_tokens.create(user, label, utcnow())
    return token


async def _post(app: Running, body: bytes | str, token: str | None,
                content_type: str = "application/json") -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with app.http.post(app.base + "/api/v1/commands", data=body,
                             headers=headers) as response:
        return response.status, json.loads(await response.read())


async def test_a_command_over_http_takes_chats_path(db_url: str, tmp_path: Path) -> None:
    async with run_app(db_url, tmp_path, USERS) as app:
        token = await _token(app, "alice", "laptop")
        status, answer = await _post(app, json.dumps({"text": "#status alert Gerrit is down"}),
                                     token)
        assert status == 200
        assert answer == {"applied": True, "replies": ["Alert set; opened incident #1."]}
        await app.settled()
        _, _, page = await app.get("/alert.json")
        assert b"Gerrit is down" in page
        # A question is answered (applied), a refusal is not applied and says why.
        status, answer = await _post(app, json.dumps({"text": "#incident list"}), token)
        assert status == 200 and answer["applied"] is True and answer["replies"]
        no_roles = await _token(app, "bob", "bob's laptop")
        status, answer = await _post(app, json.dumps({"text": "#status ok"}), no_roles)
        assert status == 200 and answer["applied"] is False
        assert answer["replies"] == ["you are not authorized to use #status ok"]
        status, answer = await _post(app, json.dumps({"text": "#status frobnicate"}), token)
        assert status == 200 and answer["applied"] is False and answer["replies"]
        assert app.app.store is not None
        async with app.app.store.reading() as tx:
            rows = (await tx.session.execute(
                select(AuditRecord).order_by(AuditRecord.id))).scalars().all()
        assert [(r.identity, r.command, r.outcome) for r in rows] == [
            ("alice via api token laptop", "#status alert", "accepted"),
            ("bob via api token bob's laptop", "#status ok", "refused"),
        ]
        assert rows[0].transport == "api"
        async with app.app.store.reading() as tx:
            listed = await tx.api_tokens.list_all()
        assert listed[0].last_used_at is not None and listed[1].last_used_at is not None


async def test_bad_requests_get_one_line_reasons(db_url: str, tmp_path: Path) -> None:
    async with run_app(db_url, tmp_path, USERS) as app:
        token = await _token(app, "alice", "laptop")
        good = json.dumps({"text": "#status notice hello"})
        for body, given, content_type, expected in (
            (good, None, "application/json", 401),
            (good, "sdk_1_wrong", "application/json", 401),
            (good, "not-a-token", "application/json", 401),
            ("{not json", token, "application/json", 400),
            (json.dumps({"txt": "#status ok"}), token, "application/json", 400),
            (json.dumps({"text": 5}), token, "application/json", 400),
            (json.dumps(["#status ok"]), token, "application/json", 400),
            (json.dumps({"text": "#status notice a\r\nPRIVMSG #x :b"}), token,
             "application/json", 400),
            (json.dumps({"text": "x" * 9000}), token, "application/json", 413),
            (good, token, "text/plain", 415),
            (good, token, "application/x-www-form-urlencoded", 415),
        ):
            status, answer = await _post(app, body, given, content_type)
            assert status == expected, (body[:40], given, content_type, answer)
            assert set(answer) == {"error", "detail"} and "\n" not in str(answer["detail"])
        # Nothing was applied by any of them.
        assert app.app.store is not None
        async with app.app.store.reading() as tx:
            assert (await tx.session.execute(select(AuditRecord))).first() is None


async def test_a_revoked_token_is_refused_at_once(db_url: str, tmp_path: Path) -> None:
    async with run_app(db_url, tmp_path, USERS) as app:
        token = await _token(app, "alice", "laptop")
        body = json.dumps({"text": "#incident list"})
        assert (await _post(app, body, token))[0] == 200
        # Revoked by another process (the CLI) through its own connection.
        async with opened_store(db_url) as other, other.transaction() as tx:
            assert await tx.api_tokens.revoke(int(token.split("_")[1]), utcnow())
        status, answer = await _post(app, body, token)
        assert status == 401 and "revoked" in str(answer["detail"])


async def test_a_token_user_off_the_whitelist_only_asks(db_url: str, tmp_path: Path) -> None:
    async with run_app(db_url, tmp_path, USERS) as app:
        token = await _token(app, "mallory", "removed from users")
        status, answer = await _post(app, json.dumps({"text": "#status alert pwned"}), token)
        assert status == 200
        assert answer == {"applied": False,
                          "replies": ["you are not authorized to use #status alert"]}


async def test_migration_0012_rolls_back_and_forward(store: Store) -> None:
    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with store.engine.begin() as connection:
        await connection.run_sync(
            lambda c: command.downgrade(_alembic_config(c), "0011_actions"))
        assert "api_tokens" not in await connection.run_sync(tables)
    await upgrade(store.engine)
    async with store.engine.connect() as connection:
        assert "api_tokens" in await connection.run_sync(tables)
    current, head = await revisions(store.engine)
    assert current == head  # back at the newest, whatever came after 0012


async def test_the_chat_rate_limit_holds_for_a_token(sqlite_url: str, tmp_path: Path) -> None:
    limit = ("commands:\n  rate_limit: {burst: 2, per_second: 0.01,"
             " whitelisted: {burst: 3, per_second: 0.01}}\n")
    async with run_app(sqlite_url, tmp_path, USERS + limit) as app:
        token = await _token(app, "alice", "laptop")
        other = await _token(app, "alice", "phone")
        body = json.dumps({"text": "#incident list"})
        answers = [await _post(app, body, token) for _ in range(3)]
        assert all(status == 200 and a["applied"] for status, a in answers)
        # The user's allowance, whichever of their tokens: one warning, then silence.
        status, warned = await _post(app, body, other)
        assert status == 200 and warned["applied"] is False and len(warned["replies"]) == 1
        assert await _post(app, body, token) == (200, {"applied": False, "replies": []})
        async with app.app.store.reading() as tx:  # type: ignore[union-attr]
            rows = (await tx.session.execute(select(AuditRecord))).scalars().all()
        assert [(r.outcome, r.identity) for r in rows] == [
            ("rate_limited", "alice via api token phone")]
