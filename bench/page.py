"""`/` and `summary.json` under an outage's herd: statusdesk beside nginx serving the same page's
exported files, as interleaved pairs of runs, while the page changes once a second.

    .venv/bin/python bench/page.py [--quick] [--pairs 7] [--seconds 5] [--connections 64]

Starts `statusdesk run` (SQLite, console on a pipe, export_dir set) with a realistic page
(an alert, open incidents, 200 resolved ones, notices), and nginx (one worker, gzip_static)
serving the exported files of that same page. For each path, `--pairs` pairs of wrk runs
(one thread, keep-alive, `Accept-Encoding: gzip` like a browser), statusdesk and nginx one
after the other, the order alternating from pair to pair; throughout, a `#status notice` is
typed once a second, so statusdesk re-renders and the export rewrites nginx's files under
load. Printed: each pair's requests/s and statusdesk/nginx ratio, and the median ratio.

Goal (issue 21): statusdesk >= 0.5x nginx for each path (median of the pairs), zero errors.
The SSE fan-out has its own bench (bench/sse_fanout.py).

Needs Debian's wrk and nginx (`apt-get install wrk nginx-light`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
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
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="3 pairs of 3 s")
    args = parser.parse_args()
    pairs, seconds = (3, 3) if args.quick else (args.pairs, args.seconds)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is missing: apt-get install wrk nginx-light", file=sys.stderr)
            return 2

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx's workers run as www-data and must reach the export
        desk_port, nginx_port = free_port(), free_port()
        export = work / "export"
        (work / "config.yaml").write_text(
            f"database: {{url: 'sqlite+aiosqlite:///{work}/bench.db'}}\n"
            "console: true\n"
            f"status_page: {{listen: '127.0.0.1:{desk_port}', title: 'Bench Status',"
            f" public_url: 'https://status.example.org', export_dir: '{export}'}}\n"
        )
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "-c", str(work / "config.yaml"),
             "--log-level", "warning"],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        nginx: subprocess.Popen[bytes] | None = None
        ticking = threading.Event()
        ticker = threading.Thread(target=tick, args=(bot, ticking), daemon=True)
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
            ticker.start()

            print(f"wrk: 1 thread, {args.connections} connections, {seconds} s a run, "
                  f"{pairs} pairs a path, Accept-Encoding: gzip; nginx: 1 worker; "
                  "statusdesk: 1 process; a #status notice every second throughout")
            print(f"{'path':<24}{'pair':>5}{'statusdesk/s':>14}{'nginx/s':>10}{'ratio':>8}"
                  f"{'errors':>8}")
            verdicts = []
            for path in ("/", "/api/v2/summary.json"):
                ratios = []
                errors = 0
                for pair in range(pairs):
                    runs = {}
                    # Alternating who goes first: neither gets the quieter half every time.
                    order = (("desk", desk_port), ("nginx", nginx_port))
                    for name, port in order if pair % 2 == 0 else order[::-1]:
                        runs[name] = wrk(f"http://127.0.0.1:{port}{path}", seconds,
                                         args.connections)
                    ratio = runs["desk"].requests_per_second / runs["nginx"].requests_per_second
                    ratios.append(ratio)
                    errors += runs["desk"].errors + runs["nginx"].errors
                    print(f"{path:<24}{pair + 1:>5}{runs['desk'].requests_per_second:>14.0f}"
                          f"{runs['nginx'].requests_per_second:>10.0f}{ratio:>8.2f}"
                          f"{runs['desk'].errors + runs['nginx'].errors:>8}")
                median = statistics.median(ratios)
                met = median >= 0.5 and errors == 0
                verdicts.append(met)
                print(f"{path:<24}median statusdesk/nginx = {median:.2f}x "
                      f"(min {min(ratios):.2f}, max {max(ratios):.2f}); goal >= 0.5x, "
                      f"zero errors: {'met' if met else 'NOT met'}")
        finally:
            ticking.set()
            if nginx is not None:
                nginx.terminate()
                nginx.wait()
            if bot.stdin:
                with contextlib.suppress(BrokenPipeError):
                    bot.stdin.close()
            bot.wait(timeout=30)
    return 0


def tick(bot: subprocess.Popen[str], stop: threading.Event) -> None:
    """A `#status notice` a second: the page under load is a page that changes."""
    number = 0
    while not stop.wait(1.0):
        number += 1
        assert bot.stdin is not None
        with contextlib.suppress(BrokenPipeError, ValueError):
            bot.stdin.write(f"#status notice tick {number}: mirror still lagging\n")
            bot.stdin.flush()


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
