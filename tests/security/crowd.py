"""One child of the hostile crowd (tests/security/test_hostile_crowd.py): holds `--sse` idle
live-update streams and `--half` connections that never finish their request head, all from
one address, and keeps that many sockets open: whatever the server closes (a 503, an
eviction, a header timeout) is opened again as a half-sent head, at most `--reopen-rate` a
second, the way a patient attacker would.

Run as `python -m tests.security.crowd --port P ...`; it prints `ready OPENED STILL_OPEN`
once its first sockets are open, then a JSON line of what it saw when stdin closes or
`--duration` ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
from collections import Counter

SSE_REQUEST = b"GET /api/events HTTP/1.1\r\nHost: statusdesk\r\nAccept: text/event-stream\r\n\r\n"
HALF_HEAD = b"GET / HTTP/1.1\r\nHost: statusdesk\r\nUser-Agent: slow"
TRICKLE_SECONDS = 3.0
"""A half-sent head gets one more byte this often (slowloris style)."""


class Crowd:
    def __init__(self, host: str, port: int, source: str, reopen_rate: float) -> None:
        self.host = host
        self.port = port
        self.source = source
        self.reopen_rate = reopen_rate
        self.seen: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.open = 0
        self._reopen: asyncio.Queue[None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()

    def attempts(self) -> int:
        """Connections tried so far, opened or not."""
        return self.seen["opened"] + sum(n for what, n in self.seen.items()
                                         if what.startswith("connect failed"))

    def spawn(self, sse: bool) -> None:
        task = asyncio.create_task(self._hold(sse))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hold(self, sse: bool) -> None:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.source, 0))
        except OSError as error:
            self.seen[f"connect failed: {type(error).__name__}"] += 1
            self._reopen.put_nowait(None)
            return
        self.open += 1
        self.seen["opened"] += 1
        try:
            writer.write(SSE_REQUEST if sse else HALF_HEAD)
            if sse:
                line = await reader.readline()
                status = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "none"
                self.statuses[status] += 1
                while await reader.read(65536):
                    pass
            else:
                while True:
                    try:
                        data = await asyncio.wait_for(reader.read(65536), TRICKLE_SECONDS)
                    except TimeoutError:
                        writer.write(b"w")
                        continue
                    if not data:
                        break
                    self.seen["half answered"] += 1
            self.seen["closed by server"] += 1
        except (ConnectionError, OSError):
            self.seen["reset by server"] += 1
        finally:
            self.open -= 1
            writer.close()
            self._reopen.put_nowait(None)

    async def reopen_forever(self) -> None:
        """What the server closed comes back as a half-sent head, paced."""
        while True:
            await self._reopen.get()
            self.seen["reopened"] += 1
            self.spawn(sse=False)
            await asyncio.sleep(1 / self.reopen_rate)


async def main(args: argparse.Namespace) -> None:
    crowd = Crowd(args.host, args.port, args.source, args.reopen_rate)
    for n in range(args.sse + args.half):
        crowd.spawn(sse=n < args.sse)
        if n % 200 == 199:
            await asyncio.sleep(0)  # let connects proceed in batches
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while crowd.attempts() < args.sse + args.half and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # polled: thousands of tasks, one count
    print(f"ready {crowd.seen['opened']} {crowd.open}", flush=True)
    reopener = asyncio.create_task(crowd.reopen_forever())
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stdin_closed, args.duration)
    reopener.cancel()
    print(json.dumps({"open": crowd.open, "seen": dict(crowd.seen),
                      "sse_statuses": dict(crowd.statuses)}), flush=True)
    # Thousands of sockets and a thread blocked on stdin: no orderly teardown needed.
    os._exit(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--source", default="127.0.0.1")
    parser.add_argument("--sse", type=int, default=0)
    parser.add_argument("--half", type=int, default=0)
    parser.add_argument("--reopen-rate", type=float, default=250.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--nice", type=int, default=19)
    arguments = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # A real crowd runs on its own machines: here it shares the bot's cores, so it yields
    # them (else the test measures how the kernel shares a CPU, not the bot).
    os.nice(arguments.nice)
    try:
        import uvloop
        uvloop.run(main(arguments))
    except ImportError:
        asyncio.run(main(arguments))
