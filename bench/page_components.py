"""The front page `/` with and without components on it, in the same run (issue 19).

    .venv/bin/python bench/page_components.py [--rounds 5] [--seconds 4] [--connections 32]

Starts two `statusdesk run` processes side by side (SQLite, console on a pipe), with the
same incidents (90 days of them) and posts: A has no components; B has 12 components in 3
groups with 90 days of history (those incidents hold them at degraded/partial/major, some
are maintenance windows), so its `/` carries the grid and 12 x 90 uptime bars. wrk (1
thread, keep-alive, `Accept-Encoding: gzip` like a browser) then measures `/` on A and on B
in short interleaved rounds (A,B then B,A ...), so a machine that speeds up or slows down
during the run weighs on both alike; the figures are medians over the rounds, and the ratio
is the median of each pair's B/A. Also printed: the size of `/` raw and gzip, and what one
page rebuild costs on each (the statusdesk_page_render_seconds gauge after a change).

Needs Debian's wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.page import wait_http, wrk
from commands.component_names import slug
from storage.components import DeclaredComponent
from storage.db import open_store, upgrade
from tests.servers.ports import free_port

REPO = Path(__file__).resolve().parent.parent
GROUPS = {
    "Code review": ["Gerrit", "Gerrit replication", "Gitea", "Review API"],
    "CI": ["Zuul scheduler", "Zuul executors", "Nodepool", "Log server"],
    "Infrastructure": ["DNS", "Mirrors", "Mailing lists", "Wiki"],
}
STATUSES = ["degraded_performance", "partial_outage", "major_outage"]


def components_yaml() -> str:
    lines = ["components:"]
    for group, names in GROUPS.items():
        lines += [f"  - {{name: {name}, group: {group}, description: '{name.lower()}.example.org'}}"
                  for name in names]
    return "\n".join(lines) + "\n"


def config(work: Path, name: str, port: int, components: bool) -> Path:
    path = work / f"{name}.yaml"
    path.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{work}/{name}.db'}}\n"
        "console: true\n"
        f"status_page: {{listen: '127.0.0.1:{port}', title: 'Bench Status',"
        " public_url: 'https://status.example.org'}\n"
        + (components_yaml() if components else "")
    )
    return path


async def seed_history(db: Path, now: datetime, *, components: bool, seed: int = 19) -> int:
    """The same resolved incidents over the last 90 days in both databases (written through
    the repositories, at past times), so both pages have as many incident pages to render;
    with `components`, 12 components declared 100 days ago, each held by its incidents and
    maintenance windows. Returns the number of status changes written."""
    rng = random.Random(seed)
    store = open_store(f"sqlite+aiosqlite:///{db}")
    changes = 0
    try:
        await upgrade(store.engine)
        declared = [DeclaredComponent(slug(n), n, g, f"{n.lower()}.example.org")
                    for g, names in GROUPS.items() for n in names]
        if components:
            async with store.transaction() as tx:
                await tx.components.sync(declared, now - timedelta(days=100))
        for component in declared:
            for _ in range(rng.randint(3, 8)):
                start = now - timedelta(days=rng.uniform(1, 89))
                end = start + timedelta(minutes=rng.uniform(10, 8 * 60))
                status = rng.choice([*STATUSES, "under_maintenance"])
                title = (f"Maintenance: {component.name} upgrade" if status == "under_maintenance"
                         else f"{component.name} trouble: {status.replace('_', ' ')}")
                async with store.transaction() as tx:
                    incident = await tx.incidents.open(title=title, severity=rng.randint(1, 4),
                                                       opened_by="bench", at=start)
                    incident.state, incident.resolved_at, incident.updated_at = (
                        "resolved", end, end)
                    if not components:
                        continue
                    await tx.components.hold(incident.id, component.id, status, start, "bench")
                    row = await tx.components.get(component.id, for_update=True)
                    assert row is not None
                    await tx.components.set_status(row, status, start, actor="bench",
                                                   incident_id=incident.id)
                    await tx.components.release(incident.id, end)
                    await tx.components.set_status(row, "operational", end, actor="bench",
                                                   incident_id=incident.id)
                    changes += 2
    finally:
        await store.close()
    return changes


def populate(bot: subprocess.Popen[str]) -> None:
    """The same chat history on both: resolved and open incidents, an alert, notices."""
    assert bot.stdin is not None
    lines = []
    for n in range(30):
        lines += [f"#incident open sev{n % 4 + 1} Resolved outage number {n}",
                  f"#incident {n + 1} resolved fixed in change {n}"]
    lines += ["#incident open sev2 Open problem with a longer title",
              "#status alert Gate is broken, do not recheck",
              *(f"#status notice mirror{n} is lagging behind upstream" for n in range(10))]
    bot.stdin.write("\n".join(lines) + "\n")
    bot.stdin.flush()


async def wait_for_text(url: str, text: bytes, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(url) as response:
                if text in await response.read():
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} never showed {text!r}")


async def page_sizes(url: str) -> tuple[int, int]:
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url, headers={"Accept-Encoding": "identity"}) as response:
            raw = len(await response.read())
        async with http.get(url, headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers.get("Content-Encoding") == "gzip"
            gz = len(await response.read())
    return raw, gz


async def render_seconds(base: str, bot: subprocess.Popen[str], times: int = 5) -> float:
    """Median seconds of one rebuild of every hot document, after a change each time."""
    assert bot.stdin is not None
    found = []
    async with aiohttp.ClientSession() as http:
        for n in range(times):
            async with http.get(base + "/metrics") as response:
                before = await response.text()
            renders = _metric(before, "statusdesk_page_renders_total")
            bot.stdin.write(f"#status log render probe {n}\n")
            bot.stdin.flush()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                async with http.get(base + "/metrics") as response:
                    text = await response.text()
                if _metric(text, "statusdesk_page_renders_total") > renders:
                    found.append(_metric(text, "statusdesk_page_render_seconds"))
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)
    return statistics.median(found)


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match is not None, name
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ports = {"A": free_port(), "B": free_port()}
        now = datetime.now(UTC)
        asyncio.run(seed_history(work / "A.db", now, components=False))
        changes = asyncio.run(seed_history(work / "B.db", now, components=True))
        bots = {
            name: subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "-c",
                 str(config(work, name, ports[name], components=name == "B")),
                 "--log-level", "warning"],
                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            for name in ("A", "B")
        }
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        try:
            for name in ("A", "B"):
                asyncio.run(wait_http(base[name] + "/healthz"))
                populate(bots[name])
            for name in ("A", "B"):
                asyncio.run(wait_for_text(base[name] + "/", b"mirror9 is lagging"))
            time.sleep(1)
            sizes = {name: asyncio.run(page_sizes(base[name] + "/")) for name in ("A", "B")}
            bars = asyncio.run(_count_bars(base["B"] + "/"))
            rebuild = {name: asyncio.run(render_seconds(base[name], bots[name]))
                       for name in ("A", "B")}
            wrk(base["A"] + "/", 2, args.connections)  # warm both up
            wrk(base["B"] + "/", 2, args.connections)

            rates: dict[str, list[float]] = {"A": [], "B": []}
            ratios = []
            print(f"wrk: 1 thread, {args.connections} connections, {args.seconds}s per "
                  f"measure, Accept-Encoding: gzip; {args.rounds} interleaved pairs")
            print(f"B: 12 components in 3 groups, {changes} status changes over 90 days, "
                  f"{bars} bars on /")
            print(f"{'round':<8}{'order':<8}{'A req/s':>10}{'B req/s':>10}{'B/A':>8}")
            for n in range(args.rounds):
                order = ("A", "B") if n % 2 == 0 else ("B", "A")
                got = {}
                for name in order:
                    result = wrk(base[name] + "/", args.seconds, args.connections)
                    assert result.errors == 0, (name, result)
                    got[name] = result.requests_per_second
                    rates[name].append(result.requests_per_second)
                ratios.append(got["B"] / got["A"])
                print(f"{n + 1:<8}{''.join(order):<8}{got['A']:>10.0f}{got['B']:>10.0f}"
                      f"{ratios[-1]:>8.2f}")
            print(f"median  {'':<8}{statistics.median(rates['A']):>10.0f}"
                  f"{statistics.median(rates['B']):>10.0f}{statistics.median(ratios):>8.2f}")
            for name, label in (("A", "no components"), ("B", "12 components + uptime")):
                raw, gz = sizes[name]
                print(f"/ {label:<24} raw {raw:>8,} B  gzip {gz:>7,} B  "
                      f"one rebuild {rebuild[name] * 1000:.1f} ms")
        finally:
            for bot in bots.values():
                if bot.stdin:
                    bot.stdin.close()
            for bot in bots.values():
                bot.wait(timeout=30)
    return 0


async def _count_bars(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return (await response.text()).count('class="day day-')


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
