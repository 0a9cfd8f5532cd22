"""`statusdesk playbooks check`: what in the playbooks needs a human.

Failures (exit 1): files that do not load, entries whose bugs are all closed (the workaround
may be obsolete), entries linking bugs that do not exist, entries with no bug at all. Bugs
whose state cannot be learnt (tracker down, rate limited, unknown host) are listed apart and
fail nothing: the check cannot tell. Links added from chat are included when the database
is there; the check never creates or migrates one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from bot.config.models import Config
from bot.playbooks.bug_states import BugState, BugStates
from bot.playbooks.entry import Entry
from bot.playbooks.store import FileProblem, PlaybookStore
from bot.playbooks.trackers.registry import TrackerSet

log = logging.getLogger("statusdesk.playbooks")


@dataclass
class Report:
    entries: int = 0
    bugs: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Not failures: warnings and what could not be checked."""

    def lines(self, directory: Path) -> list[str]:
        out = [f"Checked {self.entries} playbook entr{'y' if self.entries == 1 else 'ies'} "
               f"in {directory} ({self.bugs} linked bug{'' if self.bugs == 1 else 's'})."]
        out += self.failures
        if self.notes:
            out.append("Not counted as problems:")
            out += [f"  {note}" for note in self.notes]
        count = sum(1 for line in self.failures if not line.startswith("  "))
        out.append(f"{count} problem{'' if count == 1 else 's'} found." if count
                   else "No problems found.")
        return out


def build_report(
    entries: Mapping[str, Entry],
    problems: Sequence[FileProblem],
    links: Mapping[str, Sequence[str]],
    states: Mapping[str, BugState],
) -> Report:
    """The report, from what was loaded and learnt (pure: no I/O)."""
    report = Report(entries=len(entries))
    for problem in problems:
        (report.failures if problem.fatal else report.notes).append(str(problem))
    for slug, entry in entries.items():
        urls = list(dict.fromkeys([*entry.bugs, *links.get(slug, ())]))
        report.bugs += len(urls)
        if not urls:
            report.failures.append(f"{slug}: no bug linked (add bugs: [URL] to its file, or "
                                   f"#playbook link {slug} BUG-URL)")
            continue
        found = [states[url] for url in urls]
        missing = [s for s in found if s.missing]
        for state in missing:
            report.failures.append(f"{slug}: links a bug that does not exist: {state.url} "
                                   f"({state.tracker or 'no tracker'}: {state.reason})")
        unknown = [s for s in found if s.state == "unknown" and not s.missing]
        for state in unknown:
            report.notes.append(f"{slug}: {state.url}: state unknown ({state.reason})")
        if all(s.state == "closed" for s in found):
            report.failures.append(f"{slug}: every linked bug is closed; the workaround may "
                                   "be obsolete")
            report.failures += [f"  {s.line} {s.url}" for s in found]
    return report


async def run_check(config: Config, out: TextIO) -> int:
    """Check the configured playbooks; print the report; 1 if anything needs a human."""
    directory = config.playbooks.dir
    if directory is None:
        raise ValueError("playbooks.dir is not set in the configuration")
    store = PlaybookStore(Path(directory))
    entries, problems = store.entries, store.problems
    links = await _chat_links(config, out)
    states = BugStates(TrackerSet.from_config(config.playbooks.trackers),
                       ttl=config.playbooks.cache_ttl)
    try:
        urls = list(dict.fromkeys(url for slug, entry in entries.items()
                                  for url in [*entry.bugs, *links.get(slug, ())]))
        found = dict(zip(urls, await states.get_many(urls), strict=True))
    finally:
        await states.close()
    report = build_report(entries, problems, links, found)
    for line in report.lines(Path(directory)):
        print(line, file=out)
    return 1 if report.failures else 0


async def _chat_links(config: Config, out: TextIO) -> dict[str, list[str]]:
    """Links added from chat, if the database exists; an empty map (with a note) if not."""
    from storage.db import open_store

    url = config.database.url
    if not _may_exist(url):
        return {}
    store = open_store(url)
    try:
        async with store.reading() as tx:
            rows = await tx.playbook_links.all()
    except Exception as error:
        print(f"(links added from chat not checked: the database does not answer: "
              f"{type(error).__name__})", file=out)
        return {}
    finally:
        await store.close()
    return {slug: [link.url for link in links] for slug, links in rows.items()}


def _may_exist(url: str) -> bool:
    """False for a SQLite file that is not there (opening it would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    return bool(parsed.database) and Path(str(parsed.database)).exists()
