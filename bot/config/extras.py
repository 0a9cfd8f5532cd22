"""The optional parts of the install (pip extras, pyproject.toml) that a configuration may
need: a Matrix account needs matrix-nio (`statusdesk[matrix]`), a PostgreSQL database needs
asyncpg (`statusdesk[postgres]`). A configuration that needs one that is not installed is a
configuration error naming the extra, found by `check-config` before anything starts."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


@dataclass(frozen=True)
class Extra:
    """A pip extra: its name and the module whose presence says it is installed."""

    name: str
    module: str

    def installed(self) -> bool:
        # find_spec looks without importing (matrix-nio takes half a second to import).
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def hint(self) -> str:
        return f"needs the extra {self.name!r}: pip install 'statusdesk[{self.name}]'"


MATRIX = Extra("matrix", "nio")
POSTGRES = Extra("postgres", "asyncpg")


def missing_extras(tree: dict[Any, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """(location, message) for each part of the parsed configuration `tree` whose extra is
    not installed; tolerant of anything the schema rejects."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if tree.get("matrix") is not None and not MATRIX.installed():
        found.append((("matrix",), f"the matrix transport {MATRIX.hint()}"))
    database = tree.get("database")
    url = database.get("url") if isinstance(database, dict) else None
    if isinstance(url, str) and not POSTGRES.installed():
        try:
            backend = make_url(url).get_backend_name()
        except (ArgumentError, ValueError):
            backend = None
        if backend == "postgresql":
            found.append((("database", "url"), f"a PostgreSQL database {POSTGRES.hint()}"))
    return found
