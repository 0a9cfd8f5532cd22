"""`#playbook`'s reply texts, from plain values: no database, no event loop."""

from __future__ import annotations

from commands import playbook_replies as say


def test_where_to_read_more() -> None:
    assert say.page_url("https://status.test", "dns") == "https://status.test/playbooks/dns"
    assert say.page_url(None, "dns") is None
    assert say.page_suffix("https://status.test/playbooks/dns", "dns") == (
        " https://status.test/playbooks/dns")
    assert say.page_suffix(None, "dns") == " (#playbook dns)"
    assert say.index_suffix("https://status.test", ["dns"]) == (
        " All entries: https://status.test/playbooks")
    assert say.index_suffix(None, []) == " There are no playbook entries."
    assert say.index_suffix(None, ["dns", "zuul"]) == " Entries: dns, zuul"


def test_long_listings_are_counted() -> None:
    slugs = [f"e{n}" for n in range(say.MAX_LISTED + 3)]
    assert say.listing(slugs) == ", ".join(slugs[:say.MAX_LISTED]) + " and 3 more"
    assert say.listing(slugs[:2]) == "e0, e1"


def test_entry_answers() -> None:
    assert say.suggestion(3, "DNS errors", "Flush\x02 caches", " (#playbook dns)") == (
        "Playbook for incident #3: DNS errors — Flush caches (#playbook dns)")
    assert say.no_match("kubernetes", [], " Entries: dns") == (
        "No playbook entry matches 'kubernetes'. Entries: dns")
    assert say.no_match("zul", ["zuul", "zuul-restarts"], "") == (
        "No playbook entry matches 'zul'. Did you mean: zuul, zuul-restarts?")
    assert say.entry_head("DNS errors", "Flush caches") == "DNS errors: Flush caches"
    assert say.entry_page("https://status.test/playbooks/dns") == (
        "Playbook: https://status.test/playbooks/dns")
    assert say.no_bug_linked("dns") == (
        "No bug is linked to this entry (link one with #playbook link dns BUG-URL).")
    assert say.bug_line("[open] #1 Broken\x03") == "[open] #1 Broken"
    assert say.more_bugs(4) == "… and 4 more bugs on the page."
    assert say.also_matching(["dns", "mirrors"]) == "Also matching: dns, mirrors"


def test_link_answers() -> None:
    url = "https://bugs.example/1"
    assert say.link_no_match("nope", " Entries: dns") == (
        "No playbook entry matches 'nope': a bug is linked to an existing entry. Entries: dns")
    assert say.already_linked(url, "dns", in_file=True) == (
        f"{url} is already linked to dns (in its file).")
    assert say.already_linked(url, "dns") == f"{url} is already linked to dns."
    assert say.linked(url, "dns", "DNS errors") == (
        f"Linked {url} to the playbook entry dns (DNS errors).")
    assert say.linked(url, "dns", "DNS errors", "bugs.example") == (
        f"Linked {url} to the playbook entry dns (DNS errors). No tracker is configured for "
        "bugs.example: its state will show as unknown (see playbooks.trackers).")


def test_open_incident_answers() -> None:
    assert say.no_open_incident(" Entries: dns") == (
        "No incident is open. Ask #playbook TOPIC for an entry. Entries: dns")
    assert say.incident_entries(2, "Zuul down", [("zuul", "Zuul restarts"), ("dns", "DNS")]) \
        == "Incident #2 Zuul down: zuul (Zuul restarts), dns (DNS)"
    assert say.no_match_for_open([1, 4], " Entries: dns") == (
        "No playbook entry matches the open incidents (#1, #4). Entries: dns")
    assert say.ask_topic() == "Ask #playbook TOPIC for an entry and its bugs."
