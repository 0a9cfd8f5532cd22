"""Paging's reply texts, from plain values: no database, no event loop."""

from __future__ import annotations

from datetime import UTC, datetime

from commands import paging_replies as say


def test_page_answers() -> None:
    assert say.automatic_page_text(1) == "automatic page for sev1"
    step = say.step_text(1, 2, ["pagerduty", "email"], "db down")
    assert step == "step 1 of 2 via pagerduty, email: db down"
    assert say.step_text(2, 2, [], None) == "step 2 of 2, no provider reaches them"
    assert say.paging("bob", 4, step) == (
        "Paging bob for incident #4 (step 1 of 2 via pagerduty, email: db down).")
    assert say.already_paging("bob", 4, 1, 2, datetime(2026, 11, 21, 9, 5, tzinfo=UTC)) == (
        "Already paging bob for incident #4 (step 1 of 2, since 09:05 UTC); #ack stops it.")
    assert say.resolved_nobody_to_page(4) == (
        "Incident #4 is resolved: there is nobody to page for it.")
    assert say.pages_resolved(4) == "Resolved the page(s) of incident #4."


def test_escalation_texts() -> None:
    late = say.not_acknowledged_reason(False, "5m")
    assert late == "did not acknowledge within 5m"
    assert say.not_acknowledged_reason(True, "5m") == "could not be reached"
    assert say.escalated("bob", late, 4, "carol", "step 2 of 2 via email") == (
        "bob did not acknowledge within 5m for incident #4: escalating to carol "
        "(step 2 of 2 via email).")
    assert say.escalated_entry("bob", late, "step 2 of 2 via email") == (
        "bob did not acknowledge within 5m; step 2 of 2 via email")
    assert say.unanswered(4, "carol", late, ["bob", "carol"]) == (
        "Nobody has acknowledged the page for incident #4: carol did not acknowledge within "
        "5m, and all 2 escalation managers have been paged (bob, carol). Any of them can "
        "still #ack 4.")


def test_failed_deliveries() -> None:
    assert say.delivery_failed("resolve", 4, "bob", "email", "550 no such user") == (
        "Could not send the resolution for incident #4 to bob via email: 550 no such user.")
    assert say.delivery_failed("acknowledge", 4, "bob", "pagerduty", "400") == (
        "Could not send the acknowledgement for incident #4 to bob via pagerduty: 400.")
    assert say.delivery_failed("trigger", 4, "bob", "pagerduty", "400", no_way_left=True) == (
        "Could not send the page for incident #4 to bob via pagerduty: 400"
        " — no way left to reach bob.")
    assert say.delivery_failed("trigger", 4, "bob", "pagerduty", "400", no_way_left=True,
                               escalating=True) == (
        "Could not send the page for incident #4 to bob via pagerduty: 400"
        " — no way left to reach bob: escalating now.")
    assert say.delivery_failed("other", 4, "bob", "chat", "gone") == (
        "Could not send the other for incident #4 to bob via chat: gone.")
    assert say.acknowledged_in_pagerduty("Bob Example", 4) == (
        "Bob Example acknowledged the page for incident #4 in PagerDuty: escalation stopped.")


def test_ack_answers() -> None:
    assert say.nobody_paged_for(4) == "Nobody is being paged for incident #4."
    assert say.nobody_paged() == "Nobody is being paged right now."
    assert say.several_paged([7, 3, 5]) == (
        "Pages are going on for several incidents (#3, #5, #7): say which one, e.g. #ack 3.")
    assert say.ack_refusal_reason(4) == "not paged for incident #4"
    assert say.ack_refusal_reason(4, "no account") == (
        "not paged for incident #4; account not verified: no account")
    assert say.ack_refused(4, ["bob", "carol", "bob"]) == (
        "you are not authorized to use #ack: you were not paged for incident #4 "
        "(paged: bob, carol); only they or an admin may acknowledge.")
    assert say.acknowledged("bob", 4) == (
        "Acknowledged: bob is on incident #4; escalation stopped.")


def test_on_call_answers() -> None:
    assert say.on_call("bob", rotation=False) == "On call now: bob (no rotation configured)."
    assert say.on_call("bob") == "On call now: bob."
    assert say.on_call("bob", override=True, until="Mon 09:00 CET", next_manager="carol",
                       next_from="Mon 10:00 CET", chain=["bob", "carol"]) == (
        "On call now: bob (override) until Mon 09:00 CET; next: carol from Mon 10:00 CET. "
        "Escalation order: bob → carol.")
    assert say.on_call("bob", next_manager="carol", rotation=False, chain=["bob"]) == (
        "On call now: bob; next: carol.")
    assert say.not_a_manager("zed", ["bob", "carol"]) == (
        "zed is not an escalation manager (paging.escalation_managers: bob, carol).")
    assert say.time_passed("Mon 09:00 CET") == (
        "Mon 09:00 CET has passed already: give a time to come.")
    assert say.override_set("carol", "Mon 09:00 CET", "bob") == (
        "carol is on call instead of bob until Mon 09:00 CET.")
    assert say.override_set("carol", "Mon 09:00 CET") == "carol is on call until Mon 09:00 CET."
