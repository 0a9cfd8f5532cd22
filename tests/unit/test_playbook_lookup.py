"""Forgiving lookup and front matter parsing: pure, no I/O."""

from __future__ import annotations

from datetime import date

import pytest

from bot.playbooks.entry import Entry, EntryError, parse_entry
from bot.playbooks.lookup import find, relevant, stem, words

ZUUL = Entry("zuul-restarts", "Zuul scheduler restarts", "Re-enqueue changes after a restart.",
             keywords=("zuul", "scheduler", "restart"))
GATE = Entry("gate-failures", "Gate failures", "Recheck once, then look at the logs.",
             keywords=("gate", "job failure", "recheck"))
DNS = Entry("dns", "DNS resolution errors", "Flush the resolver caches.",
            keywords=("dns", "resolver", "nxdomain"))
MIRROR = Entry("mirrors", "Package mirror outage", "Switch to the fallback mirror.",
               keywords=("mirror", "pypi", "apt"))
ENTRIES = (ZUUL, GATE, DNS, MIRROR)


@pytest.mark.parametrize(("singular", "plural"), [
    ("failure", "failures"), ("mirror", "mirrors"), ("query", "queries"),
    ("cache", "caches"), ("box", "boxes"), ("match", "matches"), ("process", "processes"),
    ("restart", "restarts"), ("status", "statuses"),
])
def test_singular_and_plural_meet(singular: str, plural: str) -> None:
    assert stem(singular) == stem(plural)


def test_short_words_are_left_alone() -> None:
    assert [stem(w) for w in ("dns", "gas", "ci", "status")] == ["dns", "gas", "ci", "status"]


@pytest.mark.parametrize(("topic", "slug"), [
    ("zuul-restarts", "zuul-restarts"),      # the slug
    ("ZUUL-RESTARTS", "zuul-restarts"),      # case
    ("Gate failures", "gate-failures"),      # the title
    ("gate failure", "gate-failures"),       # singular of the title
    ("gate", "gate-failures"),               # a keyword
    ("recheck", "gate-failures"),
    ("Job Failures", "gate-failures"),       # a keyword, plural
    ("mirror", "mirrors"),                   # singular of the slug
    ("resolvers", "dns"),                    # plural of a keyword
    ("zuul restrats", "zuul-restarts"),      # a typo
    ("gate failrues", "gate-failures"),
    ("mirorrs", "mirrors"),
    ("scheduler", "zuul-restarts"),
    ("package mirror", "mirrors"),           # words of the title
    ("scheduler restrats", "zuul-restarts"),  # words of the title, one with a typo
    ("schedular restart", "zuul-restarts"),
])
def test_find_forgives_case_plurals_and_typos(topic: str, slug: str) -> None:
    found = find(ENTRIES, topic)
    assert found.entry is not None and found.entry.slug == slug


def test_find_misses_what_is_not_there_and_hints() -> None:
    assert find(ENTRIES, "kubernetes").entry is None
    assert find(ENTRIES, "").entry is None
    assert find((), "dns").entry is None
    # Too short to be a typo of anything.
    assert find(ENTRIES, "dn").entry is None
    hinted = find(ENTRIES, "mirrorz outagge disaster")
    assert hinted.entry is None


def test_find_prefers_slug_then_title_then_keyword() -> None:
    other = Entry("zuul", "Zuul web UI", "…", keywords=("web",))
    found = find((ZUUL, other), "zuul")
    assert found.entry == other  # slug beats ZUUL's keyword
    assert found.alternatives == (ZUUL,)


def test_relevant_matches_keywords_in_text() -> None:
    assert relevant(ENTRIES, "Zuul scheduler is restarting, expect delays") == [ZUUL]
    assert relevant(ENTRIES, "NXDOMAIN for opendev.org from the resolvers") == [DNS]
    # A keyword of several words matches as a phrase only.
    assert relevant(ENTRIES, "One job failure after another") == [GATE]
    assert relevant(ENTRIES, "the failure of a job") == []
    assert relevant(ENTRIES, "Gate is stuck; pypi mirror is down") == [GATE, MIRROR] or \
        relevant(ENTRIES, "Gate is stuck; pypi mirror is down") == [MIRROR, GATE]
    # Most keywords matched first.
    assert relevant(ENTRIES, "apt and pypi mirrors down, gate red")[0] == MIRROR
    assert relevant(ENTRIES, "all good") == []


def test_words_ignore_punctuation() -> None:
    assert words("Zuul's gate-failures!") == words("zuul s GATE failure")


def test_parse_entry_reads_front_matter_and_summary() -> None:
    entry = parse_entry("zuul-restarts", (
        "---\n"
        "title: Zuul   restarts\n"
        "keywords: [zuul, scheduler, Restarts]\n"
        "bugs:\n  - https://bugs.launchpad.net/zuul/+bug/123\n"
        "  - https://github.com/acme/zuul/issues/9\n"
        "owner: infra-core\n"
        "updated: 2026-11-01\n"
        "---\n"
        "# Zuul restarts\n\n"
        "While the **scheduler** restarts, changes are [re-enqueued](https://x.example).\n"
        "Nothing is lost.\n\n"
        "## Steps\n\n1. Wait.\n"
    ))
    assert entry.title == "Zuul restarts"
    assert entry.keywords == ("zuul", "scheduler", "Restarts")
    assert entry.bugs == ("https://bugs.launchpad.net/zuul/+bug/123",
                          "https://github.com/acme/zuul/issues/9")
    assert entry.owner == "infra-core"
    assert entry.updated == date(2026, 11, 1)
    assert entry.summary == ("While the scheduler restarts, changes are re-enqueued. "
                             "Nothing is lost.")
    assert entry.body.startswith("# Zuul restarts")
    assert entry.warnings == ()


def test_parse_entry_keywords_as_text_and_summary_key_and_warnings() -> None:
    entry = parse_entry("dns", "---\ntitle: DNS\nkeywords: dns, resolver\nsummary: Flush.\n"
                        "bug: https://example.org/1\n---\nBody.\n")
    assert entry.keywords == ("dns", "resolver")
    assert entry.summary == "Flush."
    assert entry.bugs == ()
    assert len(entry.warnings) == 1 and "'bug'" in entry.warnings[0]


@pytest.mark.parametrize(("slug", "text", "message"), [
    ("ok", "no front matter\n", "no front matter"),
    ("ok", "---\ntitle: x\n", "not closed"),
    ("ok", "---\ntitle: [x\n---\n", "not valid YAML at line"),
    ("ok", "---\n- a list\n---\n", "must be a mapping"),
    ("ok", "---\nkeywords: [a]\n---\n", "title: required"),
    ("ok", "---\ntitle: x\nbugs: [javascript:alert(1)]\n---\n", r"not an http\(s\) URL"),
    ("ok", "---\ntitle: x\nbugs: {a: 1}\n---\n", "bugs: must be a list"),
    ("ok", "---\ntitle: x\nupdated: soon\n---\n", "updated: must be a date"),
    ("Bad Name", "---\ntitle: x\n---\n", "not a slug"),
])
def test_parse_entry_errors_say_what_is_wrong(slug: str, text: str, message: str) -> None:
    with pytest.raises(EntryError, match=message):
        parse_entry(slug, text)
