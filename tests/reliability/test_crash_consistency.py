"""Crash consistency: `statusdesk run` is SIGKILLed at random moments while operators type
commands on IRC and Matrix, and restarted on the same database, round after round.

Afterwards: every accepted command is in the database exactly once (and no command twice);
a command sent on IRC and never answered at most once; one sent on Matrix exactly once
(the room keeps it for the restart). Every broadcast of a committed command was seen once
in every channel and room, except IRC notices the outbox records as interrupted (in flight
at the kill: at most once, counted and reported). Each page reached the local PagerDuty as
one alert, and every topic shows what the final state says.

The seed is printed; `STATUSDESK_CRASH_SEED=N` replays a run's kill timings,
`STATUSDESK_CRASH_ROUNDS=N` changes the number of rounds.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
import pytest

from storage.db import open_store
from storage.unit_of_work import Store
from tests.figures import record
from tests.irc_bot import unique
from tests.irc_client import RawClient
from tests.matrix_client import PASSWORD, MatrixUser
from tests.reliability.crash_rig import (
    IrcOperator,
    Ledger,
    MatrixOperator,
    Watchers,
    all_joined,
    applied,
    health,
    notices,
    rows,
    scalar,
)
from tests.servers.fake_pagerduty import FakePagerDuty
from tests.servers.ngircd import NgircdServer
from tests.servers.ports import free_port
from tests.servers.synapse import SynapseServer

FAST_ROUNDS = 4
SOAK_ROUNDS = 50
BOB_KEY = "b" * 32
READY_WAIT = 90.0
KILL_AFTER = 3.0
"""Longest time commands flow before the kill (a uniformly random moment up to this)."""
KILL_DURING_START = 0.12
"""Share of rounds killed while the bot is still starting (migrations, take-over, joins)."""
SAY_WHILE_DOWN = 0.3
"""Share of rounds after which a Matrix command is typed while the bot is dead."""


def rounds(default: int) -> int:
    return int(os.environ.get("STATUSDESK_CRASH_ROUNDS") or default)


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path

    def tail(self, lines: int = 40) -> str:
        if not self.log.closed:
            self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Rig:
    db_url: str
    tmp_path: Path
    config: Path
    port: int
    transports: tuple[str, ...]
    http: aiohttp.ClientSession
    kills: int = 0
    killed_starting: int = 0
    round_seconds: list[float] = field(default_factory=list)
    last: Process | None = None

    def start(self, name: str) -> Process:
        log_path = self.tmp_path / f"bot-{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "-c", str(self.config)],
            cwd=self.tmp_path, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        self.last = Process(popen, log, log_path)
        return self.last

    def kill(self, process: Process) -> None:
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(30)
        process.log.close()
        self.kills += 1

    async def ready(self, process: Process) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + READY_WAIT
        while not all_joined(await health(self.http, self.port), self.transports):
            if process.popen.poll() is not None:
                raise AssertionError(f"the bot exited ({process.popen.returncode}):\n"
                                     f"{process.tail()}")
            if loop.time() > end:
                raise AssertionError(f"the bot never joined everything: "
                                     f"{await health(self.http, self.port)}\n{process.tail()}")
            await asyncio.sleep(0.05)


def _config(db_url: str, port: int, ngircd: NgircdServer, nick: str, channels: list[str],
            alice: str, pagerduty: FakePagerDuty, matrix: str, marta: str) -> str:
    listed = ", ".join(f"'{c}'" for c in channels)
    return (
        f"database: {{url: '{db_url}'}}\n"
        f"status_page: {{listen: '127.0.0.1:{port}', title: Crash}}\n"
        "irc:\n"
        f"  - {{name: testnet, host: 127.0.0.1, port: {ngircd.port}, tls: false, nick: {nick},"
        f" channels: [{listed}], rate: {{burst: 20, per_second: 20.0}}}}\n"
        f"{matrix}"
        "users:\n"
        f"  - {{name: alice, roles: [status, incident], irc: {{nick: {alice}}}}}\n"
        f"  - {{name: marta, roles: [status, incident], matrix: '{marta}'}}\n"
        "paging:\n"
        "  auto_page_severity: null\n"
        f"  escalation_managers: [{{name: bob, contacts: {{pagerduty: '{BOB_KEY}'}}}}]\n"
        f"  providers: {{pagerduty: {{url: '{pagerduty.enqueue_url}'}}}}\n"
    )


async def _until(check: Callable[[], bool | Awaitable[bool]], what: str,
                 within: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > end:
            raise AssertionError(f"{what}: not within {within}s")
        await asyncio.sleep(0.1)


async def crash_rounds(db_url: str, tmp_path: Path, ngircd: NgircdServer,
                       synapse: SynapseServer, count: int, label: str) -> None:
    seed = int(os.environ.get("STATUSDESK_CRASH_SEED") or random.randrange(2 ** 32))
    print(f"\ncrash consistency ({label}): {count} rounds, seed {seed} "
          f"(STATUSDESK_CRASH_SEED={seed} to replay)", flush=True)
    rng = random.Random(seed)
    ledger = Ledger(random.Random(seed + 1))
    nick = unique("crash")
    channels = [unique("#crash-a-"), unique("#crash-b-"), unique("#crash-c-")]
    original = {c.lower(): f"Original topic of {c}" for c in channels}

    # IRC: a watcher in every channel (it made them, and lets anyone set the topic, as a
    # channel's services would have the bot able to), and Alice, the IRC operator.
    watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
    for channel in channels:
        await watcher.join(channel)
        await watcher.send(f"MODE {channel} -t")
        await watcher.send(f"TOPIC {channel} :{original[channel.lower()]}")
    alice = await RawClient.connect(ngircd.host, ngircd.port, unique("alice"))
    await alice.join(channels[0])

    # Matrix: Marta, the operator, made two rooms; Wanda watches them.
    tag = uuid.uuid4().hex[:8]
    bot_id = synapse.register(f"crashbot{tag}", PASSWORD)
    synapse.register(f"marta{tag}", PASSWORD)
    synapse.register(f"wanda{tag}", PASSWORD)
    marta = await MatrixUser.login(synapse, f"marta{tag}")
    wanda = await MatrixUser.login(synapse, f"wanda{tag}")
    rooms = []
    for index in range(2):
        room = await marta.create_room(invite=(bot_id, wanda.user_id), power={bot_id: 50},
                                       topic=f"Original topic of room {index}")
        await wanda.join(room)
        rooms.append(room)
        original[room] = f"Original topic of room {index}"
    matrix = (
        "matrix:\n"
        f"  homeserver: {synapse.base_url}\n"
        f"  user_id: '{bot_id}'\n"
        f"  password: '{PASSWORD}'\n"
        f"  rooms: [{', '.join(repr(r) for r in rooms)}]\n"
    )

    port = free_port()
    config = tmp_path / "crash.yaml"
    pagerduty = FakePagerDuty()
    async with pagerduty, aiohttp.ClientSession() as http:
        config.write_text(_config(db_url, port, ngircd, nick, channels, alice.nick, pagerduty,
                                  matrix, marta.user_id))
        rig = Rig(db_url, tmp_path, config, port, ("irc/testnet", "matrix/localhost"), http)
        store = open_store(db_url)
        irc_op = IrcOperator(ledger, random.Random(seed + 2), alice, channels[0], nick)
        mx_op = MatrixOperator(ledger, random.Random(seed + 3), marta, rooms[0], bot_id)
        watchers = Watchers(watcher, nick, wanda, bot_id)
        try:
            for number in range(count):
                started = time.monotonic()
                process = rig.start(f"round{number:02d}")
                if number > 0 and rng.random() < KILL_DURING_START:
                    await asyncio.sleep(rng.uniform(0.2, 2.0))
                    rig.kill(process)
                    rig.killed_starting += 1
                    rig.round_seconds.append(time.monotonic() - started)
                    continue
                await rig.ready(process)
                ready = time.monotonic() - started
                before = len(ledger.commands)
                await mx_op.recover(store)
                await irc_op.refresh(store)
                await mx_op.refresh(store)
                stop = asyncio.Event()
                typing = [asyncio.create_task(irc_op.run(number, stop)),
                          asyncio.create_task(mx_op.run(number, stop))]
                delay = rng.uniform(0.05, KILL_AFTER)
                await asyncio.sleep(delay)
                for task in typing:
                    if task.done():
                        task.result()  # an operator's failure is the test's failure
                rig.kill(process)
                stop.set()
                await asyncio.wait_for(asyncio.gather(*typing), 60)
                await asyncio.gather(irc_op.settle(1.0), mx_op.settle(1.0))
                if rng.random() < SAY_WHILE_DOWN:
                    await mx_op.say_while_down(number)
                rig.round_seconds.append(time.monotonic() - started)
                print(f"round {number}: ready after {ready:.1f}s, killed {delay:.2f}s later "
                      f"with {len(ledger.commands) - before} commands typed", flush=True)

            # The last start: everything still queued goes out; then a clean stop.
            final = rig.start("final")
            await rig.ready(final)
            await mx_op.recover(store)
            try:
                await _drained(store)
            except AssertionError:
                for row in await rows(store, "SELECT kind, lane, attempts, next_attempt_at, "
                                             "claimed_by, last_error FROM outbox WHERE "
                                             "delivered_at IS NULL AND failed_at IS NULL"):
                    print("pending:", *row)
                raise
            delivered = [n for n in await notices(store) if n.delivered]
            await _until(lambda: all(watchers.seen()[n.key] for n in delivered),
                         "the watchers saw every delivered notice", 60)
            page_keys = [row[0] for row in await rows(store, "SELECT dedup_key FROM pages")]
            await _until(lambda: all(pagerduty.open_alert(k) or any(
                a.dedup_key == k for a in pagerduty.alerts) for k in page_keys),
                "PagerDuty got every page", 30)
            await asyncio.sleep(1.0)  # anything duplicated would arrive by now
            final.popen.send_signal(signal.SIGTERM)
            assert final.popen.wait(60) == 0, final.tail()
            final.log.close()

            await _check(store, ledger, watchers, pagerduty, rig, count, label, seed, watcher,
                         wanda, channels, rooms, original)
        except BaseException:
            if rig.last is not None:
                print(f"--- the bot's last log ---\n{rig.last.tail(80)}")
            raise
        finally:
            if rig.last is not None and rig.last.popen.poll() is None:
                rig.kill(rig.last)
            await store.close()
            for client in (watcher, alice):
                await client.close()
            for user in (marta, wanda):
                await user.close()


async def _drained(store: Store, stall: float = 60.0) -> None:
    """Wait until the outbox is empty, for as long as it keeps shrinking: a backlog of topic
    changes takes a while on IRC (the server paces each TOPIC), but must not stall."""
    loop = asyncio.get_running_loop()
    last, since = -1, loop.time()
    while True:
        pending = int(await scalar(store, "SELECT count(*) FROM outbox WHERE delivered_at "
                                          "IS NULL AND failed_at IS NULL"))
        if pending == 0:
            return
        if pending != last:
            last, since = pending, loop.time()
        elif loop.time() - since > stall:
            raise AssertionError(f"the outbox stalled with {pending} effects pending")
        await asyncio.sleep(0.2)


async def _check(store: Store, ledger: Ledger, watchers: Watchers, pagerduty: FakePagerDuty,
                 rig: Rig, count: int, label: str, seed: int, watcher: RawClient,
                 wanda: MatrixUser, channels: list[str], rooms: list[str],
                 original: dict[str, str]) -> None:
    problems: list[str] = []

    # 1. Commands: accepted exactly once; unanswered at most once (Matrix: exactly once).
    outcome: Counter[str] = Counter()
    duplicates = 0
    for command in ledger.commands:
        times = await applied(store, command)
        duplicates += max(0, times - 1)
        if command.accepted:
            outcome["accepted"] += 1
            if times != 1:
                problems.append(f"accepted {command.line!r} (round {command.round}) is in the "
                                f"database {times} times")
        elif command.network == "matrix":
            outcome["matrix unanswered, applied after restart"] += times == 1
            if times != 1:
                problems.append(f"{command.line!r} sent on Matrix (round {command.round}) is "
                                f"in the database {times} times, not once")
        else:
            outcome[f"irc unanswered, {'applied' if times else 'lost'}"] += 1
            if times > 1:
                problems.append(f"unanswered {command.line!r} is in the database {times} times")
    for text, times in await rows(
            store, "SELECT text, count(*) FROM audit_log WHERE outcome = 'accepted' "
                   "GROUP BY text HAVING count(*) > 1"):
        duplicates += times - 1
        problems.append(f"the audit log has {text!r} {times} times")
    sent_texts = {c.line for c in ledger.commands}
    for (text,) in await rows(store, "SELECT text FROM audit_log WHERE outcome = 'accepted'"):
        if text not in sent_texts:
            problems.append(f"the audit log has {text!r}, which nobody sent")

    # 2. The outbox settled everything; the only give-ups are IRC notices cut off by a kill.
    effects = await rows(store, "SELECT kind, lane, failed_at, last_error FROM outbox "
                                "WHERE delivered_at IS NULL")
    for kind, lane, failed_at, error in effects:
        if failed_at is None:
            problems.append(f"{kind} to {lane} still pending")
        elif not (kind == "notice" and lane.startswith("irc/")
                  and (error or "").startswith("interrupted")):
            problems.append(f"{kind} to {lane} given up: {error}")

    # 3. Broadcasts: once per channel and room; interrupted IRC notices at most once.
    seen = watchers.seen()
    queued = await notices(store)
    expected = {n.key for n in queued}
    interrupted = Counter[str]()
    for notice in queued:
        times = seen[notice.key]
        if notice.interrupted:
            interrupted["went out" if times else "lost"] += 1
            if times > 1:
                problems.append(f"interrupted {notice.key} seen {times} times")
        elif times != 1:
            problems.append(f"{notice.key} seen {times} times, not once")
    for key, times in seen.items():
        duplicates += max(0, times - 1)
        if key not in expected:
            problems.append(f"{key} seen {times} times but never queued")

    # 4. Pages: one PagerDuty alert per dedup key; resolved incidents resolved there too.
    repeated_triggers = 0
    pages = await rows(store, "SELECT p.dedup_key, i.state FROM pages p "
                              "JOIN incidents i ON i.id = p.incident_id")
    for key, state in pages:
        alerts = [a for a in pagerduty.alerts if a.dedup_key == key]
        if len(alerts) != 1:
            problems.append(f"page {key}: {len(alerts)} PagerDuty alerts")
            continue
        triggers = sum(e["event_action"] == "trigger" for e in alerts[0].events)
        repeated_triggers += triggers - 1
        if state == "resolved" and alerts[0].status != "resolved":
            problems.append(f"page {key}: incident resolved, PagerDuty says "
                            f"{alerts[0].status}")

    # 5. Topics: what the final state says, everywhere.
    alert = await rows(store, "SELECT text FROM current_alert")
    for channel in channels:
        want = alert[0][0] if alert else original[channel.lower()]
        got = await watcher.topic(channel)
        if got != want:
            problems.append(f"topic of {channel} is {got!r}, want {want!r}")
    for room in rooms:
        want = alert[0][0] if alert else original[room]
        got = await wanda.topic(room)
        if got != want:
            problems.append(f"topic of {room} is {got!r}, want {want!r}")

    per_round = sorted(rig.round_seconds)
    median = per_round[len(per_round) // 2] if per_round else 0.0
    record("crash consistency",
           f"{label}: {count} rounds (seed {seed}), {rig.kills} SIGKILLs "
           f"({rig.killed_starting} while starting), median round {median:.1f}s; "
           f"{len(ledger.commands)} commands sent, {outcome['accepted']} accepted, "
           f"{outcome['matrix unanswered, applied after restart']} unanswered Matrix commands "
           f"applied after the restart, IRC unanswered: {outcome['irc unanswered, applied']} "
           f"applied / {outcome['irc unanswered, lost']} lost")
    record("crash consistency",
           f"{label}: {len(queued)} broadcasts checked ({sum(seen.values())} seen), "
           f"interrupted IRC notices: {interrupted['went out']} went out / "
           f"{interrupted['lost']} lost, {len(pages)} pages ({repeated_triggers} repeated "
           f"triggers folded by dedup_key), duplicates: {duplicates}")
    assert not problems, "\n".join(problems)
    assert duplicates == 0


async def test_crash_consistency(sqlite_url: str, tmp_path: Path, ngircd: NgircdServer,
                                 synapse: SynapseServer) -> None:
    await crash_rounds(sqlite_url, tmp_path, ngircd, synapse, rounds(FAST_ROUNDS), "sqlite")


@pytest.mark.soak
async def test_crash_consistency_soak(sqlite_url: str, tmp_path: Path, ngircd: NgircdServer,
                                      synapse: SynapseServer) -> None:
    await crash_rounds(sqlite_url, tmp_path, ngircd, synapse, rounds(SOAK_ROUNDS),
                       "sqlite soak")


@pytest.mark.soak
async def test_crash_consistency_postgres_soak(pg_url: str, tmp_path: Path,
                                               ngircd: NgircdServer,
                                               synapse: SynapseServer) -> None:
    await crash_rounds(pg_url, tmp_path, ngircd, synapse, rounds(SOAK_ROUNDS),
                       "postgresql soak")
