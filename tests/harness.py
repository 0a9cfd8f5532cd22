"""The whole statusdesk app running in-process on a free port, for tests that need its HTTP
side: commands go through its real desk as the console operator's would."""

from __future__ import annotations

import asyncio
import inspect
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from multidict import CIMultiDict

from bot.app import App
from bot.config import Config, load_config_text
from bot.core.extension import Reply
from bot.core.ports import Identity, Message
from bot.delivery.outbox import OutboxWorker
from storage.db import open_store
from storage.unit_of_work import Store
from tests import secrets
from tests.servers.ports import free_port

API_TOKEN = secrets.API_TOKEN


async def reply_lines(replies: Sequence[Reply]) -> list[str]:
    """Every line of an answer, a follow-up's lines included (which the app sends later,
    once its lookup is done)."""
    lines = []
    for reply in replies:
        lines.append(reply.text)
        if reply.follow_up is not None:
            lines.extend(await reply.follow_up())
    return lines


@asynccontextmanager
async def opened_store(db_url: str) -> AsyncIterator[Store]:
    """A store of the test's own on `db_url` (beside the app's, if one runs), closed after."""
    store = open_store(db_url)
    try:
        yield store
    finally:
        await store.close()


async def eventually(condition: Callable[[], bool | Awaitable[bool]], within: float = 20.0,
                     what: str = "the condition", every: float = 0.05) -> None:
    """Wait until `condition()` (a plain or an async function) is true, looking every
    `every` seconds; fail when it is not within `within` seconds. For the tests' waits on
    something observable, instead of sleeping and hoping it happened meanwhile."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if loop.time() > end:
            raise AssertionError(f"{what} did not hold within {within}s")
        await asyncio.sleep(every)


OPERATOR = Identity(transport="console", nick="op", network="console", local_operator=True)


@dataclass
class Running:
    app: App
    base: str
    http: aiohttp.ClientSession
    export_dir: Path

    async def say(self, text: str) -> list[str]:
        message = Message("console", "console", "console", "op", OPERATOR, text, addressed=True)
        return await reply_lines(await self.app.desk.handle(message))

    async def settled(self) -> None:
        """Wait until the page shows every change and SSE clients were told."""
        for _ in range(500):
            if self.app.snapshot.idle:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the status page never caught up")

    async def get(self, path: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
        """The raw response: no decompression unless the test asks for an encoding."""
        headers.setdefault("Accept-Encoding", "identity")
        async with self.http.get(self.base + path, headers=headers,
                                 auto_decompress=False) as response:
            return response.status, CIMultiDict(response.headers), await response.read()


@asynccontextmanager
async def run_app(db_url: str, tmp_path: Path, extra: str = "",
                  api_token: str | None = API_TOKEN, page_extra: str = ""
                  ) -> AsyncIterator[Running]:
    """`extra` is more configuration (YAML sections) for the feature under test;
    `page_extra` more keys of `status_page` (`limits: {...}`)."""
    port = free_port()
    export_dir = tmp_path / "export"
    config = load_config_text(
        f"database: {{url: '{db_url}'}}\n"
        f"status_page: {{listen: '127.0.0.1:{port}', title: 'Example Status',"
        f" public_url: 'https://status.example.org', export_dir: '{export_dir}'"
        + (f", api_token: '{api_token}'" if api_token is not None else "")
        + (f", {page_extra}" if page_extra else "") + "}\n" + extra
    )
    async with started_app(config) as app, aiohttp.ClientSession() as http:
        yield Running(app, f"http://127.0.0.1:{port}", http, export_dir)


@asynccontextmanager
async def started_app(config: Config) -> AsyncIterator[App]:
    """The app running in-process: its page listening and, as it leads, its transports
    started. Stopped cleanly (exit code 0) afterwards."""
    app = App(config)
    task = asyncio.create_task(app.run())
    for _ in range(500):
        if app.web_port is not None or task.done():
            break
        await asyncio.sleep(0.02)
    if task.done():
        task.result()
    # Transports start once the instance leads, a moment after the status page listens.
    waiting = asyncio.ensure_future(app.chat_started.wait())
    await asyncio.wait([waiting, task], timeout=90, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()
    try:
        yield app
    finally:
        app.request_stop()
        assert await asyncio.wait_for(task, 30) == 0


async def delivered_lines(worker: OutboxWorker, out: io.StringIO) -> list[str]:
    """Run the outbox until nothing is due; the lines the console wrote meanwhile."""
    before = out.tell()
    while await worker.deliver_due():
        pass
    out.seek(before)
    lines = out.read().splitlines()
    out.seek(0, io.SEEK_END)
    return lines
