"""The playbooks' command rules with plain values: no database, no event loop."""

from __future__ import annotations

from bot.playbooks import rules
from bot.playbooks.entry import Entry

ZUUL = Entry("zuul-restarts", "Zuul scheduler restarts", "Do not recheck.",
             keywords=("zuul", "scheduler"), bugs=("https://github.com/o/r/issues/1",))
MIRRORS = Entry("mirrors", "Package mirror outage", "Use the fallback.",
                keywords=("mirror", "pypi"))
DNS = Entry("dns", "DNS resolution errors", "Flush caches.", keywords=("dns",))
ENTRIES = {e.slug: e for e in (ZUUL, MIRRORS, DNS)}
PAGE = "https://status.test"


def test_suggestions_skip_what_was_suggested_and_stop_at_two() -> None:
    assert rules.suggestions([ZUUL, MIRRORS, DNS], set()) == [ZUUL, MIRRORS]
    assert rules.suggestions([ZUUL, MIRRORS, DNS], {"zuul-restarts"}) == [MIRRORS, DNS]
    assert rules.suggestions([ZUUL], {"zuul-restarts"}) == []
    assert rules.suggestion(3, DNS, None) == (
        "Playbook for incident #3: DNS resolution errors — Flush caches. (#playbook dns)")
    assert rules.suggestion(3, DNS, PAGE) == (
        "Playbook for incident #3: DNS resolution errors — Flush caches. "
        "https://status.test/playbooks/dns")


def test_finding_the_entry_asked_for() -> None:
    asked = rules.find("zuul", ENTRIES, PAGE)
    assert asked == rules.Asked(ZUUL)
    assert rules.find("kubernetes", ENTRIES, PAGE) == rules.Answer(
        "No playbook entry matches 'kubernetes'. All entries: https://status.test/playbooks")
    assert rules.find("kubernetes", ENTRIES, None) == rules.Answer(
        "No playbook entry matches 'kubernetes'. Entries: zuul-restarts, mirrors, dns")
    assert rules.find("anything", {}, None) == rules.Answer(
        "No playbook entry matches 'anything'. There are no playbook entries.")


def test_the_entry_answer() -> None:
    answer = rules.entry_answer(ZUUL, (), list(ZUUL.bugs), PAGE)
    assert answer == rules.EntryAnswer(
        ["Zuul scheduler restarts: Do not recheck.",
         "Playbook: https://status.test/playbooks/zuul-restarts"],
        list(ZUUL.bugs), [])
    bugs = [f"https://bugs.example/{n}" for n in range(rules.MAX_BUG_LINES + 2)]
    many = rules.entry_answer(DNS, (MIRRORS,), bugs, None)
    assert many.lines == ["DNS resolution errors: Flush caches."]
    assert many.bugs == bugs[:rules.MAX_BUG_LINES]
    assert many.after == ["… and 2 more bugs on the page.", "Also matching: mirrors"]
    assert rules.entry_answer(DNS, (), [], None).lines == [
        "DNS resolution errors: Flush caches.",
        "No bug is linked to this entry (link one with #playbook link dns BUG-URL)."]


def test_linking_a_bug() -> None:
    url = "https://bugs.example/7"
    assert rules.link_target("dns", url, ENTRIES, PAGE) == DNS
    assert rules.link_target("zuul", ZUUL.bugs[0], ENTRIES, PAGE) == rules.Answer(
        f"{ZUUL.bugs[0]} is already linked to zuul-restarts (in its file).")
    assert rules.link_target("nope", url, ENTRIES, PAGE) == rules.Answer(
        "No playbook entry matches 'nope': a bug is linked to an existing entry. "
        "All entries: https://status.test/playbooks")
    assert rules.linked(url, DNS, added=False, untracked_host=None) == (
        f"{url} is already linked to dns.")
    assert rules.linked(url, DNS, added=True, untracked_host=None) == (
        f"Linked {url} to the playbook entry dns (DNS resolution errors).")
    assert rules.linked(url, DNS, added=True, untracked_host="bugs.example").endswith(
        "No tracker is configured for bugs.example: its state will show as unknown "
        "(see playbooks.trackers).")


def test_playbook_alone_answers_for_the_open_incidents() -> None:
    assert rules.nothing_open(PAGE, ENTRIES) == (
        "No incident is open. Ask #playbook TOPIC for an entry. "
        "All entries: https://status.test/playbooks")
    incidents = [(1, "Zuul is down"), (2, "Slow builds")]
    assert rules.for_open_incidents(incidents, None, ENTRIES, PAGE) == [
        ["Incident #1 Zuul is down: zuul-restarts (Zuul scheduler restarts)"],
        ["Ask #playbook TOPIC for an entry and its bugs."]]
    # The alert's text counts for the incident it opened.
    assert rules.for_open_incidents(incidents, (2, "pypi mirror errors"), ENTRIES, PAGE) == [
        ["Incident #1 Zuul is down: zuul-restarts (Zuul scheduler restarts)",
         "Incident #2 Slow builds: mirrors (Package mirror outage)"],
        ["Ask #playbook TOPIC for an entry and its bugs."]]
    assert rules.for_open_incidents([(2, "Slow builds")], (None, "pypi"), ENTRIES, None) == [
        ["No playbook entry matches the open incidents (#2). "
         "Entries: zuul-restarts, mirrors, dns"]]
