"""Direct messages through the outbox: the bot telling one person something (the on-call
person, prompted for an escalation manager) with the outbox's guarantees — queued with the
change that caused it, delivered by the leader, retried, at most once per key.

A row of kind `direct` carries the transport, its network, the user (an IRC nick, a Matrix
user id, the console's operator) and the text; `DirectMessages` delivers it with the
transport's `direct()`, as the `chat` paging provider does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.effects import OutboxRow
from bot.core.ports import DeliveryRejected
from bot.transports.registry import Transports

DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone the bot can message directly on one network."""

    transport: str
    network: str
    user: str


def direct_row(to: Recipient, text: str, key: str) -> OutboxRow:
    lane = f"direct/{to.transport}/{to.network}/{to.user}"
    payload = {"transport": to.transport, "network": to.network, "user": to.user,
               "text": text}
    return DIRECT, lane, payload, key


class DirectMessages:
    """The outbox deliverer of `direct` rows."""

    kinds = frozenset({DIRECT})

    def __init__(self, transports: Transports) -> None:
        self._transports = transports

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        try:
            transport_name, network = str(payload["transport"]), str(payload["network"])
            user, text = str(payload["user"]), str(payload["text"])
        except KeyError as error:
            raise DeliveryRejected(f"malformed direct message: no {error}") from error
        transport = self._transports.get(transport_name, network)
        await transport.direct(user, text)
