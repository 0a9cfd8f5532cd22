"""Where the end-to-end encryption store lives: keys that must outlive restarts, like the
database, so by default right beside the SQLite file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

FALLBACK = Path("statusdesk-matrix")


def crypto_store_path(database_url: str, configured: str | None) -> Path:
    """`matrix.store_path` if set; else `<sqlite file>-matrix/`; else (PostgreSQL, or an
    in-memory SQLite) `./statusdesk-matrix/`."""
    if configured:
        return Path(configured).expanduser()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database + "-matrix")
    return FALLBACK
