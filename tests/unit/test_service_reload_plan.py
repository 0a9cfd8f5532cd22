"""What a SIGHUP reload applies and what waits for a restart (bot/service/reload.py)."""

from __future__ import annotations

from bot.config import load_config_text
from bot.service.reload import plan_reload

BASE = """
database: {url: 'sqlite+aiosqlite:///desk.db'}
status_page: {listen: '127.0.0.1:8080', title: Status}
irc:
  - {name: net, host: irc.example.org, nick: sd, channels: ['#ops'], password: old-secret}
users:
  - {name: alice, roles: [status], irc: {nick: alice}}
components: [{name: Gerrit}]
paging:
  escalation_managers:
    - {name: bob, contacts: {irc: bob}}
    - {name: carol, contacts: {irc: carol}}
  rotation: {handoff: "monday 09:00"}
  providers: {chat: {}}
"""


def test_nothing_changed() -> None:
    plan = plan_reload(load_config_text(BASE), load_config_text(BASE))
    assert (plan.applied, plan.kept) == ([], [])


def test_users_components_rotation_are_applied_together() -> None:
    running = load_config_text(BASE)
    new = load_config_text(BASE.replace("name: alice", "name: dave")
                           .replace("components:",
                                    "incidents: {roles: [comms, liaison]}\ncomponents:")
                           .replace("[{name: Gerrit}]", "[{name: Gerrit}, {name: Wiki}]")
                           .replace('"monday 09:00"', '"tuesday 10:00"')
                           .replace("contacts: {irc: carol}", "contacts: {irc: carol2}"))
    plan = plan_reload(running, new)
    assert sorted(plan.applied) == ["components", "incidents.roles",
                                    "paging.escalation_managers", "paging.rotation", "users"]
    assert plan.config.incidents.roles == ["lead", "em", "comms", "liaison"]
    assert plan.kept == []
    assert [u.name for u in plan.config.users] == ["dave"]
    assert [c.name for c in plan.config.components] == ["Gerrit", "Wiki"]
    assert plan.config.paging.rotation is not None
    assert plan.config.paging.rotation.handoff == new.paging.rotation.handoff  # type: ignore[union-attr]
    assert plan.config.paging.escalation_managers[1].contacts.irc == "carol2"
    assert running.users[0].name == "alice"  # the running one is not changed in place


def test_what_needs_a_restart_is_named_and_kept() -> None:
    running = load_config_text(BASE)
    new = load_config_text(BASE.replace("127.0.0.1:8080", "127.0.0.1:8081")
                           .replace("password: old-secret", "password: new-secret")
                           .replace("name: alice", "name: dave"))
    plan = plan_reload(running, new)
    assert plan.applied == ["users"]
    # A changed secret counts as a change, and only the key is named.
    assert sorted(plan.kept) == ["irc", "status_page.listen"]
    assert plan.config.status_page.listen == "127.0.0.1:8080"
    assert plan.config.irc[0].password is not None
    assert plan.config.irc[0].password.get_secret_value() == "old-secret"
    assert "secret" not in repr(plan.applied + plan.kept)


def test_turning_paging_off_needs_a_restart() -> None:
    running = load_config_text(BASE)
    new = load_config_text(BASE.replace("""  escalation_managers:
    - {name: bob, contacts: {irc: bob}}
    - {name: carol, contacts: {irc: carol}}
  rotation: {handoff: "monday 09:00"}
""", ""))
    plan = plan_reload(running, new)
    assert plan.applied == []
    assert sorted(plan.kept) == ["paging.escalation_managers", "paging.rotation"]
    assert len(plan.config.paging.escalation_managers) == 2
