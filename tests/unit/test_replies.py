"""Reply texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.replies import (
    MAX_LISTED,
    AlertView,
    IncidentView,
    ago,
    incident_list,
    now_answer,
    posted_while_away,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def incident(n: int) -> IncidentView:
    return IncidentView(id=n, title=f"Outage {n}", severity=3, state="investigating",
                        lead=None, manager=None, opened_at=NOW)


def test_ago() -> None:
    assert ago(NOW - timedelta(seconds=30), NOW) == "just now"
    assert ago(NOW - timedelta(minutes=5), NOW) == "5m ago"
    assert ago(NOW - timedelta(hours=3), NOW) == "3h ago"
    assert ago(NOW - timedelta(days=2, hours=1), NOW) == "2d ago"


def test_long_lists_are_capped_with_a_pointer_to_the_page() -> None:
    lines = incident_list([incident(n) for n in range(1, 21)], NOW, "https://status.test")
    assert lines[0] == "20 open incidents:"
    assert len(lines) == 1 + MAX_LISTED + 1
    assert lines[-1] == f"…and {20 - MAX_LISTED} more, all on the status page: https://status.test"


def test_now_answer_puts_the_alert_first() -> None:
    alert = AlertView("Gate is broken", "alice", NOW - timedelta(minutes=2))
    lines = now_answer(alert, [incident(4)], NOW, "https://status.test")
    assert lines == [
        "ALERT: Gate is broken (set by alice, 2m ago)",
        "#4 [sev3 investigating] Outage 4",
        "Status page: https://status.test",
    ]


def test_latest_update_is_not_repeated_when_it_is_the_title() -> None:
    view = IncidentView(id=1, title="Gate is broken", severity=2, state="investigating",
                        lead="bob", manager=None, opened_at=NOW, latest="Gate is broken",
                        latest_at=NOW)
    assert incident_list([view], NOW)[1] == "#1 [sev2 investigating] Gate is broken (lead bob)"


def test_an_answer_read_late_says_when_the_command_was_posted() -> None:
    assert posted_while_away("Notice sent.", datetime(2026, 11, 21, 9, 5, 59, tzinfo=UTC)) == (
        "Notice sent. (posted 2026-11-21 09:05 UTC while I was away; handled now)")
