"""The pure parts of after-the-incident (DESIGN §1.7): when to prompt for an escalation
manager, which action items are overdue and under which key, the roles store's order, what
the bot says."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.followup.em_prompt import em_prompt_key, needs_em_prompt
from bot.followup.overdue import overdue, overdue_key, reminder_day
from commands import followup_replies as say
from storage.incident_roles import roles_of
from storage.models import ActionItem, Incident, IncidentRole

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WAIT = timedelta(minutes=10)


def incident(severity: int = 2, manager: str | None = None, state: str = "investigating",
             lead: str | None = None) -> Incident:
    return Incident(id=7, title="t", severity=severity, state=state, lead=lead,
                    manager=manager, opened_at=T0, updated_at=T0, opened_by="op",
                    is_alert=False)


def test_em_prompt_only_for_sev1_and_sev2_without_em_after_the_wait() -> None:
    assert not needs_em_prompt(incident(), T0 + WAIT - timedelta(seconds=1), WAIT)
    assert needs_em_prompt(incident(), T0 + WAIT, WAIT)
    assert needs_em_prompt(incident(severity=1), T0 + WAIT * 100, WAIT)
    assert not needs_em_prompt(incident(severity=3), T0 + WAIT, WAIT)
    assert not needs_em_prompt(incident(manager="bob"), T0 + WAIT, WAIT)
    assert not needs_em_prompt(incident(state="resolved"), T0 + WAIT, WAIT)
    window = incident()
    window.kind = "maintenance"
    assert not needs_em_prompt(window, T0 + WAIT, WAIT)
    assert em_prompt_key(7) == "prompt:em:7"


def item(id_: int, due: date | None, state: str = "open") -> ActionItem:
    return ActionItem(id=id_, incident_id=1, text="x", due=due, state=state,
                      created_by="op", created_at=T0)


def test_overdue_items_and_their_daily_key() -> None:
    today = date(2026, 11, 21)
    items = [item(1, date(2026, 11, 20)), item(2, today), item(3, None),
             item(4, date(2026, 1, 1), state="done"), item(5, date(2025, 1, 1))]
    assert [i.id for i in overdue(items, today)] == [1, 5]
    assert overdue_key(1, today) == "remind:action:1:2026-11-21"
    assert overdue_key(1, today + timedelta(days=1)) != overdue_key(1, today)


def test_the_reminder_day_is_the_quiet_hours_day() -> None:
    late = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    assert reminder_day(late, None) == date(2026, 11, 21)
    assert reminder_day(late, ZoneInfo("Europe/Berlin")) == date(2026, 11, 22)


def test_roles_lead_and_em_first_then_configured_order() -> None:
    rows = [IncidentRole(incident_id=7, role="scribe", nick="sam"),
            IncidentRole(incident_id=7, role="comms", nick="carol"),
            IncidentRole(incident_id=7, role="old", nick="olga")]
    assert list(roles_of(incident(manager="bob", lead="dave"), rows,
                         ["lead", "em", "comms", "scribe"]).items()) == [
        ("lead", "dave"), ("em", "bob"), ("comms", "carol"), ("scribe", "sam"),
        ("old", "olga")]
    assert roles_of(incident(), []) == {}


def test_replies() -> None:
    line = say.ActionLine(7, 12, "rotate logs", "alice", date(2026, 11, 20),
                          "https://h/1", "closed")
    assert say.action_line(line, date(2026, 11, 21)) == (
        "A7 #12 rotate logs — owner alice, due 2026-11-20 (overdue), ticket https://h/1 "
        "(closed)")
    many = [say.ActionLine(n, 1, "x", None, None) for n in range(1, 11)]
    listed = say.action_list(many, date(2026, 11, 21), None, more=5)
    assert listed[0] == "15 open action items:"
    assert listed[-1] == "…and 5 more: #actions ID lists one incident's."
    assert say.em_prompt(3, 1, "10m", None) == (
        'Incident #3 (sev1) has had no escalation manager for 10m: nobody is on call through '
        'statusdesk; name one with "#incident 3 em NICK".')
    long = say.ActionLine(1, 1, "y" * 1000, "a" * 64, date(2026, 1, 1), "https://h/" + "z" * 100,
                          "open")
    for text in (*listed, say.action_line(long, date(2026, 1, 2)),
                 say.overdue_reminder(7, 1, "y" * 1000, "a" * 64, date(2026, 1, 1))):
        assert "\n" not in text and len(text.encode()) < 400


def test_the_on_call_person_is_reached_as_the_chat_provider_would() -> None:
    from types import SimpleNamespace

    from bot.config.models import EscalationManager
    from bot.followup.direct import Recipient, direct_row
    from bot.followup.em_prompt import recipients

    irc = [SimpleNamespace(name="irc", network="oftc"), SimpleNamespace(name="irc",
                                                                         network="libera")]
    matrix = SimpleNamespace(name="matrix", network="example.org")
    console = SimpleNamespace(name="console", network="console")
    both = EscalationManager.model_validate(
        {"name": "pat", "contacts": {"irc": "pat_", "matrix": "@pat:example.org"}})
    assert recipients(both, [*irc, matrix, console]) == [  # type: ignore[list-item]
        Recipient("irc", "oftc", "pat_"), Recipient("irc", "libera", "pat_"),
        Recipient("matrix", "example.org", "@pat:example.org")]
    mail_only = EscalationManager.model_validate(
        {"name": "pat", "contacts": {"email": "pat@example.org"}})
    assert recipients(mail_only, [*irc, console]) == [  # type: ignore[list-item]
        Recipient("console", "console", "pat")]
    assert recipients(mail_only, irc) == []  # type: ignore[arg-type]
    assert direct_row(Recipient("irc", "oftc", "pat_"), "hi", "k") == (
        "direct", "direct/irc/oftc/pat_",
        {"transport": "irc", "network": "oftc", "user": "pat_", "text": "hi"}, "k")
