"""Rolling the schema back: which migrations a downgrade undoes, what data each one drops, and
running it (`statusdesk db downgrade REVISION`).

What a step drops is read from the migration's own `downgrade()` (its `drop_table` and
`drop_column` calls), so a new migration needs nothing declared to be reported;
tests/integration/test_rollback.py checks the report against the tables and columns that
really disappear at every step.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from alembic import command as alembic_command
from alembic.script import Script, ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import MIGRATION_LOCK_KEY, MIGRATIONS_DIR, _alembic_config, revisions

BASE = "base"
"""The target below the first migration: an empty database."""


class RollbackError(Exception):
    """A target that is unknown or not below the database's revision."""


@dataclass(frozen=True)
class Step:
    """One migration undone."""

    revision: str
    down_revision: str | None
    title: str
    """The first line of the migration's docstring."""
    dropped_tables: tuple[str, ...]
    dropped_columns: tuple[str, ...]
    """`table.column`."""

    @property
    def drops_data(self) -> bool:
        return bool(self.dropped_tables or self.dropped_columns)


def script_directory() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


def all_revisions() -> list[str]:
    """Every revision, oldest first."""
    return [script.revision for script in reversed(list(script_directory().walk_revisions()))]


def resolve(target: str) -> str:
    """`base`, a revision id or a unique prefix of one (`0009` for `0009_maintenance`)."""
    if target == BASE:
        return BASE
    try:
        script = script_directory().get_revision(target)
    except CommandError as error:
        raise RollbackError(f"no migration {target!r}: {error}") from None
    if script is None:
        raise RollbackError(f"no migration {target!r}")
    return script.revision


def steps_between(current: str | None, target: str) -> list[Step]:
    """The migrations undone going from `current` down to `target` (already resolved),
    newest first; empty when the database is at the target."""
    if current is None:
        if target == BASE:
            return []
        raise RollbackError("the database has no migrations applied; nothing to roll back")
    if target == current:
        return []
    directory = script_directory()
    undone = [script for script in directory.walk_revisions(base=BASE, head=current)
              if isinstance(script, Script)]
    if target != BASE:
        kept = {s.revision for s in directory.walk_revisions(base=BASE, head=target)}
        if current in kept:
            raise RollbackError(f"{target} is newer than the database's revision {current}; "
                                "`statusdesk db upgrade` moves forward")
        undone = [script for script in undone if script.revision not in kept]
    return [_step(script) for script in undone]


def _step(script: Script) -> Step:
    down = script.down_revision
    if isinstance(down, (tuple, list)):  # a merge point; statusdesk's history is linear
        down = down[0]
    title = (script.module.__doc__ or script.revision).strip().splitlines()[0]
    tables, columns = _drops(Path(script.path))
    return Step(script.revision, down, title, tables, columns)


def _drops(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`op.drop_table(T)`, `op.drop_column(T, C)` and `batch.drop_column(C)` inside
    `op.batch_alter_table(T)` in the module's `downgrade()`."""
    tree = ast.parse(path.read_text())
    downgrade = next((node for node in tree.body
                      if isinstance(node, ast.FunctionDef) and node.name == "downgrade"), None)
    if downgrade is None:
        return (), ()
    tables: list[str] = []
    columns: list[str] = []

    def visit(nodes: list[ast.stmt], batch_table: str | None) -> None:
        for node in nodes:
            if isinstance(node, ast.With):
                inner = batch_table
                for item in node.items:
                    if _called(item.context_expr) == "batch_alter_table":
                        inner = _string_arg(item.context_expr, 0)
                visit(node.body, inner)
                continue
            for call in ast.walk(node):
                name = _called(call)
                if name == "drop_table":
                    tables.append(_string_arg(call, 0))
                elif name == "drop_column":
                    if _is_op_call(call):
                        columns.append(f"{_string_arg(call, 0)}.{_string_arg(call, 1)}")
                    elif batch_table is not None:
                        columns.append(f"{batch_table}.{_string_arg(call, 0)}")

    visit(downgrade.body, None)
    return tuple(tables), tuple(columns)


def _called(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _is_op_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "op")


def _string_arg(node: ast.AST, index: int) -> str:
    assert isinstance(node, ast.Call)
    arg = node.args[index] if index < len(node.args) else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return "?"


async def plan(engine: AsyncEngine, target: str) -> tuple[str | None, str, list[Step]]:
    """(the database's revision, the resolved target, the steps undone, newest first)."""
    resolved = resolve(target)
    current, _ = await revisions(engine)
    return current, resolved, steps_between(current, resolved)


async def row_counts(engine: AsyncEngine, tables: list[str]) -> dict[str, int]:
    """Rows in each of `tables` that exists (what a downgrade would drop)."""
    async with engine.connect() as connection:
        present = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        counts = {}
        for table in tables:
            if table in present:
                # The names come from our own migrations' source, not from input.
                result = await connection.execute(text(f'SELECT COUNT(*) FROM "{table}"'))
                counts[table] = int(result.scalar_one())
        return counts


async def downgrade(engine: AsyncEngine, target: str) -> None:
    """Undo migrations down to `target` (`base` or a revision), in one transaction where the
    database allows (PostgreSQL), under the migration lock other instances take."""
    resolved = resolve(target)
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration on SQLite rebuilds a table (copy, DROP, rename). With foreign
            # keys enforced, that DROP deletes or refuses the rows pointing at the old table
            # (`FOREIGN KEY constraint failed` undoing 0009): SQLite's documented procedure
            # for altering a table is to switch enforcement off around it, and check after.
            # The pragma is a no-op inside a transaction, so it goes first.
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.commit()
        try:
            async with connection.begin():
                if connection.dialect.name == "postgresql":
                    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                             {"key": MIGRATION_LOCK_KEY})
                await connection.run_sync(_downgrade, resolved)
                if sqlite:
                    broken = (await connection.exec_driver_sql(
                        "PRAGMA foreign_key_check")).fetchall()
                    if broken:
                        raise RollbackError(f"rows left pointing nowhere: {broken[:5]}")
        finally:
            if sqlite:
                await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                await connection.commit()


def _downgrade(connection: Connection, target: str) -> None:
    alembic_command.downgrade(_alembic_config(connection), target)
