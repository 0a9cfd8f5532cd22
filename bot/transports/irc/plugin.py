"""The IRC transport as a plug-in: `irc:` is a list of networks, one connection each."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

from bot.config import IrcNetwork
from bot.core.ports import Transport, TransportSetup
from bot.transports.irc.transport import IrcTransport


class IrcPlugin:
    key: ClassVar[str] = "irc"
    schema: ClassVar[Any] = list[IrcNetwork]
    default: ClassVar[Any] = ()

    def build(self, config: Sequence[IrcNetwork], setup: TransportSetup) -> list[Transport]:
        return [
            IrcTransport(network, address_as=setup.bot_nick,
                         on_ready=functools.partial(setup.on_ready, IrcTransport.name,
                                                    network.name),
                         on_topic=setup.on_topic, may_write=setup.may_write)
            for network in config
        ]
