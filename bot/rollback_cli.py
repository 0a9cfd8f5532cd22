"""`statusdesk db downgrade REVISION [--yes]`: say which migrations are undone and what data
goes with them, ask, then roll the schema back (storage/rollback.py)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from bot.config.models import Config
from storage.rollback import RollbackError, Step

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def describe(step: Step, rows: dict[str, int]) -> str:
    """One line per undone migration: `  0012_api_tokens  personal API tokens; drops ...`."""
    line = f"  {step.revision}  {step.title}"
    if step.dropped_tables:
        tables = ", ".join(f"{t} ({_rows(rows[t])})" if t in rows else t
                           for t in step.dropped_tables)
        line += f"\n      DROPS table{'s' if len(step.dropped_tables) > 1 else ''} {tables}"
    if step.dropped_columns:
        plural = "s" if len(step.dropped_columns) > 1 else ""
        line += f"\n      DROPS column{plural} {', '.join(step.dropped_columns)}"
    return line


def _confirmed(stdin: TextIO, stdout: TextIO) -> bool:
    stdout.write("Downgrade? [y/N] ")
    stdout.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


async def run_downgrade(config: Config, args: argparse.Namespace,
                        stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    from storage.db import open_store, revisions
    from storage.rollback import downgrade, plan, row_counts

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    store = open_store(config.database.url)
    try:
        try:
            current, target, steps = await plan(store.engine, args.revision)
        except RollbackError as error:
            print(f"statusdesk: {error}", file=sys.stderr)
            return EXIT_USAGE
        if not steps:
            print(f"database at revision {current or 'base'}: nothing to undo", file=stdout)
            return EXIT_OK
        dropped = [table for step in steps for table in step.dropped_tables]
        rows = await row_counts(store.engine, dropped)
        print(f"database at revision {current}; downgrading to {target} undoes "
              f"{len(steps)} migration{'s' if len(steps) > 1 else ''}, newest first:",
              file=stdout)
        for step in steps:
            print(describe(step, rows), file=stdout)
        lost = [step for step in steps if step.drops_data]
        if lost:
            what = f"{_rows(sum(rows.values()))} in the tables dropped"
            if any(step.dropped_columns for step in lost):
                what += ", and the values of the columns dropped"
            print(f"WARNING: {len(lost)} of these drop data for good ({what}); back the "
                  "database up first.", file=stdout)
        if not args.yes:
            if not stdin.isatty():
                print("statusdesk: db downgrade asks before it changes the schema and stdin is "
                      "not a terminal; pass --yes to downgrade without asking",
                      file=sys.stderr)
                return EXIT_USAGE
            if not _confirmed(stdin, stdout):
                print("not downgraded: nothing changed", file=stdout)
                return EXIT_FAILURE
        await downgrade(store.engine, target)
        now, head = await revisions(store.engine)
    finally:
        await store.close()
    print(f"database at revision {now or 'base'} (newest this release knows: {head}); "
          "`statusdesk run` of this release would upgrade it again: run the release that "
          "matches it", file=stdout)
    return EXIT_OK
