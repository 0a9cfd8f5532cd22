"""The playbooks' command rules: which entry a question means, what to answer, what to
suggest, decided without I/O (as `bot.core.rules` does for the desk).

The extension (`bot.playbooks.extension`) reads what a rule needs (linked bugs, open
incidents, the alert), asks the rule and applies the outcome; every rule here can be tested
with plain values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from bot.playbooks import lookup
from bot.playbooks.entry import Entry
from commands import playbook_replies as say

MAX_BUG_LINES = 8
"""Bugs whose states `#playbook TOPIC` shows at most (the rest are counted)."""

MAX_SUGGESTIONS = 2
"""Entries suggested for one alert or incident at most (the best matches)."""

MATCHES_PER_INCIDENT = 3
"""Entries named per open incident by `#playbook` alone."""


def index_suffix(page_url: str | None, entries: Mapping[str, Entry]) -> str:
    return say.index_suffix(page_url, list(entries))


def page_suffix(page_url: str | None, slug: str) -> str:
    return say.page_suffix(say.page_url(page_url, slug), slug)


# --- suggestions ---------------------------------------------------------------------------------


def suggestions(matches: Sequence[Entry], done: Collection[str | None]) -> list[Entry]:
    """The entries to suggest for an alert or incident: of those matching its text (best
    first), the best not suggested for it before (`done`: their slugs)."""
    return [entry for entry in matches if entry.slug not in done][:MAX_SUGGESTIONS]


def suggestion(incident_id: int, entry: Entry, page_url: str | None) -> str:
    return say.suggestion(incident_id, entry.title, entry.summary,
                          page_suffix(page_url, entry.slug))


# --- #playbook TOPIC -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """Nothing to look up: just say `reply`."""

    reply: str


@dataclass(frozen=True, slots=True)
class Asked:
    entry: Entry
    alternatives: tuple[Entry, ...] = ()
    """Other entries that match as well."""


def find(topic: str, entries: Mapping[str, Entry], page_url: str | None) -> Asked | Answer:
    """The entry `topic` names (with the others that match as well), or the answer that
    none does."""
    found = lookup.find(entries.values(), topic)
    if found.entry is None:
        return Answer(say.no_match(topic, [e.slug for e in found.alternatives],
                                   index_suffix(page_url, entries)))
    return Asked(found.entry, found.alternatives)


@dataclass(frozen=True, slots=True)
class EntryAnswer:
    lines: list[str]
    """Said at once; the bugs' states follow the last one."""
    bugs: list[str]
    """The bugs whose states to show (URLs)."""
    after: list[str]
    """Said after the bugs' states."""


def entry_answer(entry: Entry, alternatives: Sequence[Entry], bugs: Sequence[str],
                 page_url: str | None) -> EntryAnswer:
    """`#playbook TOPIC` once the entry is known; `bugs`: its bugs (file, then chat)."""
    lines = [say.entry_head(entry.title, entry.summary)]
    url = say.page_url(page_url, entry.slug)
    if url:
        lines.append(say.entry_page(url))
    if not bugs:
        lines.append(say.no_bug_linked(entry.slug))
    after = []
    if len(bugs) > MAX_BUG_LINES:
        after.append(say.more_bugs(len(bugs) - MAX_BUG_LINES))
    if alternatives:
        after.append(say.also_matching([e.slug for e in alternatives]))
    return EntryAnswer(lines, list(bugs[:MAX_BUG_LINES]), after)


# --- #playbook link TOPIC URL --------------------------------------------------------------------


def link_target(topic: str, url: str, entries: Mapping[str, Entry], page_url: str | None
                ) -> Entry | Answer:
    """The entry a bug is to be linked to, or why nothing is linked."""
    entry = lookup.find(entries.values(), topic).entry
    if entry is None:
        return Answer(say.link_no_match(topic, index_suffix(page_url, entries)))
    if url in entry.bugs:
        return Answer(say.already_linked(url, entry.slug, in_file=True))
    return entry


def linked(url: str, entry: Entry, *, added: bool, untracked_host: str | None) -> str:
    """The answer once the link was stored (`added`: it was new); `untracked_host`: no
    tracker is configured for the bug's host."""
    if not added:
        return say.already_linked(url, entry.slug)
    return say.linked(url, entry.slug, entry.title, untracked_host)


# --- #playbook (the open incidents) --------------------------------------------------------------


def nothing_open(page_url: str | None, entries: Mapping[str, Entry]) -> str:
    return say.no_open_incident(index_suffix(page_url, entries))


def for_open_incidents(
    incidents: Sequence[tuple[int, str]],
    alert: tuple[int | None, str] | None,
    entries: Mapping[str, Entry],
    page_url: str | None,
) -> list[list[str]]:
    """`#playbook` alone: the entries matching each open incident (id, title), the alert's
    text counting for the incident it opened (`alert`: its incident id and text). One list
    of lines per message."""
    lines = []
    for incident_id, title in incidents:
        text = title
        if alert is not None and alert[0] == incident_id:
            text += " " + alert[1]
        matches = lookup.relevant(entries.values(), text)
        if matches:
            lines.append(say.incident_entries(
                incident_id, title, [(e.slug, e.title) for e in matches[:MATCHES_PER_INCIDENT]]))
    if not lines:
        return [[say.no_match_for_open([i for i, _ in incidents],
                                       index_suffix(page_url, entries))]]
    return [lines, [say.ask_topic()]]
