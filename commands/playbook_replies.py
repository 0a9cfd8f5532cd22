"""What `#playbook` and playbook suggestions say, built from plain values (slugs, titles,
URLs), no I/O. Text from playbook files and trackers is cleaned for chat here."""

from __future__ import annotations

from collections.abc import Sequence

from commands.text import clean_text

MAX_LISTED = 12
"""Entry names listed in one answer at most (the rest are counted)."""


def page_url(base: str | None, slug: str) -> str | None:
    """The entry's page on the status page (None: no status page URL configured)."""
    return f"{base}/playbooks/{slug}" if base else None


def page_suffix(url: str | None, slug: str) -> str:
    """Where to read more of an entry, appended to a line."""
    return f" {url}" if url else f" (#playbook {slug})"


def listing(slugs: Sequence[str]) -> str:
    shown = ", ".join(slugs[:MAX_LISTED])
    return shown + (f" and {len(slugs) - MAX_LISTED} more" if len(slugs) > MAX_LISTED else "")


def index_suffix(base: str | None, slugs: Sequence[str]) -> str:
    """Where all entries are, appended to an answer that found none."""
    if base:
        return f" All entries: {base}/playbooks"
    if not slugs:
        return " There are no playbook entries."
    return " Entries: " + listing(slugs)


def suggestion(incident_id: int, title: str, summary: str, suffix: str) -> str:
    return clean_text(f"Playbook for incident #{incident_id}: {title} — {summary}") + suffix


def no_match(topic: str, alternatives: Sequence[str], suffix: str) -> str:
    hint = " Did you mean: " + ", ".join(alternatives) + "?" if alternatives else ""
    return clean_text(f"No playbook entry matches {topic!r}.{hint}") + suffix


def entry_head(title: str, summary: str) -> str:
    return clean_text(f"{title}: {summary}")


def entry_page(url: str) -> str:
    return f"Playbook: {url}"


def no_bug_linked(slug: str) -> str:
    return f"No bug is linked to this entry (link one with #playbook link {slug} BUG-URL)."


def bug_line(line: str) -> str:
    """A bug's state as its tracker told it (untrusted text)."""
    return clean_text(line)


def more_bugs(count: int) -> str:
    return f"… and {count} more bugs on the page."


def also_matching(slugs: Sequence[str]) -> str:
    return "Also matching: " + ", ".join(slugs)


def link_no_match(topic: str, suffix: str) -> str:
    return clean_text(f"No playbook entry matches {topic!r}: a bug is linked to an "
                      "existing entry.") + suffix


def already_linked(url: str, slug: str, *, in_file: bool = False) -> str:
    return f"{url} is already linked to {slug}" + (" (in its file)." if in_file else ".")


def linked(url: str, slug: str, title: str, untracked_host: str | None = None) -> str:
    """`untracked_host`: no tracker is configured for the bug's host (None: one is)."""
    line = f"Linked {url} to the playbook entry {slug} ({clean_text(title)})."
    if untracked_host is not None:
        line += (f" No tracker is configured for {untracked_host}: its state will show as "
                 "unknown (see playbooks.trackers).")
    return line


def no_open_incident(suffix: str) -> str:
    return "No incident is open. Ask #playbook TOPIC for an entry." + suffix


def incident_entries(incident_id: int, title: str,
                     entries: Sequence[tuple[str, str]]) -> str:
    """An open incident and the entries (slug, title) matching it."""
    names = ", ".join(f"{slug} ({entry_title})" for slug, entry_title in entries)
    return clean_text(f"Incident #{incident_id} {title}: {names}")


def no_match_for_open(incident_ids: Sequence[int], suffix: str) -> str:
    ids = ", ".join(f"#{i}" for i in incident_ids)
    return f"No playbook entry matches the open incidents ({ids})." + suffix


def ask_topic() -> str:
    return "Ask #playbook TOPIC for an entry and its bugs."
