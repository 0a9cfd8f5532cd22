"""The Matrix transport as a plug-in: `matrix:` is one account and its rooms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from bot.config import MatrixConfig
from bot.core.ports import Transport, TransportSetup
from bot.transports.matrix.crypto_store import crypto_store_path


class MatrixPlugin:
    CONFIG_SCHEMA: ClassVar[Any] = MatrixConfig
    order: ClassVar[int] = 20

    def build(self, config: MatrixConfig | None, setup: TransportSetup) -> list[Transport]:
        if config is None:
            return []
        # matrix-nio is the `matrix` extra; the configuration check names it when missing.
        from bot.transports.matrix.transport import MatrixTransport

        return [MatrixTransport(
            config, setup.state(f"matrix:{config.user_id}"),
            on_connected=lambda transport: setup.on_ready(transport.name, transport.network),
            on_topic=setup.on_topic,
            store_path=crypto_store_path(setup.database_url, config.store_path),
        )]


if TYPE_CHECKING:
    from bot.core.ports import TransportPlugin

    _plugin: TransportPlugin = MatrixPlugin()  # what the entry point names fits the protocol
