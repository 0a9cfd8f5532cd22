"""Finding entries the way people ask: by slug, title or keyword, forgiving case, plurals
and small typos; and finding the entries an alert's text is about.

Pure functions over `Entry` values. Typos are judged with difflib's similarity ratio (stdlib;
for a few hundred short names it is fast enough and needs no dependency).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.playbooks.entry import Entry

TYPO_RATIO = 0.8
"""Similarity from which a name is taken for the one asked (`zuul restrat` ~ `zuul restart`)."""

HINT_RATIO = 0.6
"""Similarity from which a name is offered as `did you mean`."""

MIN_FUZZY_LENGTH = 4
"""Shorter topics must match exactly: `ci` is not a typo of `dns`."""

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> tuple[str, ...]:
    """Lower-case word stems: `Gate Failures` and `gate failure` give the same words."""
    return tuple(stem(w) for w in _WORD.findall(text.casefold()))


def stem(word: str) -> str:
    """A word without its English plural ending and final e (`caches`, `cache` → `cach`):
    not a dictionary form, but singular and plural always meet."""
    if len(word) <= 3 or word.endswith(("ss", "us")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es"):
        word = word[:-2]
    elif word.endswith("s"):
        word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def phrase(text: str) -> str:
    return " ".join(words(text))


@dataclass(frozen=True, slots=True)
class Found:
    entry: Entry | None
    """The entry asked for, or None."""
    alternatives: tuple[Entry, ...] = ()
    """Other entries that match as well (an ambiguous keyword) or, with no entry, the
    closest names (`did you mean`)."""


def _names(entry: Entry) -> list[tuple[str, int]]:
    """The entry's names as phrases, with a rank: slug 0, title 1, keyword 2."""
    names = [(phrase(entry.slug), 0), (phrase(entry.title), 1)]
    names += [(phrase(keyword), 2) for keyword in entry.keywords]
    return [(name, rank) for name, rank in names if name]


def find(entries: Iterable[Entry], topic: str) -> Found:
    """The entry `topic` names: exact names first (slug, then title, then keyword), then a
    name with a small typo, then a name containing every word of the topic."""
    asked = phrase(topic)
    pool = list(entries)
    if not asked or not pool:
        return Found(None)

    exact = sorted(
        ((rank, entry.slug, entry) for entry in pool for name, rank in _names(entry)
         if name == asked),
        key=lambda item: item[:2],
    )
    if exact:
        return _pick([entry for _, _, entry in exact])

    scored = sorted(
        ((max(difflib.SequenceMatcher(None, asked, name).ratio() for name, _ in _names(e)),
          e) for e in pool),
        key=lambda item: (-item[0], item[1].slug),
    )
    if len(asked) >= MIN_FUZZY_LENGTH:
        close = [entry for ratio, entry in scored if ratio >= TYPO_RATIO]
        if close:
            return _pick(close)

    wanted = asked.split()
    containing = [entry for entry in pool
                  if any(_contains(name.split(), wanted) for name, _ in _names(entry))]
    if containing:
        return _pick(sorted(containing, key=lambda e: e.slug))
    hints = tuple(entry for ratio, entry in scored if ratio >= HINT_RATIO)[:3]
    return Found(None, hints)


def _contains(name: Sequence[str], wanted: Sequence[str]) -> bool:
    """Every word asked is in the name, exactly or (long enough) with a small typo."""
    return all(
        word in name or (len(word) >= MIN_FUZZY_LENGTH and any(
            difflib.SequenceMatcher(None, word, other).ratio() >= TYPO_RATIO
            for other in name))
        for word in wanted
    )


def _pick(candidates: Sequence[Entry]) -> Found:
    unique = list(dict.fromkeys(candidates))
    return Found(unique[0], tuple(unique[1:]))


def relevant(entries: Iterable[Entry], text: str) -> list[Entry]:
    """Entries with a keyword in `text` (a keyword of several words must appear as a
    phrase), most keywords matched first."""
    said = f" {phrase(text)} "
    if not said.strip():
        return []
    scored = []
    for entry in entries:
        hits = sum(1 for keyword in entry.keywords
                   if (p := phrase(keyword)) and f" {p} " in said)
        if hits:
            scored.append((-hits, entry.slug, entry))
    return [entry for *_, entry in sorted(scored, key=lambda item: item[:2])]
