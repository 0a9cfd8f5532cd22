"""What browsers and search engines read before the page itself: `/favicon.ico` (asked for
by every browser, unprompted) and `<meta name="description">` on every public HTML page."""

from __future__ import annotations

import struct
from html.parser import HTMLParser
from pathlib import Path

from bot.web.snapshot import STATIC_DIR
from tests.harness import run_app

PNG = b"\x89PNG\r\n\x1a\n"


class _Head(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.descriptions: list[str] = []
        self.icons: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and values.get("name") == "description":
            self.descriptions.append(values.get("content") or "")
        if tag == "link" and values.get("rel") == "icon":
            self.icons.append(values.get("href") or "")


def _head(page: bytes) -> _Head:
    head = _Head()
    head.feed(page.decode())
    return head


async def test_favicon_is_a_small_icon_served_and_exported(sqlite_url: str,
                                                            tmp_path: Path) -> None:
    async with run_app(sqlite_url, tmp_path) as running:
        await running.settled()
        status, headers, body = await running.get("/favicon.ico")
        assert status == 200 and headers["Content-Type"] == "image/x-icon"
        assert headers["Cache-Control"].startswith("public")
        assert body == (STATIC_DIR / "favicon.ico").read_bytes()
        assert len(body) < 2048
        # An ICO directory of one 32x32, 32-bit image stored as PNG (what browsers take).
        reserved, kind, count = struct.unpack_from("<HHH", body)
        assert (reserved, kind, count) == (0, 1, 1)
        width, height, _, _, planes, bits, size, offset = struct.unpack_from("<BBBBHHII",
                                                                             body, 6)
        assert (width, height, planes, bits) == (32, 32, 1, 32)
        image = body[offset:offset + size]
        assert image.startswith(PNG) and struct.unpack_from(">II", image, 16) == (32, 32)
        assert offset + size == len(body)
        exported = running.export_dir / "favicon.ico"
        for _ in range(100):
            if exported.is_file():
                break
            await running.settled()
        assert exported.read_bytes() == body


async def test_every_public_page_has_a_description_and_the_icon(sqlite_url: str,
                                                                  tmp_path: Path) -> None:
    subscribers = ("subscribers:\n  email: {host: 127.0.0.1, port: 2525, starttls: false,"
                   " from: status@example.org}\n")
    async with run_app(sqlite_url, tmp_path, extra=subscribers) as running:
        await running.say("#incident open sev2 Database <b>down</b>")
        await running.settled()
        descriptions = {}
        for path in ("/", "/history", "/success", "/thanks", "/incidents/1", "/no-such-page",
                     "/subscribe"):
            _, _, page = await running.get(path)
            head = _head(page)
            assert len(head.descriptions) == 1 and head.descriptions[0].strip(), path
            assert head.icons == ["/favicon.ico"], path
            descriptions[path] = head.descriptions[0]
    assert descriptions["/"] == ("Current status, incidents and scheduled maintenance of "
                                 "Example Status.")
    # Chat text in an attribute: escaped, and read back as the text it was.
    assert descriptions["/incidents/1"] == (
        "Incident #1 on Example Status: Database <b>down</b> (investigating), with its "
        "public updates.")
