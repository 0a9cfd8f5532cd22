"""Failover and scale-out: two `statusdesk run` instances on one PostgreSQL database.

    .venv/bin/python bench/failover.py [--rounds 10] [--seconds 8] [--connections 64]

1. Failover: a leader and a standby (console transport on pipes). The leader is SIGKILLed
   and, at the same instant, a `#status log` is typed into the standby's console; the figure
   is the time from the kill to the standby's answer, i.e. to the first command handled by
   the new leader (election, starting the chat side, applying the command). The killed
   instance is restarted as the next standby; median and max over the rounds.
2. The page on one vs two instances: wrk (one thread each, keep-alive) on `/` of one
   instance, then two wrk at once, one per instance; requests/s summed, as a ratio.

Needs Debian's wrk and PostgreSQL (tests/servers/install.sh installs PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.page import WrkResult, wrk
from tests.console_bot import Bot, http_get, role_of, wait_for_http, wait_for_role
from tests.servers.ports import free_port
from tests.servers.postgres import throwaway_database


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
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
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
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
