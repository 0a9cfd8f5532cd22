"""`statusdesk say TEXT`: the command-line client of `POST /api/v1/commands`.

It works wherever the bot's HTTP side answers, so also on the bot's own machine while the
chat networks are down. Exit 0 when the command was applied (or answered), 1 when it was
refused or failed (an HTTP error, an unreachable bot: one line on stderr), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp

from bot.api.command_route import PATH
from bot.config.models import Config

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
TIMEOUT_SECONDS = 30.0
TOKEN_VARIABLE = "STATUSDESK_TOKEN"
LEADER_PATIENCE = 30.0
"""How long to keep asking while no instance leads (the lease's length is 5 s by default)."""


def base_url(config: Config, given: str | None) -> str:
    """--url, else `status_page.public_url`, else the listen address."""
    if given:
        return given.rstrip("/")
    if config.status_page.public_url:
        return str(config.status_page.public_url).rstrip("/")
    host = config.status_page.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.status_page.port}"


def read_token(token_file: Path | None) -> str | None:
    if token_file is not None:
        return token_file.read_text(encoding="utf-8").strip() or None
    return os.environ.get(TOKEN_VARIABLE, "").strip() or None


def run_say(config: Config, args: argparse.Namespace) -> int:
    text = " ".join(args.text.split())
    if not text:
        print("statusdesk say: nothing to say", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = read_token(args.token_file)
    except OSError as error:
        print(f"statusdesk say: {args.token_file}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    if token is None:
        print(f"statusdesk say: no token: use --token-file FILE or set ${TOKEN_VARIABLE} "
              "(statusdesk tokens create USER)", file=sys.stderr)
        return EXIT_USAGE
    url = base_url(config, args.url) + PATH
    return asyncio.run(_post(url, token, text))


async def _post(url: str, token: str, text: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    loop = asyncio.get_running_loop()
    give_up = loop.time() + LEADER_PATIENCE
    try:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session:
            while True:
                async with session.post(url, json={"text": text}, headers=headers) as response:
                    body = await response.read()
                    status = response.status
                    retry = response.headers.get("Retry-After", "")
                # 503 + Retry-After: no instance leads for a moment (a leader change). The
                # command was not applied: asking again cannot apply it twice.
                if status != 503 or not retry.isdigit() or loop.time() > give_up:
                    break
                await asyncio.sleep(max(0.2, min(float(retry), 5.0)))
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        print(f"statusdesk say: {url}: {' '.join(str(error).split()) or type(error).__name__}",
              file=sys.stderr)
        return EXIT_FAILURE
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict):
        detail = answer.get("detail") if isinstance(answer, dict) else None
        line = detail or " ".join(body.decode("utf-8", "replace").split())[:200]
        print(f"statusdesk say: HTTP {status}: {line}", file=sys.stderr)
        return EXIT_FAILURE
    for reply in answer.get("replies") or []:
        print(reply)
    return EXIT_OK if answer.get("applied") else EXIT_FAILURE
