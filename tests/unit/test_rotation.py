"""Who is on call: weekly handoffs at local time across DST changes, and overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import PagingConfig
from bot.paging.rotation import Override, Rotation, Shift, local_time

BERLIN = ZoneInfo("Europe/Berlin")
MANAGERS = ("bob", "carol", "dave")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def weekly(handoff: tuple[int, time] = (0, time(9, 0)), start: date = date(2026, 3, 16)
           ) -> Rotation:
    return Rotation(MANAGERS, handoff=handoff, zone=BERLIN, start=start)


def test_without_a_rotation_the_first_manager_is_always_on_call() -> None:
    rotation = Rotation(MANAGERS)
    assert rotation.on_call(utc(2026, 3, 30, 7)) == Shift("bob", None, None)
    assert rotation.next_shift(utc(2026, 3, 30, 7)) is None
    assert rotation.chain(utc(2026, 3, 30, 7)) == ["bob", "carol", "dave"]


def test_weekly_handoff_counts_from_the_start() -> None:
    rotation = weekly()
    assert rotation.on_call(utc(2026, 3, 16, 8)).manager == "bob"  # 09:00 CET
    assert rotation.on_call(utc(2026, 3, 16, 7, 59)).manager == "dave"  # the week before
    assert rotation.on_call(utc(2026, 3, 23, 8)).manager == "carol"
    assert rotation.on_call(utc(2026, 4, 6, 7)).manager == "bob"  # round again
    assert rotation.chain(utc(2026, 3, 24)) == ["carol", "dave", "bob"]


def test_handoff_stays_at_nine_local_when_summer_time_starts() -> None:
    """Clocks go forward on Sunday 2026-03-29: Monday 09:00 CEST is 07:00 UTC, not 08:00."""
    rotation = weekly()
    shift = rotation.on_call(utc(2026, 3, 25, 12))
    assert shift == Shift("carol", utc(2026, 3, 23, 8), utc(2026, 3, 30, 7))
    assert shift.ends_at is not None and shift.starts_at is not None
    assert shift.ends_at - shift.starts_at == timedelta(hours=167)
    assert rotation.on_call(utc(2026, 3, 30, 6, 59)).manager == "carol"
    assert rotation.on_call(utc(2026, 3, 30, 7)).manager == "dave"
    assert rotation.on_call(utc(2026, 3, 30, 7, 30)).manager == "dave"  # naive 168h: carol
    assert local_time(utc(2026, 3, 30, 7), BERLIN) == "Mon 2026-03-30 09:00 CEST"


def test_handoff_stays_at_nine_local_when_summer_time_ends() -> None:
    """Clocks go back on Sunday 2026-10-25: Monday 09:00 CET is 08:00 UTC, not 07:00."""
    rotation = weekly()
    before = rotation.on_call(utc(2026, 10, 22, 12))
    assert before.starts_at == utc(2026, 10, 19, 7) and before.ends_at == utc(2026, 10, 26, 8)
    assert rotation.on_call(utc(2026, 10, 26, 7, 30)).manager == before.manager
    after = rotation.on_call(utc(2026, 10, 26, 8))
    assert after.manager != before.manager
    assert after.manager == MANAGERS[(MANAGERS.index(before.manager) + 1) % 3]
    upcoming = rotation.next_shift(utc(2026, 10, 22, 12))
    assert upcoming == after
    assert local_time(utc(2026, 10, 26, 8), BERLIN) == "Mon 2026-10-26 09:00 CET"


def test_a_handoff_in_the_skipped_hour_happens_an_hour_later_in_summer_time() -> None:
    rotation = weekly(handoff=(6, time(2, 30)), start=date(2026, 3, 1))
    shift = rotation.on_call(utc(2026, 3, 29, 12))
    assert shift.starts_at == utc(2026, 3, 29, 1, 30)  # 02:30 CET = 03:30 CEST
    assert rotation.on_call(utc(2026, 3, 29, 1, 29)).manager != shift.manager


def test_a_handoff_in_the_repeated_hour_happens_the_first_time() -> None:
    rotation = weekly(handoff=(6, time(2, 30)), start=date(2026, 10, 4))
    shift = rotation.on_call(utc(2026, 10, 25, 12))
    assert shift.starts_at == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, before the clocks go back
    assert shift.manager == "bob"  # 4th handoff from Sunday 2026-10-04
    assert rotation.on_call(utc(2026, 10, 25, 1, 15)).manager == "bob"  # 02:15 CET, still


def test_an_override_takes_over_and_hands_back() -> None:
    rotation = weekly()
    override = Override("dave", utc(2026, 3, 24, 10), utc(2026, 3, 25, 6))
    overrides = [override]
    assert rotation.on_call(utc(2026, 3, 24, 9), overrides) == Shift(
        "carol", utc(2026, 3, 23, 8), utc(2026, 3, 24, 10))
    assert rotation.on_call(utc(2026, 3, 24, 12), overrides) == Shift(
        "dave", override.starts_at, override.ends_at, override=True)
    assert rotation.chain(utc(2026, 3, 24, 12), overrides) == ["dave", "carol", "bob"]
    assert rotation.next_shift(utc(2026, 3, 24, 12), overrides) == Shift(
        "carol", utc(2026, 3, 23, 8), utc(2026, 3, 30, 7))
    assert rotation.on_call(utc(2026, 3, 25, 6), overrides).manager == "carol"


def test_the_latest_override_wins_and_next_skips_the_same_person() -> None:
    rotation = weekly()
    overrides = [Override("dave", utc(2026, 3, 24), utc(2026, 4, 1)),
                 Override("bob", utc(2026, 3, 24, 12), utc(2026, 3, 24, 18))]
    assert rotation.on_call(utc(2026, 3, 24, 13), overrides).manager == "bob"
    # After bob's override: dave's, then dave's own rotation week — "next" is someone else.
    assert rotation.next_shift(utc(2026, 3, 24, 13), overrides) == Shift(
        "dave", utc(2026, 3, 24), utc(2026, 4, 1), override=True)
    later = rotation.next_shift(utc(2026, 3, 28), overrides)
    assert later is not None and later.manager == "bob"
    assert later.starts_at == utc(2026, 4, 6, 7)


def test_from_config() -> None:
    config = PagingConfig.model_validate({
        "escalation_managers": [{"name": n, "contacts": {"irc": n}} for n in MANAGERS],
        "rotation": {"handoff": "mon 09:00", "timezone": "Europe/Berlin",
                     "start": "2026-03-16"},
    })
    rotation = Rotation.from_config(config)
    assert rotation.on_call(utc(2026, 3, 30, 7)).manager == "dave"
    default_start = Rotation.from_config(config.model_copy(update={"rotation": config.rotation
                                          and config.rotation.model_copy(update={"start": None})}))
    # Counted from 2024-01-01 (a Monday): 2026-03-30 is 117 weeks later.
    assert default_start.on_call(utc(2026, 3, 30, 7)).manager == MANAGERS[117 % 3]


def test_a_rotation_needs_managers() -> None:
    with pytest.raises(ValueError):
        Rotation(())
