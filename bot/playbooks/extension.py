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
from bot.playbooks import lookup
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

MAX_BUG_LINES = 8
MAX_SUGGESTIONS = 2
"""Entries suggested for one alert or incident at most (the best matches)."""
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
        fresh = [entry for entry in matches if entry.slug not in done][:MAX_SUGGESTIONS]
        where = Where(actor=self._bot_nick, identity="statusdesk playbooks",
                      transport=ctx.where.transport, network=ctx.where.network,
                      channel=ctx.where.channel)
        for entry in fresh:
            await ctx.tx.timeline.append(incident_id, SUGGESTED, where, ctx.now,
                                         new=entry.slug, text=entry.title, public=False)
            ctx.out.say(say.suggestion(incident_id, entry.title, entry.summary,
                                       self._page_suffix(ctx, entry.slug)))
            # The page and a `#playbook` soon after will want the bugs' states.
            self._states.warm(await self._bug_urls(entry, ctx))

    # --- commands ------------------------------------------------------------------------

    async def _show(self, topic: str, ctx: Applying) -> None:
        entries = self._store.entries
        found = lookup.find(entries.values(), topic)
        entry = found.entry
        if entry is None:
            ctx.out.say(say.no_match(topic, [e.slug for e in found.alternatives],
                                     self._index_suffix(ctx, entries)))
            return
        lines = [say.entry_head(entry.title, entry.summary)]
        url = say.page_url(ctx.page_url, entry.slug)
        if url:
            lines.append(say.entry_page(url))
        urls = await self._bug_urls(entry, ctx)
        if not urls:
            lines.append(say.no_bug_linked(entry.slug))
        shown = urls[:MAX_BUG_LINES]
        after = []
        if len(urls) > MAX_BUG_LINES:
            after.append(say.more_bugs(len(urls) - MAX_BUG_LINES))
        if found.alternatives:
            after.append(say.also_matching([e.slug for e in found.alternatives]))
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
        entries = self._store.entries
        entry = lookup.find(entries.values(), topic).entry
        if entry is None:
            ctx.out.say(say.link_no_match(topic, self._index_suffix(ctx, entries)))
            return
        if url in entry.bugs:
            ctx.out.say(say.already_linked(url, entry.slug, in_file=True))
            return
        added = await ctx.tx.playbook_links.add(entry.slug, url, ctx.where.actor, ctx.now)
        if added is None:
            ctx.out.say(say.already_linked(url, entry.slug))
            return
        untracked = None
        if self._states.ref(url) is None:
            untracked = urlsplit(url).hostname or url
        else:
            self._states.warm([url])
        ctx.out.say(say.linked(url, entry.slug, entry.title, untracked))

    async def _for_open_incidents(self, ctx: Applying) -> None:
        entries = self._store.entries
        incidents = await ctx.tx.incidents.list_open()
        if not incidents:
            ctx.out.say(say.no_open_incident(self._index_suffix(ctx, entries)))
            return
        alert = await ctx.tx.alert.current()
        lines = []
        for incident in incidents:
            text = incident.title
            if alert is not None and alert.incident_id == incident.id:
                text += " " + alert.text
            matches = lookup.relevant(entries.values(), text)
            if matches:
                lines.append(say.incident_entries(
                    incident.id, incident.title, [(e.slug, e.title) for e in matches[:3]]))
        if not lines:
            ctx.out.say(say.no_match_for_open([i.id for i in incidents],
                                              self._index_suffix(ctx, entries)))
            return
        ctx.out.say(*lines)
        ctx.out.say(say.ask_topic())

    # --- helpers -------------------------------------------------------------------------

    async def _bug_urls(self, entry: Entry, ctx: Applying) -> list[str]:
        linked = [link.url for link in await ctx.tx.playbook_links.of(entry.slug)]
        return list(dict.fromkeys([*entry.bugs, *linked]))

    def _page_suffix(self, ctx: Applying, slug: str) -> str:
        return say.page_suffix(say.page_url(ctx.page_url, slug), slug)

    def _index_suffix(self, ctx: Applying, entries: dict[str, Entry]) -> str:
        return say.index_suffix(ctx.page_url, list(entries))
