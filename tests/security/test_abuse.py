"""Abuse: a person flooding commands is rate limited per identity with one warning; the bot
itself never exceeds its configured IRC rate and is never disconnected for flooding."""

from __future__ import annotations

from collections.abc import Callable

from bot.desk import Desk
from bot.events import EventBus
from bot.transports.base import Identity, Message
from commands.auth import Principal, Whitelist
from commands.model import Role
from commands.rate_limit import Allowance, CommandRateLimit
from storage.unit_of_work import Store
from tests.clock import Clock


class Seconds:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def irc_message(nick: str, text: str, *, account: str | None = None) -> Message:
    identity = Identity(transport="irc", nick=nick, network="oftc", account=account,
                        host_mask=f"{nick}!{nick}@192.0.2.7")
    return Message("irc", "oftc", "#infra", nick, identity, text)


def desk_with_limit(store: Store, seconds: Callable[[], float]) -> Desk:
    whitelist = Whitelist([Principal("alice", frozenset({Role.STATUS}), irc_account="alice")])
    limit = CommandRateLimit(Allowance(burst=3, per_second=0.5),
                             Allowance(burst=6, per_second=1.0), clock=seconds)
    return Desk(store, EventBus(), whitelist, lambda: [], clock=Clock(), rate_limit=limit)


async def test_a_flood_gets_one_warning_and_one_audit_row_per_pause(store: Store) -> None:
    seconds = Seconds()
    desk = desk_with_limit(store, seconds)
    answers = []
    for _ in range(100):
        answers.append([r.text for r in await desk.handle(irc_message("mallory", "#now"))])
        seconds.now += 0.05
    answered = [a for a in answers if a and not a[0].startswith("slow down")]
    warnings = [a for a in answers if a and a[0].startswith("slow down")]
    assert len(answered) == 3
    assert warnings == [["slow down — you sent too many commands; ignoring you for 6 s"]]
    assert all(not a for a in answers[4:])
    # Chatter never counts, commands from someone else are answered at once.
    assert await desk.handle(irc_message("mallory", "just talking")) == []
    assert (await desk.handle(irc_message("bob", "#now")))[0].text.startswith("All clear")
    # After the pause: served again, and flooding again is a new period with a new warning.
    seconds.now += 6.0
    again = [[r.text for r in await desk.handle(irc_message("mallory", "#now"))]
             for _ in range(5)]
    assert [bool(a) for a in again] == [True, True, True, True, False]
    assert again[3][0].startswith("slow down")
    async with store.reading() as tx:
        rows = await tx.audit.recent(100, outcome="rate_limited")
    assert len(rows) == 2
    assert {(r.actor, r.command) for r in rows} == {("mallory", "#now")}
    assert all("mask=mallory!mallory@192.0.2.7" in (r.identity or "") for r in rows)
    assert desk.outcomes["rate_limited"] == 97 + 2


async def test_whitelisted_operators_have_a_larger_allowance(store: Store) -> None:
    seconds = Seconds()
    desk = desk_with_limit(store, seconds)
    posted = [await desk.handle(irc_message("alice", "#status log disk replaced",
                                            account="alice")) for _ in range(7)]
    assert [p[0].text for p in posted[:6]] == ["Logged on the status page."] * 6
    assert posted[6][0].text.startswith("slow down")
    # Refusals and usage errors count as well: they are answered too.
    refused = [await desk.handle(irc_message("eve", "#status alert pwned")) for _ in range(4)]
    assert [bool(r) for r in refused] == [True] * 4
    assert refused[3][0].text.startswith("slow down")
