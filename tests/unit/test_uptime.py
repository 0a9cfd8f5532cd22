"""Uptime history: daily bars and weighted uptime from hand-built status changes (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.web.uptime import (
    DAYS,
    DEGRADED,
    MAINTENANCE,
    MAJOR,
    NO_DATA,
    OPERATIONAL,
    PARTIAL,
    IncidentSpan,
    StatusChange,
    bar_title,
    format_uptime,
    status_label,
    uptime_history,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
MIDNIGHT = datetime(2026, 11, 21, tzinfo=UTC)
WINDOW_START = MIDNIGHT - timedelta(days=DAYS - 1)
WINDOW_SECONDS = (NOW - WINDOW_START).total_seconds()


def at(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def change(moment: datetime, old: str, new: str, incident: int | None = None) -> StatusChange:
    return StatusChange(at=moment, old=old, new=new, incident_id=incident)


def bar_of(history, day: date):  # type: ignore[no-untyped-def]
    (found,) = [b for b in history.bars if b.day == day]
    return found


# --- the window ----------------------------------------------------------------------------


def test_ninety_bars_oldest_first_ending_today() -> None:
    history = uptime_history([], now=NOW)
    assert len(history.bars) == 90
    assert history.bars[0].day == TODAY - timedelta(days=89)
    assert history.bars[-1].day == TODAY
    assert [b.day for b in history.bars] == sorted(b.day for b in history.bars)


def test_no_history_is_all_operational_and_100_percent() -> None:
    history = uptime_history([], now=NOW)
    assert {b.status for b in history.bars} == {OPERATIONAL}
    assert history.uptime == 100.0
    assert format_uptime(history.uptime) == "100%"
    assert history.problem_days == ()
    assert all(b.incidents == () for b in history.bars)


def test_full_days_and_today_up_to_now() -> None:
    history = uptime_history([], now=NOW)
    assert history.bars[0].observed == 86400
    assert history.bars[-1].observed == 12 * 3600
    assert history.counted == pytest.approx(WINDOW_SECONDS)


def test_day_count_is_a_parameter() -> None:
    history = uptime_history([], now=NOW, days=7)
    assert [b.day for b in history.bars] == [TODAY - timedelta(days=n) for n in range(6, -1, -1)]
    with pytest.raises(ValueError):
        uptime_history([], now=NOW, days=0)


def test_no_change_but_down_now_means_down_the_whole_window() -> None:
    # A component whose last change is older than what was read: `current` holds throughout.
    history = uptime_history([], now=NOW, current=MAJOR)
    assert {b.status for b in history.bars} == {MAJOR}
    assert history.uptime == 0.0


def test_now_with_another_timezone_is_read_in_utc() -> None:
    # 01:30 at UTC+2 is 23:30 UTC the day before: that day is "today".
    local = datetime(2026, 11, 22, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    history = uptime_history([], now=local)
    assert history.bars[-1].day == date(2026, 11, 21)
    assert history.bars[-1].observed == 23.5 * 3600


def test_naive_datetimes_are_utc() -> None:
    # SQLite hands naive datetimes back.
    naive = change(at(TODAY, 10).replace(tzinfo=None), OPERATIONAL, MAJOR)
    history = uptime_history([naive], now=NOW)
    assert history.bars[-1].down == 2 * 3600


# --- statuses within a day ------------------------------------------------------------------


def test_worst_status_of_the_day_wins() -> None:
    day = TODAY - timedelta(days=3)
    history = uptime_history([
        change(at(day, 8), OPERATIONAL, DEGRADED),
        change(at(day, 9), DEGRADED, MAJOR),
        change(at(day, 9, 30), MAJOR, PARTIAL),
        change(at(day, 11), PARTIAL, OPERATIONAL),
    ], now=NOW)
    assert bar_of(history, day).status == MAJOR
    assert bar_of(history, day - timedelta(days=1)).status == OPERATIONAL
    assert bar_of(history, day + timedelta(days=1)).status == OPERATIONAL


def test_weights_major_whole_partial_half_degraded_none() -> None:
    day = TODAY - timedelta(days=2)
    history = uptime_history([
        change(at(day, 1), OPERATIONAL, MAJOR),        # 1 h down
        change(at(day, 2), MAJOR, PARTIAL),            # 2 h at half
        change(at(day, 4), PARTIAL, DEGRADED),         # 4 h slow: up
        change(at(day, 8), DEGRADED, OPERATIONAL),
    ], now=NOW)
    bar = bar_of(history, day)
    assert bar.down == 3600 + 2 * 3600 * 0.5
    assert bar.uptime == pytest.approx(100 * (1 - 2 / 24))
    assert history.down == 2 * 3600
    assert history.uptime == pytest.approx(100 * (1 - 2 * 3600 / WINDOW_SECONDS))


def test_degraded_alone_is_100_percent_but_shows_on_the_bar() -> None:
    day = TODAY - timedelta(days=1)
    history = uptime_history([change(at(day, 3), OPERATIONAL, DEGRADED),
                              change(at(day, 5), DEGRADED, OPERATIONAL)], now=NOW)
    assert bar_of(history, day).status == DEGRADED
    assert bar_of(history, day).uptime == 100.0
    assert history.uptime == 100.0
    assert [b.day for b in history.problem_days] == [day]


def test_maintenance_is_excluded_from_the_denominator() -> None:
    day = TODAY - timedelta(days=5)
    history = uptime_history([
        change(at(day, 0), OPERATIONAL, MAINTENANCE),   # 12 h maintenance
        change(at(day, 12), MAINTENANCE, MAJOR),        # 6 h down
        change(at(day, 18), MAJOR, OPERATIONAL),
    ], now=NOW)
    bar = bar_of(history, day)
    assert bar.status == MAJOR
    assert bar.maintenance == 12 * 3600
    assert bar.uptime == pytest.approx(50.0)  # 6 h down of the 12 h that count
    assert history.counted == pytest.approx(WINDOW_SECONDS - 12 * 3600)
    assert history.uptime == pytest.approx(100 * (1 - 6 * 3600 / (WINDOW_SECONDS - 12 * 3600)))


def test_a_day_of_maintenance_only_shows_maintenance_and_no_uptime() -> None:
    day = TODAY - timedelta(days=4)
    history = uptime_history([change(at(day), OPERATIONAL, MAINTENANCE),
                              change(at(day + timedelta(days=1)), MAINTENANCE, OPERATIONAL)],
                             now=NOW)
    bar = bar_of(history, day)
    assert bar.status == MAINTENANCE
    assert bar.uptime is None
    assert history.uptime == 100.0


def test_maintenance_the_whole_window_has_no_uptime() -> None:
    history = uptime_history([], now=NOW, current=MAINTENANCE)
    assert history.uptime is None
    assert format_uptime(history.uptime) == "no data"


def test_maintenance_ranks_below_any_problem_and_above_operational() -> None:
    day = TODAY - timedelta(days=6)
    history = uptime_history([
        change(at(day, 1), OPERATIONAL, MAINTENANCE),
        change(at(day, 2), MAINTENANCE, DEGRADED),
        change(at(day, 3), DEGRADED, OPERATIONAL),
        change(at(day, 1) + timedelta(days=1), OPERATIONAL, MAINTENANCE),
        change(at(day, 2) + timedelta(days=1), MAINTENANCE, OPERATIONAL),
    ], now=NOW)
    assert bar_of(history, day).status == DEGRADED
    assert bar_of(history, day + timedelta(days=1)).status == MAINTENANCE


def test_unsorted_changes_are_ordered_by_time() -> None:
    day = TODAY - timedelta(days=2)
    ordered = [change(at(day, 1), OPERATIONAL, MAJOR), change(at(day, 3), MAJOR, OPERATIONAL)]
    assert uptime_history(reversed(ordered), now=NOW) == uptime_history(ordered, now=NOW)


def test_a_blip_of_seconds_still_colours_the_day() -> None:
    start = at(TODAY - timedelta(days=1), 4)
    history = uptime_history([change(start, OPERATIONAL, MAJOR),
                              change(start + timedelta(seconds=30), MAJOR, OPERATIONAL)],
                             now=NOW)
    bar = history.bars[-2]
    assert bar.status == MAJOR
    assert bar.down == 30
    assert format_uptime(bar.uptime) == "99.96%"  # 99.9652…: rounded down


def test_a_change_and_its_undo_at_the_same_instant_leave_no_trace() -> None:
    moment = at(TODAY - timedelta(days=1), 4)
    history = uptime_history([change(moment, OPERATIONAL, MAJOR),
                              change(moment, MAJOR, OPERATIONAL)], now=NOW)
    assert history.bars[-2].status == OPERATIONAL
    assert history.uptime == 100.0


# --- day boundaries ----------------------------------------------------------------------------


def test_a_change_spanning_midnight_splits_between_the_two_days() -> None:
    day = TODAY - timedelta(days=10)
    history = uptime_history([change(at(day, 22), OPERATIONAL, MAJOR),
                              change(at(day + timedelta(days=1), 3), MAJOR, OPERATIONAL)],
                             now=NOW)
    before, after = bar_of(history, day), bar_of(history, day + timedelta(days=1))
    assert (before.status, before.down) == (MAJOR, 2 * 3600)
    assert (after.status, after.down) == (MAJOR, 3 * 3600)
    assert bar_of(history, day + timedelta(days=2)).status == OPERATIONAL


def test_an_outage_spanning_several_days_colours_each() -> None:
    day = TODAY - timedelta(days=20)
    history = uptime_history([change(at(day, 12), OPERATIONAL, PARTIAL),
                              change(at(day + timedelta(days=3), 6), PARTIAL, OPERATIONAL)],
                             now=NOW)
    statuses = [bar_of(history, day + timedelta(days=n)).status for n in range(-1, 5)]
    assert statuses == [OPERATIONAL, PARTIAL, PARTIAL, PARTIAL, PARTIAL, OPERATIONAL]
    assert bar_of(history, day + timedelta(days=1)).uptime == 50.0


def test_a_change_at_midnight_sharp_belongs_to_the_new_day_only() -> None:
    midnight = at(TODAY - timedelta(days=3))
    history = uptime_history([change(midnight - timedelta(hours=1), OPERATIONAL, MAJOR),
                              change(midnight, MAJOR, OPERATIONAL),
                              change(midnight + timedelta(days=1), OPERATIONAL, MAJOR),
                              change(midnight + timedelta(days=1, hours=1), MAJOR, OPERATIONAL)],
                             now=NOW)
    assert bar_of(history, midnight.date() - timedelta(days=1)).down == 3600
    assert bar_of(history, midnight.date()).status == OPERATIONAL
    assert bar_of(history, midnight.date() + timedelta(days=1)).down == 3600


def test_now_at_midnight_sharp_shows_today_with_the_current_status() -> None:
    history = uptime_history([change(MIDNIGHT - timedelta(hours=2), OPERATIONAL, MAJOR)],
                             now=MIDNIGHT)
    today = history.bars[-1]
    assert (today.day, today.observed, today.status) == (TODAY, 0, MAJOR)
    assert history.bars[-2].status == MAJOR


def test_the_bars_shift_at_midnight() -> None:
    old_day = TODAY - timedelta(days=89)
    changes = [change(at(old_day, 5), OPERATIONAL, MAJOR), change(at(old_day, 6), MAJOR,
                                                                 OPERATIONAL)]
    before = uptime_history(changes, now=MIDNIGHT + timedelta(hours=23, minutes=59))
    after = uptime_history(changes, now=MIDNIGHT + timedelta(days=1))
    assert before.bars[0].status == MAJOR
    assert before.uptime is not None and before.uptime < 100
    assert after.bars[0].day == old_day + timedelta(days=1)
    assert after.bars[-1].day == TODAY + timedelta(days=1)
    assert after.uptime == 100.0


# --- history before the window ----------------------------------------------------------------


def test_the_last_change_before_the_window_gives_its_starting_status() -> None:
    history = uptime_history([
        change(WINDOW_START - timedelta(days=30), OPERATIONAL, PARTIAL),
        change(WINDOW_START - timedelta(days=2), PARTIAL, MAJOR),
        change(WINDOW_START + timedelta(hours=6), MAJOR, OPERATIONAL),
    ], now=NOW)
    first = history.bars[0]
    assert first.status == MAJOR
    assert first.down == 6 * 3600
    assert history.bars[1].status == OPERATIONAL
    assert history.down == 6 * 3600


def test_without_earlier_changes_the_first_change_old_status_holds_from_the_start() -> None:
    history = uptime_history([change(WINDOW_START + timedelta(hours=6), PARTIAL, OPERATIONAL)],
                             now=NOW)
    assert history.bars[0].status == PARTIAL
    assert history.bars[0].down == 3 * 3600


def test_a_change_exactly_at_the_window_start_holds_from_it() -> None:
    history = uptime_history([change(WINDOW_START, OPERATIONAL, DEGRADED)], now=NOW)
    assert {b.status for b in history.bars} == {DEGRADED}


def test_an_ongoing_outage_counts_up_to_now() -> None:
    history = uptime_history([change(NOW - timedelta(hours=3), OPERATIONAL, MAJOR)], now=NOW)
    today = history.bars[-1]
    assert today.status == MAJOR
    assert today.down == 3 * 3600
    assert today.uptime == pytest.approx(75.0)  # 3 h of the 12 h so far
    later = uptime_history([change(NOW - timedelta(hours=3), OPERATIONAL, MAJOR)],
                           now=NOW + timedelta(hours=1))
    assert later.down == 4 * 3600


def test_changes_after_now_are_ignored() -> None:
    history = uptime_history([change(NOW + timedelta(minutes=5), OPERATIONAL, MAJOR)], now=NOW)
    assert history.bars[-1].status == OPERATIONAL
    assert history.uptime == 100.0


def test_days_before_since_are_no_data_and_do_not_count() -> None:
    since = at(TODAY - timedelta(days=9), 12)
    history = uptime_history([change(since + timedelta(hours=1), OPERATIONAL, MAJOR),
                              change(since + timedelta(hours=2), MAJOR, OPERATIONAL)],
                             now=NOW, since=since)
    statuses = [b.status for b in history.bars]
    assert statuses[:80] == [NO_DATA] * 80
    assert statuses[80] == MAJOR
    assert statuses[81:] == [OPERATIONAL] * 9
    assert history.bars[80].observed == 12 * 3600
    assert history.counted == pytest.approx((NOW - since).total_seconds())
    assert history.problem_days == (history.bars[80],)
    assert bar_title(history.bars[0]) == f"{history.bars[0].day.isoformat()} · No data"


def test_since_before_the_window_changes_nothing() -> None:
    changes = [change(WINDOW_START + timedelta(days=1), OPERATIONAL, MAJOR)]
    assert (uptime_history(changes, now=NOW, since=WINDOW_START - timedelta(days=400))
            == uptime_history(changes, now=NOW))


# --- incidents ---------------------------------------------------------------------------------


def test_incidents_are_listed_on_each_day_they_were_open() -> None:
    day = TODAY - timedelta(days=7)
    long = IncidentSpan(3, "gerrit down", at(day, 23), at(day + timedelta(days=2), 1))
    short = IncidentSpan(4, "slow clones", at(day, 9), at(day, 10))
    history = uptime_history([], [long, short], now=NOW)
    assert bar_of(history, day).incidents == (short, long)  # oldest first
    assert bar_of(history, day + timedelta(days=1)).incidents == (long,)
    assert bar_of(history, day + timedelta(days=2)).incidents == (long,)
    assert bar_of(history, day + timedelta(days=3)).incidents == ()
    assert bar_of(history, day - timedelta(days=1)).incidents == ()


def test_an_open_incident_is_on_every_day_up_to_today() -> None:
    start = at(TODAY - timedelta(days=2), 20)
    history = uptime_history([], [IncidentSpan(9, "still broken", start)], now=NOW)
    assert [len(b.incidents) for b in history.bars[-4:]] == [0, 1, 1, 1]


def test_an_incident_resolved_at_midnight_sharp_is_not_on_the_next_day() -> None:
    day = TODAY - timedelta(days=3)
    span = IncidentSpan(5, "x", at(day, 20), at(day + timedelta(days=1)))
    history = uptime_history([], [span], now=NOW)
    assert bar_of(history, day).incidents == (span,)
    assert bar_of(history, day + timedelta(days=1)).incidents == ()


def test_an_instant_incident_is_on_its_day() -> None:
    moment = at(TODAY - timedelta(days=3))
    span = IncidentSpan(6, "flap", moment, moment)
    history = uptime_history([], [span], now=NOW)
    assert bar_of(history, moment.date()).incidents == (span,)
    assert bar_of(history, moment.date() - timedelta(days=1)).incidents == ()


def test_incidents_before_the_window_are_not_listed() -> None:
    span = IncidentSpan(1, "old", WINDOW_START - timedelta(days=5),
                        WINDOW_START - timedelta(days=4))
    history = uptime_history([], [span], now=NOW)
    assert all(b.incidents == () for b in history.bars)


# --- text -----------------------------------------------------------------------------------------


def test_format_uptime_rounds_down() -> None:
    assert format_uptime(100.0) == "100%"
    assert format_uptime(99.999) == "99.99%"
    assert format_uptime(99.5) == "99.50%"
    assert format_uptime(0.0) == "0.00%"
    assert format_uptime(None) == "no data"


def test_status_labels() -> None:
    assert status_label(MAJOR) == "Major outage"
    assert status_label(MAINTENANCE) == "Under maintenance"
    assert status_label("something_new") == "Something new"


def test_bar_title_names_the_day_status_uptime_and_incidents() -> None:
    day = TODAY - timedelta(days=1)
    history = uptime_history(
        [change(at(day, 10), OPERATIONAL, MAJOR, 3), change(at(day, 11), MAJOR, OPERATIONAL, 3)],
        [IncidentSpan(3, "Gerrit\r\ndown  <b>", at(day, 10), at(day, 11))], now=NOW)
    assert bar_title(history.bars[-2]) == (
        f"{day.isoformat()} · Major outage · 95.83% uptime · #3 Gerrit down <b>")
    assert bar_title(history.bars[-3]) == (
        f"{(day - timedelta(days=1)).isoformat()} · Operational · 100% uptime")


def test_bar_title_caps_titles_and_the_number_of_incidents() -> None:
    day = TODAY - timedelta(days=1)
    spans = [IncidentSpan(n, "x" * 500, at(day, n), at(day, n + 1)) for n in range(1, 9)]
    title = bar_title(uptime_history([], spans, now=NOW).bars[-2])
    assert "#5 " in title and "#6 " not in title
    assert title.endswith("and 3 more")
    assert "x" * 80 not in title and "x" * 79 + "…" in title


def test_an_incident_open_since_before_the_window_is_on_every_day() -> None:
    span = IncidentSpan(2, "forever", WINDOW_START - timedelta(days=3))
    history = uptime_history([], [span], now=NOW)
    assert all(b.incidents == (span,) for b in history.bars)


def test_a_thousand_flaps_are_each_counted() -> None:
    day = TODAY - timedelta(days=1)
    changes = []
    for n in range(500):  # 500 one-minute outages, two minutes apart
        start = at(day) + timedelta(minutes=2 * n)
        changes += [change(start, OPERATIONAL, MAJOR), change(start + timedelta(minutes=1),
                                                              MAJOR, OPERATIONAL)]
    history = uptime_history(changes, now=NOW)
    assert history.bars[-2].down == 500 * 60
    assert history.down == 500 * 60
    assert history.bars[-3].status == history.bars[-1].status == OPERATIONAL
