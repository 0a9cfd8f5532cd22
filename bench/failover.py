"""Failover and scale-out: two `statusdesk run` instances on one PostgreSQL database.

    .venv/bin/python bench/failover.py [--rounds 10] [--lease-rounds 10] [--seconds 8]
                                       [--connections 64] [--only lease]

1. Failover: a leader and a standby (console transport on pipes). The leader is SIGKILLed
   and, at the same instant, a `#status log` is typed into the standby's console; the figure
   is the time from the kill to the standby's answer, i.e. to the first command handled by
   the new leader (election, starting the chat side, applying the command). The killed
   instance is restarted as the next standby; median and max over the rounds.
2. The leader lease: two instances on IRC (ngIRCd, a nick each, each reaching PostgreSQL
   through a TCP relay of its own) and a watcher in the channels. Each round loses the
   leader one way — SIGKILL, SIGSTOP, or a network cut (its relay goes silent) — and times
   until the standby's /healthz says leader; then a `#status notice` is posted (the stopped
   or cut-off one has it in its socket too), the stopped one is resumed, and every line the
   old leader's nick says in the channels after the standby took over is counted (an
   effect sent after losing the lease: must be 0). The old one is then killed and a fresh
   standby started for the next round. Median and max per way over the rounds.
3. The page on one vs two instances: wrk (one thread each, keep-alive) on `/` of one
   instance, then two wrk at once, one per instance; requests/s summed, as a ratio.

Needs Debian's wrk, PostgreSQL and ngIRCd (tests/servers/install.sh installs the last two).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.engine import make_url

from bench.page import WrkResult, wrk
from tests.console_bot import Bot, http_get, role_of, wait_for_http, wait_for_role
from tests.irc_bot import unique
from tests.irc_client import RawClient
from tests.lease_rig import RelayThread, irc_config, irc_joined, role, said_by, until
from tests.servers.ngircd import NgircdServer, start_ngircd
from tests.servers.ports import free_port
from tests.servers.postgres import throwaway_database

WAYS = ("SIGKILL", "SIGSTOP", "network cut")


def write_config(directory: Path, name: str, db_url: str) -> tuple[Path, int]:
    port = free_port()
    path = directory / f"{name}.yaml"
    path.write_text(f"database: {{url: '{db_url}'}}\nconsole: true\n"
                    f"status_page: {{listen: '127.0.0.1:{port}', title: Bench}}\n"
                    "incidents: {remind_after: 1d}\n")
    return path, port


def failover_rounds(db_url: str, directory: Path, rounds: int) -> list[float]:
    configs = [write_config(directory, name, db_url) for name in ("a", "b")]
    bots = [Bot(configs[0][0], directory), None]
    wait_for_http(configs[0][1])
    wait_for_role(configs[0][1], "leader")
    leader = 0
    times = []
    try:
        for number in range(rounds):
            standby = 1 - leader
            bots[standby] = Bot(configs[standby][0], directory)
            wait_for_http(configs[standby][1])
            wait_for_role(configs[standby][1], "standby")
            old, new = bots[leader], bots[standby]
            assert old is not None and new is not None
            started = time.monotonic()
            old.process.kill()
            new.type(f"#status log failover round {number}")
            new.expect("<statusdesk> op: Logged on the status page.", timeout=60)
            times.append(time.monotonic() - started)
            old.process.wait()
            print(f"  round {number + 1}: {times[-1] * 1000:.0f} ms", flush=True)
            leader = standby
    finally:
        for bot in bots:
            if bot is not None and bot.process.poll() is None:
                bot.kill()
    return times


class LeaseInstance:
    """One `statusdesk run` on IRC behind its own relay to PostgreSQL."""

    def __init__(self, directory: Path, db_url: str, ngircd: NgircdServer,
                 channels: list[str], lease: str) -> None:
        parsed = make_url(db_url)
        self.relay = RelayThread(parsed.host or "127.0.0.1", parsed.port or 5432)
        self.nick = unique("desk")
        url = parsed.set(port=self.relay.port).render_as_string(hide_password=False)
        config, self.port = irc_config(directory, self.nick, url, ngircd, self.nick, channels,
                                       lease)
        self.bot = Bot(config, directory)

    def lose(self, way: str) -> None:
        if way == "SIGKILL":
            self.bot.process.kill()
        elif way == "SIGSTOP":
            os.kill(self.bot.process.pid, signal.SIGSTOP)
        else:
            self.relay.freeze()

    def close(self) -> None:
        if self.bot.process.poll() is None:
            os.kill(self.bot.process.pid, signal.SIGCONT)
            self.bot.kill()
        self.relay.close()


@dataclass
class LeaseRound:
    way: str
    takeover: float
    effects_after_loss: int
    duplicates: int


async def lease_rounds(db_url: str, directory: Path, rounds: int, lease: str
                       ) -> list[LeaseRound]:
    ngircd = start_ngircd()
    channels = [unique("#bench-a-"), unique("#bench-b-")]
    watcher = await RawClient.connect(ngircd.host, ngircd.port, unique("watch"))
    alice = await RawClient.connect(ngircd.host, ngircd.port, "alice")
    await watcher.join(*channels)
    await alice.join(channels[0])
    leader = LeaseInstance(directory, db_url, ngircd, channels, lease)
    standby: LeaseInstance | None = None
    results: list[LeaseRound] = []
    try:
        await until(lambda: irc_joined(leader.port, channels), 60, "first leader joined")
        for number in range(rounds):
            for way in WAYS:
                standby = LeaseInstance(directory, db_url, ngircd, channels, lease)
                await until(lambda s=standby: role(s.port) == "standby", 60,  # type: ignore[misc]
                            "standby up")
                started = time.monotonic()
                leader.lose(way)
                await until(lambda s=standby: role(s.port) == "leader", 60,  # type: ignore[misc]
                            "takeover", every=0.02)
                took = time.monotonic() - started
                lost_at = watcher.mark()
                await until(lambda s=standby: irc_joined(s.port, channels), 60,
                            "new leader joined")
                text = f"round {number} {way}"
                await alice.say(channels[0], f"#status notice {text}")
                await watcher.wait_for(lambda m, t=text, s=standby: m.nick == s.nick  # type: ignore[misc]
                                       and m.text == f"NOTICE: {t}", since=lost_at,
                                       within=30)
                if way == "SIGSTOP":
                    os.kill(leader.bot.process.pid, signal.SIGCONT)
                if way != "SIGKILL":
                    await until(lambda s=leader: role(s.port) == "standby", 30,  # type: ignore[misc]
                                "old leader stands by")
                await asyncio.sleep(1.0)
                spoken = said_by(watcher, leader.nick, lost_at)
                copies = len(watcher.matching(lambda m, t=text: m.command == "NOTICE"  # type: ignore[misc]
                                              and m.text == f"NOTICE: {t}", since=lost_at))
                results.append(LeaseRound(way, took, len(spoken), copies - len(channels)))
                print(f"  round {number + 1} {way:11}: standby led after "
                      f"{took * 1000:.0f} ms; old leader said {len(spoken)} line(s) after; "
                      f"{copies} copies of the notice in {len(channels)} channels",
                      flush=True)
                leader.close()
                leader, standby = standby, None
    finally:
        for instance in (leader, standby):
            if instance is not None:
                instance.close()
        await watcher.close()
        await alice.close()
        ngircd.cleanup()
    return results


def page_rates(db_url: str, directory: Path, seconds: int, connections: int
               ) -> tuple[WrkResult, list[WrkResult]]:
    configs = [write_config(directory, f"page{n}", db_url) for n in range(2)]
    bots = [Bot(path, directory) for path, _ in configs]
    try:
        for bot, (_, port) in zip(bots, configs, strict=True):
            try:
                wait_for_http(port)
            except AssertionError:
                raise RuntimeError(f"instance did not start: {bot.stderr()}") from None
        deadline = time.monotonic() + 30
        while "leader" not in (roles := [role_of(port) for _, port in configs]):
            if time.monotonic() > deadline:
                raise RuntimeError("no instance became leader")
            time.sleep(0.05)
        leader = roles.index("leader")
        bots[leader].type("#status alert Bench alert: the gate is slow")
        bots[leader].type("#incident open sev2 Database replica lag")
        bots[leader].expect("-statusdesk- NOTICE: Bench alert: the gate is slow")
        time.sleep(1.0)  # the standby's snapshot follows through NOTIFY
        urls = [f"http://127.0.0.1:{port}/" for _, port in configs]
        _, _, body = http_get(configs[1 - leader][1], "/")
        assert b"Bench alert" in body, "the standby's page never caught up"
        one = wrk(urls[0], seconds, connections)
        with ThreadPoolExecutor(2) as pool:
            two = list(pool.map(lambda url: wrk(url, seconds, connections // 2), urls))
        return one, two
    finally:
        for bot in bots:
            if bot.process.poll() is None:
                bot.kill()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--lease-rounds", type=int, default=10,
                        help="rounds of SIGKILL + SIGSTOP + network cut on IRC")
    parser.add_argument("--lease", default="5s", help="database.lease of both instances")
    parser.add_argument("--only", choices=("lease",), default=None,
                        help="run the lease rounds alone")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        async with throwaway_database("failover_lease") as db_url:
            print(f"leader lease: {args.lease_rounds} round(s) of {', '.join(WAYS)} on IRC "
                  f"(lease {args.lease})")
            rounds = await lease_rounds(db_url, directory, args.lease_rounds, args.lease)
        sent_after = sum(r.effects_after_loss for r in rounds)
        duplicated = sum(r.duplicates for r in rounds)
        for way in WAYS:
            times = [r.takeover for r in rounds if r.way == way]
            print(f"{way:11} -> standby leads: median {statistics.median(times) * 1000:5.0f} ms, "
                  f"max {max(times) * 1000:5.0f} ms over {len(times)} rounds")
        print(f"lines the old leader said after the standby took over: {sent_after}; "
              f"notices repeated: {duplicated}")
        if args.only == "lease":
            return 0 if sent_after == 0 and duplicated == 0 else 1
        async with throwaway_database("failover") as db_url:
            print(f"failover: {args.rounds} rounds (SIGKILL the leader, type a command into "
                  "the standby)")
            times = await asyncio.to_thread(failover_rounds, db_url, directory, args.rounds)
            print(f"leader killed -> first command handled by the new leader: "
                  f"median {statistics.median(times) * 1000:.0f} ms, "
                  f"max {max(times) * 1000:.0f} ms over {len(times)} rounds")
        async with throwaway_database("failover_page") as db_url:
            one, two = await asyncio.to_thread(page_rates, db_url, directory, args.seconds,
                                               args.connections)
    total = sum(r.requests_per_second for r in two)
    errors = one.errors + sum(r.errors for r in two)
    print(f"page / on one instance:  {one.requests_per_second:8.0f} req/s "
          f"(p99 {one.p99_ms:.1f} ms)")
    print(f"page / on two instances: {total:8.0f} req/s "
          f"({' + '.join(f'{r.requests_per_second:.0f}' for r in two)}; p99 "
          f"{max(r.p99_ms for r in two):.1f} ms)")
    print(f"two/one ratio: {total / one.requests_per_second:.2f}  (errors: {errors})")
    return 0 if errors == 0 and sent_after == 0 and duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
