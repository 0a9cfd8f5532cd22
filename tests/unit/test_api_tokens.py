"""Token format, the token identity and the whitelist (no database: the pure parts)."""

from __future__ import annotations

from bot.api.command_route import token_message
from commands.auth import Identity, Principal, Whitelist
from commands.model import Role
from commands.rate_limit import sender_key
from storage.api_tokens import TokenOwner, split_token


def test_split_token() -> None:
    assert split_token("sdk_12_abc_def") == (12, "abc_def")
    for bad in ("", "sdk_", "sdk_12", "sdk_12_", "sdk_x_abc", "abc_12_x", "sdk_-1_x",
                "sdk_" + "9" * 19 + "_x", "sdk_1_" + "x" * 201, "sdk_١٢_x"):
        assert split_token(bad) is None, bad


def test_a_token_speaks_for_its_user_and_names_its_label() -> None:
    alice = Principal("alice", frozenset({Role.STATUS}), irc_account="alice")
    whitelist = Whitelist([alice])
    message = token_message(TokenOwner(3, "alice", "laptop"), "#status ok")
    assert whitelist.identify(message.identity) == alice
    assert message.identity.describe() == "api token laptop"
    assert (message.transport, message.sender, message.private) == ("api", "alice", True)
    assert whitelist.identify(token_message(TokenOwner(4, "bob", "x"), "").identity) is None
    # Elsewhere the user's name proves nothing: not as an IRC nick, not on an `api`
    # identity without a token behind it.
    assert whitelist.identify(Identity(transport="irc", nick="alice")) is None
    assert whitelist.identify(Identity(transport="api", nick="alice")) is None
    # The rate limit counts the user, whichever of their tokens.
    assert sender_key(message.identity) == sender_key(
        token_message(TokenOwner(5, "alice", "phone"), "").identity)
