"""The IRC transport (see `transport.py`); the other modules are its pure parts."""

from bot.transports.irc.transport import IrcTransport

__all__ = ["IrcTransport"]
