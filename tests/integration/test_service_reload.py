"""SIGHUP reloads the configuration of a running `statusdesk run` on a real IRC server
(ngIRCd): who may do what and the components change at once, the IRC connection stays (the
server sees no QUIT and no new connection), a broken file is refused with `PATH: message` in
the log and the running configuration stays, and keys that need a restart are named."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.console_bot import Bot, http_get
from tests.irc_bot import unique
from tests.irc_client import RawClient
from tests.lease_rig import health, irc_joined, until
from tests.matrix_scene import Scene as MatrixScene
from tests.matrix_scene import make_scene
from tests.servers.ngircd import NgircdServer
from tests.servers.ports import free_port
from tests.servers.synapse import SynapseServer


@dataclass
class Scene:
    bot: Bot
    config: Path
    port: int
    nick: str
    channel: str
    watcher: RawClient
    alice: RawClient
    bob: RawClient
    ngircd: NgircdServer

    def write(self, users: str, components: str = "[{name: Gerrit}]",
              title: str = "Test", managers: str = "[ann, ben]",
              roles: str = "[comms, scribe]") -> None:
        write_config(self.config, self.port, self.nick, self.channel, self.ngircd,
                     users=users, components=components, title=title, managers=managers,
                     roles=roles)

    def reload(self) -> None:
        self.bot.process.send_signal(signal.SIGHUP)

    async def logged(self, text: str, within: float = 15.0) -> str:
        await until(lambda: text in self.bot.stderr(), within, f"log line {text!r}")
        return self.bot.stderr()

    async def answer(self, client: RawClient, command: str) -> str:
        """What the bot answers `client` in the channel."""
        since = client.mark()
        await client.say(self.channel, command)
        line = await client.wait_for(
            lambda m: m.command == "PRIVMSG" and m.nick == self.nick
            and m.text.startswith(f"{client.nick}: "), since=since, within=20)
        return line.text


def write_config(path: Path, port: int, nick: str, channel: str, ngircd: NgircdServer, *,
                 users: str, components: str = "[{name: Gerrit}]", title: str = "Test",
                 managers: str = "[ann, ben]", roles: str = "[comms, scribe]") -> None:
    """`managers`: the escalation managers in rotation order (each reached by IRC nick)."""
    managers_yaml = "".join(f"    - {{name: {name}, contacts: {{irc: {name}}}}}\n"
                            for name in managers.strip("[]").split(", "))
    path.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{path.parent}/desk.db'}}\n"
        f"status_page: {{listen: '127.0.0.1:{port}', title: {title}}}\n"
        "irc:\n"
        f"  - {{name: testnet, host: 127.0.0.1, port: {ngircd.port}, tls: false,\n"
        f"     nick: {nick}, channels: ['{channel}'],\n"
        "     rate: {burst: 10, per_second: 5.0}}\n"
        f"users: {users}\n"
        f"components: {components}\n"
        f"incidents: {{roles: {roles}}}\n"
        "paging:\n  providers: {chat: {}}\n  rotation: {handoff: 'monday 09:00'}\n"
        "  escalation_managers:\n" + managers_yaml)


ALICE_ONLY = "[{name: alice, roles: [status, incident], irc: {nick: alice}}]"
BOB_ONLY = "[{name: bob, roles: [status, incident], irc: {nick: bob}}]"


@pytest.fixture
async def scene(tmp_path: Path, ngircd: NgircdServer) -> AsyncIterator[Scene]:
    clients: list[RawClient] = []
    bot: Bot | None = None
    try:
        channel = unique("#reload-")
        watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
        clients.append(watcher)
        await watcher.join(channel)
        for name in ("alice", "bob"):
            client = await RawClient.connect(ngircd.host, ngircd.port, name)
            clients.append(client)
            await client.join(channel)
        config, port, nick = tmp_path / "config.yaml", free_port(), unique("sd")
        write_config(config, port, nick, channel, ngircd, users=ALICE_ONLY)
        bot = Bot(config, tmp_path)
        await until(lambda: irc_joined(port, [channel]), 30, "bot joined")
        watcher, alice, bob = clients
        yield Scene(bot, config, port, nick, channel, watcher, alice, bob, ngircd)
    finally:
        for client in clients:
            await client.close()
        if bot is not None:
            if bot.process.poll() is None:
                bot.kill()
            print(f"--- stderr of the bot ---\n{bot.stderr()}")


def connects(scene: Scene) -> object:
    """How many times the IRC transport connected to the server (/healthz)."""
    return health(scene.port)["transports"]["irc/testnet"]["connects"]  # type: ignore[index]


def bot_came_or_went(scene: Scene, since: int) -> list[str]:
    """QUIT, JOIN or PART by the bot the watcher saw: a dropped or new connection."""
    return [m.raw for m in scene.watcher.lines[since:]
            if m.nick == scene.nick and m.command in ("QUIT", "JOIN", "PART", "NICK")]


async def test_sighup_swaps_the_whitelist_and_components_on_the_same_connection(
        scene: Scene) -> None:
    assert (await scene.answer(scene.alice, "#status notice Before")).startswith(
        "alice: Notice sent")
    refused = await scene.answer(scene.bob, "#status notice Before")
    assert "Notice sent" not in refused
    since = scene.watcher.mark()

    scene.write(BOB_ONLY, components="[{name: Gerrit}, {name: Wiki}]")
    scene.reload()
    log = await scene.logged(f"configuration reloaded from {scene.config}: users, components")
    assert "cannot be changed while running" not in log

    assert (await scene.answer(scene.bob, "#status notice After")).startswith(
        "bob: Notice sent")
    assert await scene.answer(scene.alice, "#status notice After") == refused.replace(
        "bob", "alice")
    # The page is rebuilt beside the commands (at most every 0.25 s, longer on a busy host).
    await until(lambda: b"Wiki" in http_get(scene.port, "/")[2], 10, "Wiki on the page")
    # The bot never left: no QUIT, no JOIN, and its one connection is the first one.
    assert bot_came_or_went(scene, since) == []
    assert connects(scene) == 1


async def test_a_broken_file_is_refused_and_the_old_configuration_stays(
        scene: Scene) -> None:
    scene.config.write_text(scene.config.read_text().replace(
        "users: [{name: alice", "users: [{name: alice, rolez: [x]"))
    scene.reload()
    log = await scene.logged(f"configuration reload refused ({scene.config})")
    assert "users[0].rolez: unknown key" in log.replace(f"{scene.config}: ", "")
    assert (await scene.answer(scene.alice, "#status notice Still here")).startswith(
        "alice: Notice sent")
    # The service manager hears the end of the reload either way (READY=1 after RELOADING=1).
    assert scene.bot.process.poll() is None


async def test_keys_that_need_a_restart_are_named_and_the_rest_applied(
        scene: Scene) -> None:
    since = scene.watcher.mark()
    scene.write(BOB_ONLY, title="Renamed")
    scene.config.write_text(scene.config.read_text().replace(
        "rate: {burst: 10, per_second: 5.0}", "rate: {burst: 9, per_second: 5.0}"))
    scene.reload()
    log = await scene.logged("configuration reloaded")
    assert "reload: irc, status_page.title changed but cannot be changed while running" in log
    assert (await scene.answer(scene.bob, "#status notice Applied")).startswith(
        "bob: Notice sent")
    status, _, page = http_get(scene.port, "/")
    assert status == 200 and b"Renamed" not in page  # kept until a restart, as the warning says
    assert bot_came_or_went(scene, since) == []


async def test_sighup_changes_the_rotation(scene: Scene) -> None:
    before = await scene.answer(scene.alice, "#oncall")
    assert "ann" in before or "ben" in before, before
    scene.write(ALICE_ONLY, managers="[cid]")
    scene.reload()
    await scene.logged(f"configuration reloaded from {scene.config}: "
                       "paging.escalation_managers")
    after = await scene.answer(scene.alice, "#oncall")
    assert "cid" in after and "ann" not in after and "ben" not in after, after


async def test_sighup_changes_the_incident_roles(scene: Scene) -> None:
    before = await scene.answer(scene.alice, "#incident 1 role liaison carol")
    assert before.startswith("alice: liaison is not a role here"), before
    scene.write(ALICE_ONLY, roles="[comms, scribe, liaison]")
    scene.reload()
    await scene.logged(f"configuration reloaded from {scene.config}: incidents.roles")
    after = await scene.answer(scene.alice, "#incident 1 role liaison carol")
    assert "is not a role here" not in after, after


@pytest.fixture
async def matrix_scene(synapse: SynapseServer) -> AsyncIterator[MatrixScene]:
    """The Matrix scene (tests/matrix_scene.py) under another name: `scene` is IRC's here."""
    made = await make_scene(synapse)
    try:
        yield made
    finally:
        await made.alice.close()
        await made.mallory.close()


async def test_sighup_on_matrix_keeps_the_session(matrix_scene: MatrixScene,
                                                  tmp_path: Path) -> None:
    """On Synapse: Mallory whitelisted by a reload is obeyed at once; the bot neither logs in
    again nor leaves a room (one login, the same device, every room still joined)."""
    port = free_port()
    config = tmp_path / "config.yaml"
    base = (f"database: {{url: 'sqlite+aiosqlite:///{tmp_path}/desk.db'}}\n"
            f"status_page: {{listen: '127.0.0.1:{port}', title: Test}}\n"
            + matrix_scene.config())
    config.write_text(base)
    bot = Bot(config, tmp_path)
    try:
        await until(lambda: matrix_joined(port), 90, "bot joined its Matrix rooms")
        device = health(port)["transports"]["matrix/localhost"]["device_id"]  # type: ignore[index]
        mallory = matrix_scene.mallory
        await mallory.say(matrix_scene.ops, "#status notice Before")
        await mallory.wait_for(lambda seen: seen.sender == matrix_scene.bot
                               and "Notice sent" not in seen.body
                               and mallory.user_id.split(":")[0].lstrip("@") in seen.body)

        config.write_text(base + "  - name: mallory\n    roles: [status, incident]\n"
                          f"    matrix: '{mallory.user_id}'\n")
        bot.process.send_signal(signal.SIGHUP)
        await until(lambda: f"configuration reloaded from {config}: users" in bot.stderr(),
                    15, "reloaded")
        await mallory.say(matrix_scene.ops, "#status notice After")
        await mallory.wait_for(matrix_scene.from_bot(matrix_scene.ops, "NOTICE: After"))

        assert matrix_joined(port)
        assert health(port)["transports"]["matrix/localhost"]["device_id"] == device  # type: ignore[index]
        log = bot.stderr()
        assert log.count("matrix: logged in as") + log.count("matrix: resumed as") == 1, log
    finally:
        if bot.process.poll() is None:
            bot.kill()
        print(f"--- stderr of the bot ---\n{bot.stderr()}")


def matrix_joined(port: int) -> bool:
    try:
        detail = health(port)["transports"].get("matrix/localhost")  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return False
    return bool(detail and detail.get("connected")
                and all(state == "joined" for state in detail["channels"].values()))
