"""What the transport knows about each configured channel, and why a server refuses a JOIN."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

REFUSALS = {
    # the library's event name for the numeric -> what we report
    "bannedfromchan": "banned",
    "inviteonlychan": "invite only (+i)",
    "badchannelkey": "needs a key (+k)",
    "channelisfull": "full (+l)",
    "nochanmodes": "needs a registered nick",  # 477, ERR_NEEDREGGEDNICK on today's servers
    "toomanychannels": "too many channels",
    "nosuchchannel": "no such channel",
    "unavailresource": "temporarily unavailable",
}


@dataclass
class ChannelState:
    name: str
    status: str = "not joined"
    topic: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    settled: bool = False
    """Joined, or refused, in this connection: either way we are done waiting for it."""
    failures: int = 0
    joined_at: float | None = None
    rejoin: asyncio.TimerHandle | None = None
    expected_topic: str | None = None
    """The topic we last asked for: a TOPIC with this text (from us or ChanServ) is ours,
    any other one was set by someone else."""
