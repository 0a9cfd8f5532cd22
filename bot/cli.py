"""The `statusdesk` command line."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import sys
import tempfile
from collections.abc import Coroutine, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn

from bot.config import ConfigError, find_config_file, load_config
from bot.config.models import Config
from bot.observability.log_setup import configure_logging

log = logging.getLogger("statusdesk.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _version() -> str:
    try:
        return version("statusdesk")
    except PackageNotFoundError:
        return "0+unknown"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("-c", "--config", metavar="FILE",
                        help="configuration file (default: $STATUSDESK_CONFIG, else "
                             "./config.yaml, else /etc/statusdesk/config.yaml, else built-in)")
    common.add_argument("--log-level", default=None,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info",
                                 "warning", "error"],
                        help="log verbosity on stderr (default: logging.level of the "
                             "configuration, else INFO)")
    common.add_argument("--debug", action="store_true",
                        help="show tracebacks on errors (and log at DEBUG)")

    parser = _Parser(prog="statusdesk",
                     description="Chat-ops bot for infrastructure incident channels.")
    parser.add_argument("--version", action="version", version=f"statusdesk {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    commands.add_parser("run", parents=[common], help="run the bot")
    commands.add_parser("check-config", parents=[common],
                        help="validate the configuration; exit 2 when invalid")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=_Parser)
    db_commands.required = True
    db_commands.add_parser("upgrade", parents=[common], help="apply database migrations")
    db_down = db_commands.add_parser(
        "downgrade", parents=[common],
        help="undo migrations down to REVISION; lists them and what data they drop, then asks")
    db_down.add_argument("revision", metavar="REVISION",
                         help="a revision id or its unique prefix (0011), or base for all")
    db_down.add_argument("--yes", action="store_true",
                         help="do not ask (needed when stdin is not a terminal)")

    incidents = commands.add_parser("incidents", help="incidents and their logs")
    incident_commands = incidents.add_subparsers(dest="incidents_command", metavar="ACTION",
                                                 parser_class=_Parser)
    incident_commands.required = True
    listing = incident_commands.add_parser("list", parents=[common], help="table of incidents")
    listing.add_argument("--open", action="store_true", help="only open incidents")
    export = incident_commands.add_parser("export", parents=[common],
                                          help="an incident's full log on stdout")
    export.add_argument("id", metavar="ID", help="incident id (12 or #12)")
    export.add_argument("--format", choices=["md", "json"], default="md")
    bundle = incident_commands.add_parser(
        "bundle", parents=[common],
        help="a .tar.gz of the postmortem, JSON log, captured chat, bugs and pages")
    bundle.add_argument("id", metavar="ID", help="incident id (12 or #12)")
    bundle.add_argument("-o", "--output", metavar="FILE", type=Path,
                        help="write here (default: stdout, when it is not a terminal)")

    playbooks = commands.add_parser("playbooks", help="playbook entries and their bugs")
    playbook_commands = playbooks.add_subparsers(dest="playbooks_command", metavar="ACTION",
                                                 parser_class=_Parser)
    playbook_commands.required = True
    playbook_commands.add_parser(
        "check", parents=[common],
        help="report entries whose bugs are all closed or missing, or that link none; "
             "exit 1 if any")

    tokens = commands.add_parser("tokens", help="personal API tokens (for the API and `say`)")
    token_commands = tokens.add_subparsers(dest="tokens_command", metavar="ACTION",
                                           parser_class=_Parser)
    token_commands.required = True
    create = token_commands.add_parser("create", parents=[common],
                                       help="a new token for a user on `users:`, printed once")
    create.add_argument("user", metavar="USER", help="a name from the configuration's users")
    create.add_argument("--label", metavar="TEXT", default="",
                        help="what the token is for (shown in audit rows; default: the user)")
    token_commands.add_parser("list", parents=[common], help="the tokens (never the secrets)")
    revoke = token_commands.add_parser("revoke", parents=[common],
                                       help="revoke a token, on every instance at once")
    revoke.add_argument("id", metavar="ID", help="token id, from `tokens list`")

    say = commands.add_parser("say", parents=[common],
                              help="type a chat command without chat, through the API")
    say.add_argument("--url", metavar="URL",
                     help="the bot's address (default: status_page.public_url, else its "
                          "listen address)")
    say.add_argument("--token-file", metavar="FILE", type=Path,
                     help="file holding a personal token (default: $STATUSDESK_TOKEN)")
    say.add_argument("text", metavar="TEXT", help='e.g. "#status alert Gerrit is down"')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = "DEBUG" if args.debug else args.log_level
    configure_logging(level or "INFO")
    try:
        config = _load(args)
        configure_logging(level or config.logging.level, config.secrets(),
                          config.logging.format)
        return _dispatch(args, config)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except UsageError as error:
        print(f"statusdesk: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`incidents export 1 | head`): nothing to say, to nobody. As
        # the Python docs advise (signal module, "Note on SIGPIPE"): point stdout at
        # /dev/null so the interpreter's last flush at exit cannot fail and print again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as error:
        if args.debug:
            raise
        print(f"statusdesk: {_one_line(error)}", file=sys.stderr)
        return EXIT_FAILURE


class UsageError(Exception):
    """Bad usage that argparse cannot see (e.g. an incident id that is not a number)."""


def _load(args: argparse.Namespace) -> Config:
    args.config_file = find_config_file(args.config)
    return load_config(args.config_file)


def _dispatch(args: argparse.Namespace, config: Config) -> int:
    if args.command == "check-config":
        print(f"{args.config_file or 'built-in default'}: ok")
        return EXIT_OK
    if args.command == "run":
        from bot.app import App
        from bot.service.notify import ServiceNotifier

        log.info("using configuration %s", args.config_file or "built-in default "
                 "(console, SQLite ./statusdesk.db)")
        # SIGHUP reads the file found at start again (bot/service/reload.py).
        source = args.config_file
        # systemd's watchdog ends a hung bot with SIGABRT: every thread's stack is then
        # written to stderr (the journal), showing where the event loop hung.
        faulthandler.enable(all_threads=True)
        return _run_event_loop(App(
            config, own_process=True, service=ServiceNotifier.from_environment(),
            reload_config=(lambda: load_config(source)) if source is not None else None,
            config_source=str(source),
        ).run())
    if args.command == "db" and args.db_command == "downgrade":
        from bot.rollback_cli import run_downgrade

        return asyncio.run(run_downgrade(config, args))
    if args.command == "db":
        return asyncio.run(_db_upgrade(config))
    if args.command == "tokens":
        from bot.api.token_cli import run_tokens

        return asyncio.run(run_tokens(config, args))
    if args.command == "say":
        from bot.api.say import run_say

        return run_say(config, args)
    if args.command == "playbooks":
        return asyncio.run(_playbooks_check(config))
    if args.incidents_command == "list":
        return asyncio.run(_incidents_list(config, open_only=args.open))
    if args.incidents_command == "bundle":
        return asyncio.run(_incidents_bundle(config, _incident_id(args.id), args.output))
    return asyncio.run(_incidents_export(config, _incident_id(args.id), args.format))


def _run_event_loop(main: Coroutine[None, None, int]) -> int:
    """Run the bot on uvloop where it exists: the status page serves 15-20% more requests a
    second on it (bench/page.py), and asyncpg is built for it."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _incident_id(text: str) -> int:
    digits = text.removeprefix("#")
    if not digits.isdigit() or int(digits) < 1:
        raise UsageError(f"incident ids are positive integers, not {text!r}")
    return int(digits)


async def _db_upgrade(config: Config) -> int:
    from storage.db import open_store, revisions, upgrade

    store = open_store(config.database.url)
    try:
        await upgrade(store.engine)
        current, head = await revisions(store.engine)
    finally:
        await store.close()
    print(f"database at revision {current} (newest: {head})")
    return EXIT_OK


async def _incidents_list(config: Config, *, open_only: bool) -> int:
    from bot.incidents.metrics import Aggregate, IncidentTimes, format_duration
    from storage.db import open_store, upgrade

    store = open_store(config.database.url)
    try:
        await upgrade(store.engine)
        async with store.reading() as tx:
            incidents = await tx.incidents.list_all(open_only=open_only)
    finally:
        await store.close()
    rows = [["ID", "SEV", "STATE", "OPENED (UTC)", "RESOLVED (UTC)", "TTA", "TTI", "TTR",
             "LEAD", "EM", "TITLE"]]
    all_times = [IncidentTimes.of(i) for i in incidents]
    for incident, times in zip(incidents, all_times, strict=True):
        rows.append([
            f"#{incident.id}",
            f"sev{incident.severity}",
            incident.state,
            f"{incident.opened_at:%Y-%m-%d %H:%M}",
            f"{incident.resolved_at:%Y-%m-%d %H:%M}" if incident.resolved_at else "-",
            format_duration(times.to_acknowledge),
            format_duration(times.to_identify),
            format_duration(times.to_resolve),
            incident.lead or "-",
            incident.manager or "-",
            incident.title,
        ])
    if len(rows) == 1:
        print("No open incidents." if open_only else "No incidents.")
        return EXIT_OK
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    medians = []
    for label, values in (
        ("acknowledge", [t.to_acknowledge for t in all_times]),
        ("identify", [t.to_identify for t in all_times]),
        ("resolve", [t.to_resolve for t in all_times]),
    ):
        aggregate = Aggregate.of(values)
        if aggregate.count:
            medians.append(f"to {label} {format_duration(aggregate.median)} "
                           f"(of {aggregate.count})")
    if medians:
        print("\nMedian time " + "; ".join(medians) + ".")
    return EXIT_OK


async def _incidents_export(config: Config, incident_id: int, fmt: str) -> int:
    from bot.incidents.aftermath import load_aftermath
    from bot.incidents.export import export_json, export_markdown
    from storage.db import open_store, upgrade

    store = open_store(config.database.url)
    try:
        await upgrade(store.engine)
        async with store.reading() as tx:
            incident = await tx.incidents.get(incident_id)
            if incident is None:
                raise LookupError(f"there is no incident #{incident_id}")
            aftermath = await load_aftermath(tx, incident, config.incidents.roles)
            chunks = export_markdown(incident, tx.timeline, aftermath=aftermath,
                                     template=config.postmortem.template) \
                if fmt == "md" else export_json(incident, tx.timeline, aftermath=aftermath)
            async for chunk in chunks:
                sys.stdout.write(chunk)
    finally:
        await store.close()
    sys.stdout.flush()
    return EXIT_OK


async def _incidents_bundle(config: Config, incident_id: int, output: Path | None) -> int:
    from bot.incidents.bundle import BundleSources, write_bundle
    from bot.playbooks.bug_states import bug_lookup
    from storage.db import open_store, upgrade

    if output is None and sys.stdout.isatty():
        raise UsageError("refusing to write a .tar.gz to a terminal: use -o FILE or redirect "
                         "stdout to a file")
    store = open_store(config.database.url)
    try:
        await upgrade(store.engine)
        async with bug_lookup(config.playbooks) as lookup:
            sources = BundleSources(template=config.postmortem.template, bug_lookup=lookup,
                                    role_order=config.incidents.roles)
            if output is None:
                await write_bundle(store, incident_id, sys.stdout.buffer, sources)
                sys.stdout.buffer.flush()
                return EXIT_OK
            # Beside the target, then renamed: a failed bundle never leaves half a file.
            with tempfile.NamedTemporaryFile(dir=output.parent or Path("."), delete=False,
                                             prefix=f".{output.name}.") as partial:
                try:
                    await write_bundle(store, incident_id, partial, sources)
                    partial.flush()
                    os.fsync(partial.fileno())
                except BaseException:
                    partial.close()
                    os.unlink(partial.name)
                    raise
            os.chmod(partial.name, 0o600)  # private entries: as private as the database
            os.replace(partial.name, output)
    finally:
        await store.close()
    print(f"statusdesk: incident #{incident_id} bundled in {output}", file=sys.stderr)
    return EXIT_OK


async def _playbooks_check(config: Config) -> int:
    from bot.playbooks.check import run_check

    if config.playbooks.dir is None:
        raise UsageError("playbooks.dir is not set in the configuration: nothing to check")
    return await run_check(config, sys.stdout)


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
