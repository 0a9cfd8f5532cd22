"""A direct message through the running chat transports.

`irc: NICK` is messaged on every IRC network the bot is on and `matrix: @user:server` on
Matrix. With neither kind running (the console alone, as in the embedded default), the page
goes to the console's direct output, so trying the bot out shows what a page looks like.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.config.fields import ConfigModel
from bot.config.models import Contacts
from bot.core.ports import DeliveryRejected, DeliveryUnavailable, Transport
from bot.paging.delivery import TRIGGER, PageEvent

if TYPE_CHECKING:
    from bot.paging.plugin import PagingProviderPlugin, ProviderContext
from bot.transports.registry import Transports

log = logging.getLogger("statusdesk.paging")


class ChatProvider(ConfigModel):
    """`paging.providers.chat`: direct message on IRC / Matrix; no settings."""


class Chat:
    name = "chat"
    actions = frozenset({TRIGGER})
    CONFIG_SCHEMA = ChatProvider
    order = 50
    contacts = ("irc", "matrix")

    def __init__(self, transports: Transports) -> None:
        self._transports = transports

    @classmethod
    def from_config(cls, config: ChatProvider, context: ProviderContext) -> Chat:
        return cls(context.transports)

    def reaches(self, contacts: Contacts) -> bool:
        return contacts.irc is not None or contacts.matrix is not None

    @staticmethod
    def text(event: PageEvent) -> str:
        line = (f"PAGE {event.summary} — you are paged as escalation manager (step "
                f"{event.step} of {event.steps}) by {event.paged_by}. Acknowledge with "
                f"#ack {event.incident_id}")
        return line + (f" · {event.incident_url}" if event.incident_url else "")

    def _targets(self, event: PageEvent) -> list[tuple[Transport, str]]:
        contacts = event.manager.contacts
        targets: list[tuple[Transport, str]] = []
        for transport in self._transports:
            if transport.name == "irc" and contacts.irc:
                targets.append((transport, contacts.irc))
            elif transport.name == "matrix" and contacts.matrix:
                targets.append((transport, contacts.matrix))
        if not targets:
            targets = [(t, event.manager.name) for t in self._transports if t.name == "console"]
        return targets

    async def send(self, event: PageEvent) -> None:
        targets = self._targets(event)
        if not targets:
            raise DeliveryRejected(f"no IRC or Matrix transport is running to reach "
                                   f"{event.manager.name}")
        text = self.text(event)
        failures: list[str] = []
        rejected = 0
        for transport, user in targets:
            try:
                await transport.direct(user, text)
            except DeliveryRejected as error:
                rejected += 1
                failures.append(f"{transport.name}/{transport.network}: {error}")
            except DeliveryUnavailable as error:
                failures.append(f"{transport.name}/{transport.network}: {error}")
        if len(failures) == len(targets):
            reason = "; ".join(failures)
            if rejected == len(targets):
                raise DeliveryRejected(reason)
            raise DeliveryUnavailable(reason)
        if failures:
            # Reached on some network: a retry would message the others twice.
            log.warning("paged %s on some networks only: %s", event.manager.name,
                        "; ".join(failures))


if TYPE_CHECKING:
    _plugin: PagingProviderPlugin = Chat  # the entry point's object fits the protocol
