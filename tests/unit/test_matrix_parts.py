"""The Matrix transport's pure parts: message content, which events count, room names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_config_text
from bot.transports.matrix.crypto_store import crypto_store_path
from bot.transports.matrix.formatting import MAX_BODY, message_content
from bot.transports.matrix.inbound import (
    RecentEvents,
    TimelineGate,
    command_text,
    is_own_join,
)
from bot.transports.matrix.rooms import RoomDirectory
from bot.transports.matrix.trust import normalize_key
from commands.auth import Identity, Principal, Whitelist
from commands.model import Role

BOT = "@statusdesk:example.org"


def test_notice_html_is_the_escaped_text() -> None:
    content = message_content('NOTICE: <script>alert("x")</script> & <b>bold</b>')
    assert content["msgtype"] == "m.notice"
    assert content["body"] == 'NOTICE: <script>alert("x")</script> & <b>bold</b>'
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"] == (
        "NOTICE: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;")
    assert content["m.mentions"] == {}


def test_notice_never_mentions_anyone_it_quotes() -> None:
    content = message_content("NOTICE: @room please look, @bob:example.org too")
    assert content["m.mentions"] == {}
    assert "<a " not in content["formatted_body"]


def test_reply_mentions_the_addressee_with_a_link() -> None:
    content = message_content("@alice:example.org: Alert set <now>")
    assert content["m.mentions"] == {"user_ids": ["@alice:example.org"]}
    assert content["formatted_body"] == (
        '<a href="https://matrix.to/#/@alice:example.org">@alice:example.org</a>: '
        "Alert set &lt;now&gt;")


def test_line_breaks_kept_other_controls_dropped_long_text_capped() -> None:
    content = message_content("one\r\ntwo\x00\x1b[31m\tthree")
    assert content["body"] == "one\ntwo[31m\tthree"
    assert content["formatted_body"] == "one<br>two[31m\tthree"
    long = message_content("x" * (MAX_BODY + 50))
    assert len(long["body"]) == MAX_BODY and long["body"].endswith("…")


def test_recent_events_are_bounded_and_remember_order() -> None:
    recent = RecentEvents(limit=3)
    assert recent.add("$1") and recent.add("$2") and recent.add("$3")
    assert not recent.add("$2")
    assert recent.add("$4")
    assert "$1" not in recent and recent.ids() == ["$2", "$3", "$4"]
    assert RecentEvents(recent.ids()).ids() == ["$2", "$3", "$4"]


ALICE = "@alice:example.org"


def _text(sender: str = ALICE) -> dict[str, Any]:
    return {"type": "m.room.message", "sender": sender, "content": {"body": "#status ok"}}


def _member(state_key: str, membership: str = "join", *, was: str | None = None
            ) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "m.room.member", "sender": state_key,
                             "state_key": state_key, "content": {"membership": membership}}
    if was is not None:
        event["unsigned"] = {"prev_content": {"membership": was}}
    return event


def test_first_start_backlog_is_history_whatever_the_membership_says() -> None:
    # The bot account joined long ago (an operator accepted the invitation in a client):
    # its old join in the first sync's window does not make what followed it news.
    gate = TimelineGate(BOT, first_start=True)
    assert gate.news("!a", [_member(BOT, was="invite"), _text(), _text()]) == [False] * 3
    assert not gate.is_live("!a")
    gate.synced(["!a"])
    assert gate.is_live("!a")
    assert gate.news("!a", [_text()]) == [True]


def test_resumed_rooms_are_live_and_our_own_events_never_count() -> None:
    gate = TimelineGate(BOT, live_rooms=["!a"])
    assert gate.news("!a", [_text(), _text(BOT)]) == [True, False]


def test_a_room_joined_while_running_is_news_only_after_our_join() -> None:
    gate = TimelineGate(BOT)
    assert gate.news("!new", [_text()]) == [False]
    assert gate.news("!new", [_text(), _member(ALICE), _member(BOT, was="invite"),
                              _text()]) == [False, False, False, True]
    assert gate.news("!new", [_text()]) == [True]
    gate.left("!new")
    assert gate.news("!new", [_text()]) == [False]


def test_what_precedes_our_join_is_history_even_in_a_live_room() -> None:
    # Joined while the bot was away (listed as joined at start): the history before the
    # join is not news; a profile change (join after join) is not a join.
    gate = TimelineGate(BOT, live_rooms=["!a"])
    assert gate.news("!a", [_text(), _member(BOT), _text()]) == [False, False, True]
    assert gate.news("!a", [_text(), _member(BOT, was="join"), _text()]) == [
        True, False, True]
    assert is_own_join(_member(BOT, was="leave"), BOT)
    assert not is_own_join(_member(BOT, "leave"), BOT)
    assert not is_own_join(_member(ALICE), BOT)


def test_reply_fallback_is_not_part_of_the_command() -> None:
    content = {"m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}}
    body = "> <@bob:example.org> #status alert old\n> more\n\n#status ok fixed"
    assert command_text(body, content) == "#status ok fixed"
    assert command_text("> quoted, not a reply", {}) == "> quoted, not a reply"


def test_rooms_keep_their_configured_names() -> None:
    rooms = RoomDirectory(["#infra:example.org", "!abc:example.org", "!v12hash"])
    assert rooms.unresolved() == ["#infra:example.org"]
    assert rooms.room_id("#infra:example.org") is None
    rooms.resolved("#infra:example.org", "!infra:example.org")
    assert rooms.room_id("#infra:example.org") == "!infra:example.org"
    assert rooms.name_of("!infra:example.org") == "#infra:example.org"
    assert rooms.name_of("!v12hash") == "!v12hash"
    assert rooms.name_of("!dm:example.org") == "!dm:example.org"
    assert rooms.is_configured("!infra:example.org")
    assert not rooms.is_configured("!dm:example.org")
    assert rooms.names() == ["#infra:example.org", "!abc:example.org", "!v12hash"]


def test_crypto_store_sits_beside_the_sqlite_file() -> None:
    assert crypto_store_path("sqlite+aiosqlite:////var/lib/sd/statusdesk.db", None) == Path(
        "/var/lib/sd/statusdesk.db-matrix")
    assert crypto_store_path("postgresql+asyncpg://u@h/db", None) == Path("statusdesk-matrix")
    assert crypto_store_path("sqlite+aiosqlite:///x.db", "/srv/keys") == Path("/srv/keys")


def test_session_keys_compare_without_element_spacing() -> None:
    assert normalize_key("AbCd EfGh\n1234") == "AbCdEfGh1234"


def test_same_localpart_on_another_homeserver_is_someone_else() -> None:
    whitelist = Whitelist([Principal("alice", frozenset({Role.STATUS}),
                                     matrix_user="@alice:example.org")])

    def who(mxid: str) -> Principal | None:
        return whitelist.identify(Identity(transport="matrix", nick=mxid,
                                           network="example.org", matrix_user=mxid))

    assert who("@alice:example.org") is not None
    assert who("@alice:evil.example") is None
    assert who("@alice:example.org.evil.example") is None


def test_check_config_names_bad_matrix_trust_settings() -> None:
    text = (
        "matrix:\n"
        "  homeserver: https://matrix.example.org\n"
        "  user_id: '@bot:example.org'\n"
        "  password: x\n"
        "  rooms: ['#ops:example.org', '!v12roomhash']\n"
        "  trust: paranoid\n"
        "  verified_devices: {alice: {PHONE: key}}\n"
        "  store_path: ''\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config_text(text)
    paths = {problem.path for problem in raised.value.problems}
    assert {"matrix.trust", "matrix.store_path"} <= paths
    assert any(path.startswith("matrix.verified_devices") for path in paths)
