"""`statusdesk tokens create|list|revoke`."""

from __future__ import annotations

import argparse
import sys

from bot.config.models import Config
from storage.models import utcnow

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


async def run_tokens(config: Config, args: argparse.Namespace) -> int:
    from storage.db import open_store, upgrade

    action = args.tokens_command
    if action == "create":
        names = {user.name for user in config.users}
        if args.user not in names:
            known = ", ".join(sorted(names)) or "none"
            print(f"statusdesk: {args.user!r} is not on users: in the configuration "
                  f"(known: {known})", file=sys.stderr)
            return EXIT_USAGE
    if action == "revoke" and not (args.id.isascii() and args.id.isdigit() and len(args.id) < 19):
        print(f"statusdesk: token ids are positive integers, not {args.id!r}", file=sys.stderr)
        return EXIT_USAGE
    store = open_store(config.database.url)
    try:
        await upgrade(store.engine)
        if action == "create":
            label = " ".join(args.label.split())[:200] or args.user
            async with store.transaction() as tx:
                row, token = await tx.api_tokens.create(args.user, label, utcnow())
            print(f"token #{row.id} for {args.user} ({label}); shown this once, keep it "
                  "secret:", file=sys.stderr)
            print(token)
            return EXIT_OK
        if action == "revoke":
            async with store.transaction() as tx:
                found = await tx.api_tokens.revoke(int(args.id), utcnow())
            if not found:
                print(f"statusdesk: there is no token #{args.id}", file=sys.stderr)
                return EXIT_FAILURE
            print(f"token #{args.id} revoked")
            return EXIT_OK
        async with store.reading() as tx:
            rows = await tx.api_tokens.list_all()
    finally:
        await store.close()
    if not rows:
        print("No tokens.")
        return EXIT_OK
    table = [["ID", "USER", "CREATED (UTC)", "LAST USED (UTC)", "REVOKED (UTC)", "LABEL"]]
    for row in rows:
        table.append([
            str(row.id), row.user_name, f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M:%S}" if row.last_used_at else "-",
            f"{row.revoked_at:%Y-%m-%d %H:%M:%S}" if row.revoked_at else "-",
            row.label,
        ])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for r in table:
        print("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]))
    return EXIT_OK
