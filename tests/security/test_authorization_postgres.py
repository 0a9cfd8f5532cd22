"""The authorization table on PostgreSQL: each command by a sender who may use it and by
senders who may not (the full cross product runs on SQLite in `test_authorization.py`; what
the database adds is that refusals and their audit rows commit, or not, the same way)."""

from __future__ import annotations

from pathlib import Path

from tests.security.test_authorization import ROWS, SENDERS, Who, allowed, check, open_table

SAMPLE = ("account-status+incident", "matrix-other-homeserver")


SAMPLED: list[Who] = [who for who in SENDERS if who.id in SAMPLE]


async def test_table_sample_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    assert len(SAMPLED) == len(SAMPLE)
    async with open_table(pg_url, tmp_path) as table:
        for row in ROWS:
            for who in SAMPLED:
                try:
                    await check(table, row, who)
                except AssertionError as error:
                    raise AssertionError(f"{row.id}/{who.id}: {error}") from error
        assert table.tally["allowed"] and table.tally["refused"]
        assert sum(allowed(row, who) for row in ROWS for who in SAMPLED) == \
            table.tally["allowed"]
