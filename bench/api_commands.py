"""Commands over HTTP beside commands typed on the console, in one run (issue 23).

    .venv/bin/python bench/api_commands.py [--rate 50] [--seconds 20]

One `statusdesk run` on the console, on SQLite. Two senders at `--rate` commands a
second each, interleaved in time: `POST /api/v1/commands` with a personal token (one
keep-alive HTTP connection; latency = request to JSON answer) and the console (latency =
line typed to the bot's answer line on stdout). Both send `#status notice` (a write: status
post, timeline, audit row, one outbox row per channel). The chat rate limit is off (50/s is
above it by design). p50/p99/max per path.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.console_bot import Bot, wait_for_http, write_console_config

USERS = """\
users:
  - {name: alice, roles: [status], irc: {account: alice}}
commands: {rate_limit: null}
"""


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{len(ordered):6d} {statistics.median(ordered) * 1000:9.2f} {p99 * 1000:9.2f} "
            f"{ordered[-1] * 1000:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        config, port = write_console_config(tmp, db_url, extra=USERS)
        created = subprocess.run([sys.executable, "-m", "bot.cli", "tokens", "create", "alice",
                                  "--label", "bench", "-c", str(config)], cwd=tmp,
                                 capture_output=True, text=True, check=True)
        token = created.stdout.strip()
        bot = Bot(config, tmp)
        try:
            wait_for_http(port)
            bot.type("#status alert Bench incident")
            bot.expect("<statusdesk> op: Alert set; opened incident #1.")
            api: list[float] = []
            typed: list[float] = []
            interval = 1.0 / args.rate
            start = time.monotonic() + 0.5

            def post_all() -> None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                headers = {"Authorization": f"Bearer {token}",
                           "Content-Type": "application/json"}
                for i in range(count):
                    due = start + i * interval
                    time.sleep(max(0.0, due - time.monotonic()))
                    sent = time.monotonic()
                    connection.request("POST", "/api/v1/commands",
                                       json.dumps({"text": f"#status notice api {i}"}),
                                       headers)
                    answer = json.loads(connection.getresponse().read())
                    assert answer["applied"], answer
                    api.append(time.monotonic() - sent)

            def type_all() -> None:
                # Half an interval after the API's: the two streams interleave.
                for i in range(count):
                    due = start + (i + 0.5) * interval
                    time.sleep(max(0.0, due - time.monotonic()))
                    typed.append(time.monotonic())
                    bot.type(f"#status notice console {i}")

            threads = [threading.Thread(target=post_all), threading.Thread(target=type_all)]
            for thread in threads:
                thread.start()
            answers = bot.answers(count, args.seconds * 6 + 30,
                                  lambda line: line.startswith("<statusdesk> op: Notice"))
            for thread in threads:
                thread.join()
            console = [at - sent for (at, _), sent in zip(answers, typed, strict=True)]
            print(f"{count} commands per path at {args.rate:g}/s each, interleaved; sqlite")
            print(f"{'path':24s} {'count':>6s} {'p50 ms':>9s} {'p99 ms':>9s} {'max ms':>9s}")
            print(f"{'POST /api/v1/commands':24s} {_percentiles(api)}")
            print(f"{'console (typed)':24s} {_percentiles(console)}")
            code, _ = bot.close()
            assert code == 0
        finally:
            if bot.process.poll() is None:
                bot.kill()


if __name__ == "__main__":
    main()
