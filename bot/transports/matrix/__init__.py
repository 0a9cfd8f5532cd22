"""The Matrix transport (matrix-nio), with end-to-end encryption."""

from bot.transports.matrix.crypto_store import crypto_store_path
from bot.transports.matrix.transport import MatrixTransport

__all__ = ["MatrixTransport", "crypto_store_path"]
