"""The pure parts of the status page's limits: numbers from requests, who counts as one
address, the live-client cap, the connection budget, and the connection guard's choices
(driven through its protocol wrapper, with a stand-in for the socket transport)."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import ConfigError, load_config_text
from bot.web.connection_budget import (
    BURST_ROOM,
    MAX_CONNECTIONS,
    ConnectionBudget,
    connection_budget,
)
from bot.web.connection_guard import ConnectionGuard
from bot.web.live_clients import LiveClientLimit, address_key
from bot.web.whole_numbers import parse_whole


@pytest.mark.parametrize(("text", "expected"), [
    ("1", 1), ("42", 42), ("0042", 42), ("100", 100), ("0" * 5000 + "7", 7),
    ("0", None), ("101", None), ("", None), (None, None), ("²", None), ("٣", None),
    ("３", None), ("-1", None), ("+1", None), (" 1", None), ("1 ", None), ("1_0", None),
    ("1.0", None), ("1e2", None), ("0x1", None), ("1" * 23, None), ("9" * 5000, None),
])
def test_whole_numbers_are_ascii_digits_within_bounds(text: str | None,
                                                      expected: int | None) -> None:
    assert parse_whole(text, lowest=1, highest=100) == expected


@pytest.mark.parametrize(("peer", "key"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    (None, ""), ("", ""), ("not an address", ""),
])
def test_clients_are_counted_per_ipv4_address_and_ipv6_64(peer: str | None, key: str) -> None:
    assert address_key(peer) == key


def test_live_clients_per_address_then_overall() -> None:
    limit = LiveClientLimit(total=3, per_address=2)
    assert limit.enter("192.0.2.1") is None
    assert limit.enter("192.0.2.1") is None
    assert limit.enter("192.0.2.1") == "address"
    assert limit.enter("2001:db8::1") is None
    assert limit.enter("2001:db8::2") == "full"
    assert (limit.count, limit.refused_address, limit.refused_full) == (3, 1, 1)
    limit.leave("192.0.2.1")
    assert limit.enter("192.0.2.9") is None
    limit.leave("198.51.100.1")  # never admitted: nothing changes
    assert limit.count == 3
    for peer in ("192.0.2.1", "2001:db8::1", "192.0.2.9"):
        limit.leave(peer)
    assert (limit.count, limit.addresses()) == (0, 0)


def test_per_address_never_exceeds_total() -> None:
    assert LiveClientLimit(total=2, per_address=10).per_address == 2
    with pytest.raises(ValueError):
        LiveClientLimit(total=0, per_address=1)


def test_the_connection_budget_keeps_the_reserve_and_room_for_a_burst() -> None:
    assert connection_budget(20000, 1024) == ConnectionBudget(
        20000, 1024, 20000 - 1024 - BURST_ROOM, squeezed=False)
    assert connection_budget(20000, 1024).max_connections == 17952
    # The common soft default: too small for the reserve, so a quarter, and a warning.
    assert connection_budget(1024, 1024) == ConnectionBudget(1024, 1024, 256, squeezed=True)
    assert connection_budget(40, 1024).max_connections == 16
    assert connection_budget(1_048_576, 1024).max_connections == MAX_CONNECTIONS


class Transport:
    """What the guard needs of a socket transport."""

    def __init__(self) -> None:
        self.closed = False
        self.buffered = 0

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return self.buffered


class Protocol(asyncio.Protocol):
    """Stands for aiohttp's RequestHandler."""

    def __init__(self) -> None:
        self.lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def _open(guard: ConnectionGuard) -> tuple[asyncio.Protocol, Protocol, Transport]:
    inner = Protocol()
    wrapped = guard.protocol_factory(lambda: inner)()
    transport = Transport()
    wrapped.connection_made(transport)  # type: ignore[arg-type]
    return wrapped, inner, transport


def _lose(wrapped: asyncio.Protocol, transport: Transport) -> None:
    """What the event loop does after a close."""
    if transport.closed:
        wrapped.connection_lost(None)


def test_at_the_cap_the_oldest_waiting_connection_makes_room() -> None:
    guard = ConnectionGuard(max_connections=3, header_timeout=10)
    first, second, third = (_open(guard) for _ in range(3))
    assert guard.open == 3 and guard.waiting == 3
    # The first one's request is being handled: busy, so the second is the oldest waiting.
    guard.request_started(first[1])
    newcomer = _open(guard)
    assert second[2].closed and not first[2].closed and not newcomer[2].closed
    assert guard.evicted == 1
    _lose(second[0], second[2])
    assert guard.open == 3 and second[1].lost
    # A response still being sent to a slow reader is passed over for the next one.
    third[2].buffered = 10_000
    latest = _open(guard)
    assert newcomer[2].closed and not third[2].closed and not latest[2].closed
    _lose(newcomer[0], newcomer[2])


def test_when_every_connection_is_busy_the_newcomer_is_closed() -> None:
    guard = ConnectionGuard(max_connections=2, header_timeout=10)
    for _, inner, _ in (_open(guard), _open(guard)):
        guard.request_started(inner)
    _, _, refused = _open(guard)
    assert refused.closed and guard.refused == 1 and guard.evicted == 0


def test_closing_connections_are_not_counted_twice() -> None:
    """A burst accepted at once: each newcomer closes one old connection, not more, even
    before the closed ones are gone."""
    guard = ConnectionGuard(max_connections=4, header_timeout=10)
    old = [_open(guard) for _ in range(4)]
    burst = [_open(guard) for _ in range(4)]
    assert [t.closed for _, _, t in old] == [True] * 4
    assert not any(t.closed for _, _, t in burst)
    assert guard.evicted == 4 and guard.open == 8
    for wrapped, _, transport in old:
        _lose(wrapped, transport)
    assert guard.open == 4


def test_a_connection_that_waits_header_timeout_for_its_request_head_is_closed() -> None:
    now = [100.0]
    guard = ConnectionGuard(max_connections=10, header_timeout=10, clock=lambda: now[0])
    slow = _open(guard)
    answered = _open(guard)
    now[0] = 103.0
    guard.request_started(answered[1])
    guard.request_finished(answered[1])  # then idle on keep-alive, from 103
    assert guard.sweep(109.9) == 0
    assert guard.sweep(110.0) == 1 and slow[2].closed and not answered[2].closed
    assert guard.header_timeouts == 1
    # Still sending its last response at 113: one more header_timeout, then closed anyway.
    answered[2].buffered = 1
    assert guard.sweep(113.0) == 0 and not answered[2].closed
    assert guard.sweep(122.9) == 0 and not answered[2].closed
    assert guard.sweep(123.0) == 1 and answered[2].closed


def test_a_connection_that_closes_tells_who_asked() -> None:
    guard = ConnectionGuard(max_connections=10, header_timeout=10)
    wrapped, inner, transport = _open(guard)
    told: list[str] = []
    assert guard.when_lost(inner, lambda: told.append("gone"))
    assert not guard.when_lost(Protocol(), lambda: None)
    transport.closed = True
    _lose(wrapped, transport)
    assert told == ["gone"] and inner.lost and guard.open == 0


def test_the_limits_are_validated_with_their_path() -> None:
    with pytest.raises(ConfigError) as error:
        load_config_text("status_page:\n  limits: {header_timeout: 0s, body_timeout: soon, "
                         "live_clients: 0, live_clients_per_address: 0, reserve_fds: 10}\n")
    assert [str(p) for p in error.value.problems] == [
        "status_page.limits.header_timeout: must be longer than 0s",
        'status_page.limits.body_timeout: invalid duration "soon" (use e.g. 30s, 10m, 1h, 2d)',
        "status_page.limits.live_clients: must be at least 1",
        "status_page.limits.live_clients_per_address: must be at least 1",
        "status_page.limits.reserve_fds: must be at least 64",
    ]
    with pytest.raises(ConfigError) as error:
        load_config_text("status_page: {limits: {live_clients: 10, "
                         "live_clients_per_address: 20}}\n")
    assert [str(p) for p in error.value.problems] == [
        "status_page.limits: live_clients_per_address (20) must not be more than "
        "live_clients (10)"]
    limits = load_config_text("status_page: {limits: {header_timeout: 1m}}\n").status_page.limits
    assert (limits.header_timeout.total_seconds(), limits.body_timeout.total_seconds(),
            limits.live_clients, limits.live_clients_per_address, limits.reserve_fds) == (
        60, 30, 5000, 100, 1024)
