"""Scheduled maintenance without I/O: times in a zone (DST included), checking a window,
operator steps, timers due, and the words a window reads with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.maintenance import rules
from bot.maintenance.rules import Plan, Refused, Timer, WindowMarks
from commands import maintenance_replies as say
from commands.auth import required_role
from commands.grammar import parse
from commands.model import (
    MaintenanceAct,
    MaintenanceList,
    MaintenanceSchedule,
    MaintenanceStep,
    ParseError,
    Role,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def schedule(start: datetime, duration: timedelta = timedelta(hours=1),
             components: tuple[str, ...] = ()) -> MaintenanceSchedule:
    return MaintenanceSchedule(start, duration, "Gerrit upgrade", components)


# --- time in a zone ------------------------------------------------------------------------------


def test_wall_clock_in_a_zone() -> None:
    assert rules.wall_clock_in(datetime(2026, 12, 6, 10, 0), BERLIN) == \
        datetime(2026, 12, 6, 9, 0, tzinfo=UTC)  # CET = UTC+1
    assert rules.wall_clock_in(datetime(2026, 7, 6, 10, 0), BERLIN) == \
        datetime(2026, 7, 6, 8, 0, tzinfo=UTC)  # CEST = UTC+2
    assert rules.wall_clock_in(datetime(2026, 12, 6, 10, 0), ZoneInfo("UTC")) == \
        datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_a_time_the_clocks_skip_does_not_exist() -> None:
    # 2026-03-29: Berlin goes from 02:00 straight to 03:00.
    assert rules.wall_clock_in(datetime(2026, 3, 29, 2, 30), BERLIN) is None
    decided = rules.plan(schedule(datetime(2026, 3, 29, 2, 30)), BERLIN,
                         datetime(2026, 3, 1, tzinfo=UTC), None)
    assert decided == Refused("2026-03-29 02:30 does not exist in Europe/Berlin (the clocks "
                              "skip it): pick another time")


def test_a_time_that_happens_twice_is_its_first_occurrence() -> None:
    # 2026-10-25: Berlin's 02:30 comes first in CEST (00:30 UTC), then in CET (01:30 UTC).
    assert rules.wall_clock_in(datetime(2026, 10, 25, 2, 30), BERLIN) == \
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_a_window_across_the_dst_change_lasts_its_duration() -> None:
    decided = rules.plan(schedule(datetime(2026, 10, 25, 1, 0), timedelta(hours=3)), BERLIN,
                         datetime(2026, 10, 1, tzinfo=UTC), None)
    assert isinstance(decided, Plan)
    assert decided.ends_at - decided.starts_at == timedelta(hours=3)
    # The wall clock says 03:00 at the end: 3 h of real time, one of them repeated.
    assert rules.local(decided.ends_at, BERLIN).strftime("%H:%M") == "03:00"


# --- checking a window ---------------------------------------------------------------------------


def test_plan_in_the_configured_zone() -> None:
    decided = rules.plan(schedule(datetime(2026, 12, 6, 11, 0), timedelta(hours=2)), BERLIN,
                         NOW, None)
    assert decided == Plan(datetime(2026, 12, 6, 10, 0, tzinfo=UTC),
                           datetime(2026, 12, 6, 12, 0, tzinfo=UTC), ())


def test_a_start_in_the_past_is_refused() -> None:
    decided = rules.plan(schedule(datetime(2026, 12, 6, 9, 0)), ZoneInfo("UTC"), NOW, None)
    assert decided == Refused("2026-12-06 09:00 UTC has passed already: a maintenance window "
                              "starts in the future")
    # 10:00 in Berlin is 09:00 UTC: now, so not in the future either.
    assert isinstance(rules.plan(schedule(datetime(2026, 12, 6, 10, 0)), BERLIN, NOW, None),
                      Refused)


def test_components_are_checked_against_the_configured_ones() -> None:
    known = rules.known_components([("gerrit", "Gerrit"), ("code-review", "Code review")])
    decided = rules.plan(schedule(datetime(2026, 12, 6, 12, 0),
                                  components=("GERRIT", "Code-Review", "gerrit")),
                         ZoneInfo("UTC"), NOW, known)
    assert isinstance(decided, Plan)
    assert decided.components == ("gerrit", "code-review")
    refused = rules.plan(schedule(datetime(2026, 12, 6, 12, 0), components=("jenkins",)),
                         ZoneInfo("UTC"), NOW, known)
    assert refused == Refused("unknown component(s) jenkins (components: code-review, gerrit)")


def test_without_configured_components_the_names_are_kept_as_ids() -> None:
    decided = rules.plan(schedule(datetime(2026, 12, 6, 12, 0), components=("Gerrit", "zuul")),
                         ZoneInfo("UTC"), NOW, None)
    assert isinstance(decided, Plan) and decided.components == ("gerrit", "zuul")


def test_slug() -> None:
    assert rules.slug("Code review") == "code-review"
    assert rules.slug("  Zuul (CI)! ") == "zuul-ci"


@pytest.mark.parametrize(("text", "reason"), [
    ("#maintenance schedule 2026-12-06 10:00 0m x", "DURATION"),
    ("#maintenance schedule 2026-12-06 10:00 -1h x", "DURATION"),
    ("#maintenance schedule 2026-12-06 10:00 31d x", "DURATION"),
    ("#maintenance schedule 2026-12-06 10:00 2 hours x", "DURATION"),
    ("#maintenance schedule 2026-12-06 25:00 1h x", "start"),
    ("#maintenance schedule 06.12.2026 10:00 1h x", "start"),
    ("#maintenance schedule 2026-02-30 10:00 1h x", "no date"),
    ("#maintenance schedule 2026-12-06 10:00 1h on", None),
    ("#maintenance schedule 2026-12-06 10:00 1h on gerrit", None),
    ("#maintenance schedule 2026-12-06 10:00 1h", None),
    ("#maintenance 3 finish", None),
    ("#maintenance x start", None),
    ("#maintenance list all", None),
])
def test_malformed_maintenance_commands_get_the_usage(text: str, reason: str | None) -> None:
    parsed = parse(text)
    assert isinstance(parsed, ParseError)
    assert parsed.command.startswith("#maintenance")
    if reason is not None:
        assert parsed.reason is not None and reason in parsed.reason


def test_grammar() -> None:
    assert parse("#Maintenance SCHEDULE 2026-12-06 10:00 1h30m On gerrit,zuul Gerrit and Zuul"
                 ) == MaintenanceSchedule(datetime(2026, 12, 6, 10, 0),
                                          timedelta(hours=1, minutes=30), "Gerrit and Zuul",
                                          ("gerrit", "zuul"))
    assert parse("#maintenance #4 complete done, thanks") == \
        MaintenanceAct(4, MaintenanceStep.COMPLETE, "done, thanks")
    assert parse("statusdesk: #maintenance list") == MaintenanceList()


def test_who_may() -> None:
    start = MaintenanceSchedule(datetime(2026, 12, 6, 10, 0), timedelta(hours=1), "x")
    assert required_role(start) is Role.STATUS
    for step in MaintenanceStep:
        assert required_role(MaintenanceAct(1, step)) is Role.STATUS
    assert required_role(MaintenanceList()) is None


# --- operator steps ------------------------------------------------------------------------------


def test_steps_follow_the_phases() -> None:
    assert rules.step_refusal(3, MaintenanceStep.START, "scheduled") is None
    assert rules.step_refusal(3, MaintenanceStep.CANCEL, "scheduled") is None
    assert rules.step_refusal(3, MaintenanceStep.COMPLETE, "in_progress") is None
    assert rules.step_refusal(3, MaintenanceStep.START, "in_progress") == \
        "Cannot start maintenance #3: it is in progress already."
    assert rules.step_refusal(3, MaintenanceStep.COMPLETE, "scheduled") == (
        "Cannot complete maintenance #3: it has not started: #maintenance 3 start or "
        "#maintenance 3 cancel.")
    assert rules.step_refusal(3, MaintenanceStep.CANCEL, "completed") == \
        "Cannot cancel maintenance #3: it is completed."


# --- timers --------------------------------------------------------------------------------------

START = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
HOUR = timedelta(hours=1)


def window(phase: str = "scheduled", heads_up_at: datetime | None = None,
           end_asked_at: datetime | None = None) -> WindowMarks:
    return WindowMarks(phase, START, END, heads_up_at, end_asked_at)


def test_timers_in_order() -> None:
    assert rules.timers_due(window(), START - timedelta(hours=2), HOUR) == []
    assert rules.timers_due(window(), START - HOUR, HOUR) == [Timer.HEADS_UP]
    assert rules.timers_due(window(heads_up_at=START - HOUR), START - timedelta(minutes=1),
                            HOUR) == []
    assert rules.timers_due(window(heads_up_at=START - HOUR), START, HOUR) == [Timer.START]
    assert rules.timers_due(window("in_progress", START - HOUR), END - timedelta(seconds=1),
                            HOUR) == []
    assert rules.timers_due(window("in_progress", START - HOUR), END, HOUR) == [Timer.ASK_END]
    assert rules.timers_due(window("in_progress", START - HOUR, END), END + HOUR, HOUR) == []
    assert rules.timers_due(window("completed"), END + HOUR, HOUR) == []
    assert rules.timers_due(window(), START - timedelta(minutes=5), None) == []


def test_after_downtime_a_missed_heads_up_is_not_sent_but_the_start_and_end_are() -> None:
    assert rules.timers_due(window(), START + timedelta(minutes=5), HOUR) == [Timer.START]
    assert rules.timers_due(window(), END + timedelta(minutes=5), HOUR) == \
        [Timer.START, Timer.ASK_END]


def test_next_timer() -> None:
    assert rules.next_timer(window(), HOUR) == START - HOUR
    assert rules.next_timer(window(), None) == START
    assert rules.next_timer(window(heads_up_at=START - HOUR), HOUR) == START
    assert rules.next_timer(window("in_progress"), HOUR) == END
    assert rules.next_timer(window("in_progress", end_asked_at=END), HOUR) is None
    assert rules.next_timer(window("cancelled"), HOUR) is None


# --- how a window reads --------------------------------------------------------------------------


def test_overrun_text() -> None:
    utc = ZoneInfo("UTC")
    going = window("in_progress", START - HOUR)
    assert rules.state_text(going, utc, START + timedelta(minutes=10)) == \
        "in progress, planned to end 11:00"
    asked = window("in_progress", START - HOUR, END)
    assert rules.state_text(asked, utc, END + timedelta(minutes=40)) == \
        "in progress, planned to end 11:00, overrunning by 40 min"
    assert rules.state_text(asked, BERLIN, END + timedelta(minutes=125)) == \
        "in progress, planned to end 12:00, overrunning by 2 h 5 min"
    assert rules.state_text(window("completed"), utc, END) == "completed"
    assert rules.overrun_minutes(asked, END + timedelta(minutes=40, seconds=59)) == 40
    assert rules.overrun_minutes(window(), END + HOUR) == -1


def test_statuspage_status() -> None:
    assert rules.statuspage_status(window(), START) == "scheduled"
    assert rules.statuspage_status(window("in_progress"), START) == "in_progress"
    assert rules.statuspage_status(window("in_progress", end_asked_at=END), END) == "verifying"
    assert rules.statuspage_status(window("completed"), END) == "completed"
    assert rules.statuspage_status(window("cancelled"), END) == "completed"


def test_announcements_are_one_line() -> None:
    for text in (
        say.heads_up(3, "Gerrit upgrade", "2026-12-06 10:00–11:00 UTC", ["gerrit"],
                     timedelta(minutes=60)),
        say.started(3, "Gerrit upgrade", "2026-12-06 10:00–11:00 UTC", ["gerrit"], "go"),
        say.end_question(3, "Gerrit upgrade", "11:00 UTC"),
        say.completed(3, "Gerrit upgrade"),
    ):
        assert "\n" not in text and len(text) < 400
    assert say.when(datetime(2026, 12, 6, 23, 0), datetime(2026, 12, 7, 1, 0), "UTC") == \
        "2026-12-06 23:00 – 2026-12-07 01:00 UTC"


def test_maintenance_changed_survives_the_relay_between_instances() -> None:
    from bot.core.events import MaintenanceChanged
    from bot.ha.change_relay import decode, encode

    event = MaintenanceChanged(at=NOW, incident_id=3, title="Gerrit upgrade", phase="started",
                               starts_at=START, ends_at=END, components=("gerrit", "zuul"))
    decoded = decode(encode(event, "a"))
    assert decoded == ("a", event)


def test_the_heads_up_rounds_the_wait_up() -> None:
    window = "2026-12-06 10:00–11:00 UTC"
    assert say.heads_up(1, "x", window, [], timedelta(minutes=1, seconds=59.5)) == \
        f"Maintenance #1 starts in 2 min: x ({window})."
    assert say.heads_up(1, "x", window, [], timedelta(minutes=59, seconds=59.9)) == \
        f"Maintenance #1 starts in 1 h: x ({window})."
    assert say.heads_up(1, "x", window, [], timedelta(hours=1)) == \
        f"Maintenance #1 starts in 1 h: x ({window})."


def test_now_names_a_window_in_progress_in_its_own_zone() -> None:
    from commands.maintenance_replies import now_line
    end = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert now_line(3, "Gerrit upgrade", end, "Europe/Berlin", end - timedelta(minutes=5)) == (
        "Maintenance #3 Gerrit upgrade: in progress, planned to end 11:00 (Europe/Berlin)")
    assert now_line(3, "Gerrit upgrade", end, "UTC", end + timedelta(minutes=40)) == (
        "Maintenance #3 Gerrit upgrade: in progress, planned to end 10:00 (UTC), "
        "overrunning by 40 min")
