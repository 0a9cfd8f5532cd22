"""The running transports, found by kind and network."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.core.ports import Channel, DeliveryRejected, Transport


class Transports:
    def __init__(self, transports: Sequence[Transport] = ()) -> None:
        self._by_key: dict[tuple[str, str], Transport] = {}
        for transport in transports:
            self.add(transport)

    def add(self, transport: Transport) -> None:
        key = (transport.name, transport.network)
        if key in self._by_key:
            raise ValueError(f"two transports for {transport.name}/{transport.network}")
        self._by_key[key] = transport

    def clear(self) -> None:
        """Forget every transport (a leader stepping down stops and drops them)."""
        self._by_key.clear()

    def __iter__(self) -> Iterator[Transport]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, name: str, network: str) -> Transport:
        """The transport, or DeliveryRejected when it is gone (e.g. removed from the config)."""
        try:
            return self._by_key[(name, network)]
        except KeyError:
            raise DeliveryRejected(f"no transport {name}/{network} is configured") from None

    def to(self, channel: Channel) -> Transport:
        """The transport that reaches `channel` (DeliveryRejected as for `get`)."""
        return self.get(channel.transport, channel.network)

    def channels(self) -> list[Channel]:
        """Every broadcast destination on every network."""
        return [
            Channel(t.name, t.network, channel) for t in self for channel in t.channels()
        ]
