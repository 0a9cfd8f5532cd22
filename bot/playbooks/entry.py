"""One playbook entry: a Markdown file with YAML front matter, parsed without I/O.

```
---
title: Zuul restarts
keywords: [zuul, scheduler, restart]
bugs: [https://bugs.launchpad.net/zuul/+bug/123456]
owner: infra-core
updated: 2026-11-01
---
While the scheduler restarts, changes are re-enqueued...
```
The slug is the file name without `.md`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import yaml

KNOWN_KEYS = frozenset({"title", "keywords", "bugs", "owner", "updated", "summary"})
MAX_SUMMARY = 300

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f<>\"]+", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`]|!?\[([^\]]*)\]\([^)]*\)")


class EntryError(ValueError):
    """The file is not a usable entry; the message says why (one line)."""


@dataclass(frozen=True, slots=True)
class Entry:
    slug: str
    title: str
    summary: str
    """One line: `summary:` from the front matter, else the body's first paragraph."""
    keywords: tuple[str, ...] = ()
    bugs: tuple[str, ...] = ()
    """Bug URLs from the file, in its order (links added from chat live in the database)."""
    owner: str | None = None
    updated: date | None = None
    body: str = ""
    """The Markdown after the front matter."""
    warnings: tuple[str, ...] = ()
    """What is odd but not fatal (unknown keys): reported by `check`, the entry still loads."""


def is_slug(text: str) -> bool:
    return _SLUG.fullmatch(text) is not None


def parse_entry(slug: str, text: str) -> Entry:
    """Parse one file's text; raises `EntryError`."""
    if not is_slug(slug):
        raise EntryError(f"file name {slug!r} is not a slug (use a-z, 0-9, - and _)")
    front, body = _split(text)
    try:
        meta = yaml.safe_load(front)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise EntryError(f"front matter is not valid YAML{where}") from None
    if not isinstance(meta, dict):
        raise EntryError("front matter must be a mapping (title: ..., keywords: [...], ...)")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise EntryError("title: required (a non-empty string)")
    keywords = _strings(meta.get("keywords"), "keywords")
    bugs = _strings(meta.get("bugs"), "bugs")
    for url in bugs:
        if not _URL.fullmatch(url):
            raise EntryError(f"bugs: {url!r} is not an http(s) URL")
    owner = meta.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise EntryError("owner: must be a string")
    updated = meta.get("updated")
    if isinstance(updated, datetime):
        updated = updated.date()
    elif isinstance(updated, str):
        try:
            updated = date.fromisoformat(updated.strip())
        except ValueError:
            raise EntryError("updated: must be a date (YYYY-MM-DD)") from None
    elif updated is not None and not isinstance(updated, date):
        raise EntryError("updated: must be a date (YYYY-MM-DD)")
    summary = meta.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise EntryError("summary: must be a string")
    unknown = sorted(str(k) for k in meta if k not in KNOWN_KEYS)
    warnings = tuple(f"unknown key {key!r} in the front matter (known: "
                     f"{', '.join(sorted(KNOWN_KEYS))})" for key in unknown)
    return Entry(
        slug=slug,
        title=" ".join(title.split()),
        summary=_one_line(summary) if summary else _first_paragraph(body),
        keywords=tuple(dict.fromkeys(" ".join(k.split()) for k in keywords if k.strip())),
        bugs=tuple(dict.fromkeys(bugs)),
        owner=owner.strip() or None if owner else None,
        updated=updated,
        body=body,
        warnings=warnings,
    )


def _split(text: str) -> tuple[str, str]:
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise EntryError("no front matter: the file must start with a line '---'")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1:]).strip("\n") + "\n"
    raise EntryError("front matter is not closed by a line '---'")


def _strings(value: object, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v).strip() for v in value]
    raise EntryError(f"{key}: must be a list of strings")


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - 1].rstrip() + "…"


def _first_paragraph(body: str) -> str:
    """The first paragraph of prose, without Markdown markup: the entry's chat summary."""
    paragraph: list[str] = []
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            if paragraph:
                break
            continue
        if line.startswith(("#", "```", "~~~", "<", "|", "---")) and not paragraph:
            continue
        paragraph.append(line.lstrip("->*+ ").strip() if line[:2] in ("- ", "* ", "> ")
                         else line)
    text = _MARKUP.sub(lambda m: m.group(1) or "", " ".join(paragraph))
    return _one_line(text)
