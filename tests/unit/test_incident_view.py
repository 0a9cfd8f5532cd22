"""`incident_view` going on from the incident's last view (`before=`) makes the view a fold
of every entry makes, and only when the entries begin with the very entries it was made from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.web.state import IncidentPageView, incident_view
from storage.models import Incident

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    text: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    incident_id: int = 7
    actor: str = "alice"
    identity: str | None = None
    transport: str | None = None
    network: str | None = None
    channel: str | None = None
    public: bool = True

    @property
    def at(self) -> datetime:
        return T0 + timedelta(minutes=self.id)


def incident() -> Incident:
    return Incident(id=7, title="Gate", severity=2, state="identified", is_alert=False,
                    opened_at=T0, updated_at=T0 + timedelta(hours=2), opened_by="alice")


def whole(view: IncidentPageView) -> tuple[object, ...]:
    return (view, view.updates, view.unfolded, view.last_state)


ENTRIES = [Entry(1, "opened", new_value="investigating"), Entry(2, "update", "looking"),
           Entry(3, "status.notice", "looking"), Entry(4, "manager", "bob"),
           Entry(5, "state", "found it", "investigating", "identified")]
LATER = [Entry(6, "update", "fix going out"), Entry(7, "update", "fix going out"),
         Entry(8, "state", None, "identified", "monitoring"), Entry(9, "update", "watching")]


def test_going_on_from_the_last_view_gives_what_a_whole_fold_gives() -> None:
    for cut in range(len(ENTRIES + LATER) + 1):
        first, everything = (ENTRIES + LATER)[:cut], ENTRIES + LATER
        last = incident_view(incident(), first)
        went_on = incident_view(incident(), everything, before=(first, last))
        assert whole(went_on) == whole(incident_view(incident(), everything)), cut
        assert went_on.updates[-1].state == "monitoring"
        # The updates of the entries seen before are the last view's own objects.
        assert all(a is b for a, b in zip(went_on.unfolded, last.unfolded, strict=False))


def test_entries_read_again_are_folded_again() -> None:
    last = incident_view(incident(), ENTRIES)
    # Read again (another round of objects, one more in the middle): no reuse.
    again = [Entry(e.id, e.kind, e.text, e.old_value, e.new_value) for e in ENTRIES]
    again.insert(2, Entry(21, "state", None, "investigating", "monitoring"))
    view = incident_view(incident(), again + LATER, before=(ENTRIES, last))
    assert whole(view) == whole(incident_view(incident(), again + LATER))
    assert not any(a is b for a, b in zip(view.unfolded, last.unfolded, strict=False))
    assert [u.state for u in view.unfolded][:3] == ["investigating", "investigating",
                                                    "monitoring"]
