"""`#playbook` in chat, and playbook suggestions when an alert or incident matches one.

A desk extension: it runs inside the command's transaction and under the desk's lock, so it
never waits there for a tracker. `#playbook TOPIC` answers the entry at once; the bugs'
states follow (`Reply.follow_up`) as soon as the trackers answer, or after `wait` seconds
as unknown (the answer then lands in the cache for the next question).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.core.events import AlertSet, DeskEvent, IncidentOpened
from bot.core.extension import Applying
from bot.playbooks import lookup, rules
from bot.playbooks.bug_states import BugStates
from bot.playbooks.entry import Entry
from bot.playbooks.store import PlaybookStore
from commands import model as m
from commands import playbook_replies as say
from commands.model import Command
from storage.timeline import Where

CHAT_WAIT = 5.0
"""Seconds the bug lines of `#playbook TOPIC` wait for trackers before showing a state as
unknown. Only that answer waits: the summary went out already and other commands go on."""

SUGGESTED = "playbook.suggested"
"""Timeline kind recording a suggestion (private), so an entry is suggested once per
incident however often the alert is updated."""


class PlaybooksExtension:
    commands: tuple[type, ...] = (m.PlaybookShow, m.PlaybookLink)

    def __init__(self, store: PlaybookStore, states: BugStates, *, bot_nick: str,
                 wait: float = CHAT_WAIT) -> None:
        self._store = store
        self._states = states
        self._wait = wait
        self._bot_nick = bot_nick

    async def apply(self, command: Command, ctx: Applying) -> None:
        match command:
            case m.PlaybookShow(None):
                await self._for_open_incidents(ctx)
            case m.PlaybookShow(str(topic)):
                await self._show(topic, ctx)
            case m.PlaybookLink(topic, url):
                await self._link(topic, url, ctx)

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        match event:
            case AlertSet(text=text) | IncidentOpened(title=text):
                pass
            case _:
                return
        matches = lookup.relevant(self._store.entries.values(), text)
        if not matches:
            return
        incident_id = event.incident_id
        done = {e.new_value for e in await ctx.tx.timeline.entries(incident_id,
                                                                    kinds=(SUGGESTED,))}
        where = Where(actor=self._bot_nick, identity="statusdesk playbooks",
                      transport=ctx.where.transport, network=ctx.where.network,
                      channel=ctx.where.channel)
        for entry in rules.suggestions(matches, done):
            await ctx.tx.timeline.append(incident_id, SUGGESTED, where, ctx.now,
                                         new=entry.slug, text=entry.title, public=False)
            ctx.out.say(rules.suggestion(incident_id, entry, ctx.page_url))
            # The page and a `#playbook` soon after will want the bugs' states.
            self._states.warm(await self._bug_urls(entry, ctx))

    # --- commands ------------------------------------------------------------------------

    async def _show(self, topic: str, ctx: Applying) -> None:
        found = rules.find(topic, self._store.entries, ctx.page_url)
        if isinstance(found, rules.Answer):
            ctx.out.say(found.reply)
            return
        answer = rules.entry_answer(found.entry, found.alternatives,
                                    await self._bug_urls(found.entry, ctx), ctx.page_url)
        lines, shown, after = answer.lines, answer.bugs, answer.after
        cached = self._states.known_now(shown)
        if cached is not None:
            ctx.out.say(*lines, *(say.bug_line(state.line) for state in cached), *after)
            return

        async def bug_lines() -> list[str]:
            states = await self._states.get_many(shown, wait=self._wait)
            return [*(say.bug_line(state.line) for state in states), *after]

        self._states.warm(shown)  # asking starts now, not when the follow-up first runs
        ctx.out.say(*lines[:-1])
        ctx.out.say_then(lines[-1], bug_lines)

    async def _link(self, topic: str, url: str, ctx: Applying) -> None:
        entry = rules.link_target(topic, url, self._store.entries, ctx.page_url)
        if isinstance(entry, rules.Answer):
            ctx.out.say(entry.reply)
            return
        added = await ctx.tx.playbook_links.add(entry.slug, url, ctx.where.actor, ctx.now)
        untracked = None
        if added is not None:
            if self._states.ref(url) is None:
                untracked = urlsplit(url).hostname or url
            else:
                self._states.warm([url])
        ctx.out.say(rules.linked(url, entry, added=added is not None,
                                 untracked_host=untracked))

    async def _for_open_incidents(self, ctx: Applying) -> None:
        entries = self._store.entries
        incidents = await ctx.tx.incidents.list_open()
        if not incidents:
            ctx.out.say(rules.nothing_open(ctx.page_url, entries))
            return
        alert = await ctx.tx.alert.current()
        for lines in rules.for_open_incidents(
                [(i.id, i.title) for i in incidents],
                (alert.incident_id, alert.text) if alert is not None else None,
                entries, ctx.page_url):
            ctx.out.say(*lines)

    # --- helpers -------------------------------------------------------------------------

    async def _bug_urls(self, entry: Entry, ctx: Applying) -> list[str]:
        linked = [link.url for link in await ctx.tx.playbook_links.of(entry.slug)]
        return list(dict.fromkeys([*entry.bugs, *linked]))
