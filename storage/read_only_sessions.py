"""Connections that found the database read-only are not used for writes once it is not.

Read-only is a property of a session, fixed when it connected: a hot standby behind the
address after a failover, `default_transaction_read_only`, a file opened read-only. A pooled
connection would go on refusing writes after the cause is gone (the address points at the
new primary, the setting was turned off): so a connection that hits a read-only refusal is
dropped with the rest of the pool, and those opened while writes were refused for being
read-only are dropped when next checked out after the episode, for fresh ones that see
things as they are now. A full disk needs none of this: the same connection writes once
there is room.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.write_health import WriteHealth
from storage.write_refusals import RefusalKind, write_refusal

OPENED_READ_ONLY = "statusdesk_opened_read_only"
"""Key, in a pooled connection's `info`, marking one opened during a read-only episode."""


def renew_read_only_sessions(engine: AsyncEngine, writes: WriteHealth) -> None:
    """Wire the engine's pool to `writes` (the store's account of refused writes)."""

    def read_only() -> bool:
        refusal = writes.unwritable
        return refusal is not None and refusal.kind is RefusalKind.READ_ONLY

    def on_error(context: ExceptionContext) -> None:
        refusal = write_refusal(context.original_exception)
        if refusal is not None and refusal.kind is RefusalKind.READ_ONLY:
            context.is_disconnect = True  # this connection, and the pool's older ones

    def on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[OPENED_READ_ONLY] = read_only()

    def on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get(OPENED_READ_ONLY) and not read_only():
            # The pool replaces it with a fresh connection, at once.
            raise DisconnectionError("opened while the database was read-only")

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "handle_error", on_error)
    event.listen(sync_engine, "connect", on_connect)
    event.listen(sync_engine, "checkout", on_checkout)
