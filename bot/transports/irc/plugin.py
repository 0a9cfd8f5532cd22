"""The IRC transport as a plug-in: `irc:` is a list of networks, one connection each."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from bot.config import IrcNetwork
from bot.core.ports import Transport, TransportSetup
from bot.transports.irc.transport import IrcTransport


class IrcPlugin:
    CONFIG_SCHEMA: ClassVar[Any] = list[IrcNetwork]
    order: ClassVar[int] = 30

    def build(self, config: Sequence[IrcNetwork] | None, setup: TransportSetup
              ) -> list[Transport]:
        return [
            IrcTransport(network, address_as=setup.bot_nick,
                         on_ready=functools.partial(setup.on_ready, IrcTransport.name,
                                                    network.name),
                         on_topic=setup.on_topic, may_write=setup.may_write,
                         keep_chatter=setup.keep_chatter)
            for network in config or ()
        ]


if TYPE_CHECKING:
    from bot.core.ports import TransportPlugin

    _plugin: TransportPlugin = IrcPlugin()  # what the entry point names fits the protocol
