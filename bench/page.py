"""The status page under an outage's thundering herd: statusdesk beside nginx, one run.

    .venv/bin/python bench/page.py [--seconds 10] [--connections 64] [--sse-clients 1000]

Starts `statusdesk run` (SQLite, console on a pipe, export_dir set) with a realistic page
(an alert, open incidents, 200 resolved ones, notices), and nginx (one worker) serving the
exported files of that same page. wrk (one thread, keep-alive, gzip accepted like a browser)
measures requests/s and p99 for `/` and `/api/v2/summary.json` on both, one after the other,
and prints statusdesk's share of nginx's rate. Then N SSE clients connect to /api/events and
the time from typing `#status alert` to the last client receiving it is measured.

Needs Debian's wrk and nginx (`apt-get install wrk nginx-light`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.ports import free_port

REPO = Path(__file__).resolve().parent.parent
CACHE = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    types {{ text/html html; application/json json; application/atom+xml atom;
             text/css css; application/javascript js; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    gzip_static on;
    etag on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            add_header Cache-Control "{cache}";
            try_files $uri $uri.html $uri/index.html =404;
        }}
        location /api/v2/ {{
            add_header Cache-Control "{cache}";
            add_header Access-Control-Allow-Origin *;
        }}
    }}
}}
"""


@dataclass
class WrkResult:
    requests_per_second: float
    p99_ms: float
    errors: int


def wrk(url: str, seconds: int, connections: int) -> WrkResult:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", "Accept-Encoding: gzip", url],
        capture_output=True, text=True, check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    assert p99 is not None, output
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return WrkResult(rate, float(p99.group(1)) * scale, errors)


async def wait_http(url: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


async def sse_fan_out(base: str, bot: subprocess.Popen[str], clients: int) -> tuple[float, int]:
    """Seconds from typing an alert to the last of `clients` SSE clients receiving it."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    received: list[float] = []
    ready = 0
    all_ready = asyncio.Event()

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal ready
        async with http.get(base + "/api/events") as response:
            async for line in response.content:
                if line.startswith(b"retry:"):
                    ready += 1
                    if ready == clients:
                        all_ready.set()
                elif line.startswith(b"data: ") and b'"alert.set"' in line:
                    received.append(time.perf_counter())
                    return

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        tasks = [asyncio.create_task(client(http)) for _ in range(clients)]
        await asyncio.wait_for(all_ready.wait(), 120)
        assert bot.stdin is not None
        started = time.perf_counter()
        bot.stdin.write("#status alert SSE fan-out test\n")
        bot.stdin.flush()
        _, pending = await asyncio.wait(tasks, timeout=30)
        for task in pending:
            task.cancel()
    if not received:
        return float("inf"), 0
    return max(received) - started, len(received)


def populate(bot: subprocess.Popen[str]) -> None:
    assert bot.stdin is not None
    lines = []
    for n in range(200):
        lines += [f"#incident open sev{n % 4 + 1} Resolved outage number {n}",
                  f"#incident {n + 1} identified cause found for {n}",
                  f"#incident {n + 1} resolved fixed in change {n}"]
    for n in range(10):
        lines += [f"#incident open sev{n % 3 + 1} Open problem {n} with a longer title",
                  f"#incident {201 + n} monitoring watching the graphs after fix {n}"]
    lines += ["#status alert Gate is broken, do not recheck",
              *(f"#status notice mirror{n} is lagging behind upstream" for n in range(20)),
              *(f"#success thing {n} fixed" for n in range(30))]
    bot.stdin.write("\n".join(lines) + "\n")
    bot.stdin.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sse-clients", type=int, default=1000)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is missing: apt-get install wrk nginx-light", file=sys.stderr)
            return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx's workers run as www-data and must reach the export
        desk_port, nginx_port = free_port(), free_port()
        export = work / "export"
        (work / "config.yaml").write_text(
            f"database: {{url: 'sqlite+aiosqlite:///{work}/bench.db'}}\n"
            "console: true\n"
            f"status_page: {{listen: '127.0.0.1:{desk_port}', title: 'Bench Status',"
            f" public_url: 'https://status.example.org', export_dir: '{export}',"
            # Every SSE client of the bench comes from 127.0.0.1: let them all in.
            f" limits: {{live_clients: {max(args.sse_clients, 5000)},"
            f" live_clients_per_address: {max(args.sse_clients, 1)}}}}}\n"
        )
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "-c", str(work / "config.yaml"),
             "--log-level", "warning"],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        nginx: subprocess.Popen[bytes] | None = None
        try:
            asyncio.run(wait_http(f"http://127.0.0.1:{desk_port}/healthz"))
            populate(bot)
            asyncio.run(wait_until_populated(f"http://127.0.0.1:{desk_port}"))
            time.sleep(2)  # let the export catch up with the last change
            (work / "nginx.conf").write_text(NGINX_CONF.format(prefix=work, port=nginx_port,
                                                                root=export, cache=CACHE))
            nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p",
                                      str(work), "-c", str(work / "nginx.conf")])
            asyncio.run(wait_http(f"http://127.0.0.1:{nginx_port}/"))

            print(f"wrk: 1 thread, {args.connections} connections, {args.seconds}s each, "
                  "Accept-Encoding: gzip; nginx: 1 worker; statusdesk: 1 process")
            print(f"{'path':<24}{'server':<12}{'req/s':>10}{'p99 ms':>10}{'errors':>8}")
            for path in ("/", "/api/v2/summary.json"):
                desk = wrk(f"http://127.0.0.1:{desk_port}{path}", args.seconds,
                           args.connections)
                ref = wrk(f"http://127.0.0.1:{nginx_port}{path}", args.seconds,
                          args.connections)
                for name, result in (("statusdesk", desk), ("nginx", ref)):
                    print(f"{path:<24}{name:<12}{result.requests_per_second:>10.0f}"
                          f"{result.p99_ms:>10.2f}{result.errors:>8}")
                share = desk.requests_per_second / ref.requests_per_second
                print(f"{path:<24}statusdesk/nginx = {share:.0%} (goal >= 35%, zero errors)")

            seconds, count = asyncio.run(
                sse_fan_out(f"http://127.0.0.1:{desk_port}", bot, args.sse_clients))
            print(f"SSE: {count}/{args.sse_clients} clients received the alert; the last "
                  f"{seconds * 1000:.0f} ms after it was typed (goal: all within 1000 ms)")
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait()
            if bot.stdin:
                bot.stdin.close()
            bot.wait(timeout=30)
    return 0


async def wait_until_populated(base: str, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(base + "/api/v2/summary.json") as response:
                summary = await response.json()
            async with http.get(base + "/success") as response:
                done = b"thing 29 fixed" in await response.read()
            if done and len(summary["incidents"]) == 11:
                return
            await asyncio.sleep(0.5)
    raise RuntimeError("the page never showed the populated state")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
