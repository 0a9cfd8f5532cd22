"""The hostile corpus through the status page (HTML), its Atom feed, its JSON documents and the
incident log export (Markdown and JSON), with the whole app running in-process.

Each sample is posted with the commands whose text reaches those outputs (`#status alert`,
`#status notice`, `#incident open`, `#incident ID identified`, `#log`, `#success`), then every
output is parsed: no element, attribute, script, link, heading or raw HTML may come from the
sample, every document must be well-formed, and the sample's text (after the documented
cleaning) must be there in full. A sample over the grammar's limit must be refused with a
reply that says so; nothing is ever cut without a mark.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.capture import MAX_CAPTURED
from bot.core.ports import Identity, Message
from bot.web.feed import clean as xml_clean
from commands.model import MAX_TITLE
from storage.audit import MAX_AUDIT_TEXT
from tests.figures import record
from tests.harness import API_TOKEN, Running, run_app
from tests.security.hostile import SAMPLES, TOO_LONG, expected_text, fits
from tests.security.outputs import (
    HtmlShape,
    atom_texts,
    json_strings,
    read_html,
    read_json,
    read_markdown,
    squash,
)

BENIGN = "plain words and a link http://example.org/x"
HTML_PATHS = ("/", "/history", "/success", "/thanks")
JSON_PATHS = ("/alert.json", "/api/v2/summary.json", "/api/v2/status.json",
              "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json")
OUTPUTS = ("HTML incident page", "HTML /success", "Atom", "JSON incidents", "Markdown export",
           "JSON export")
FEED_BATCH = 10
_ID = re.compile(r"#(\d+)")


async def _post(running: Running, tag: str, text: str) -> int:
    """Every command whose text is published; the incident's id."""
    title = f"{tag} {text}"
    if not fits(title, MAX_TITLE):
        refused = await running.say(f"#incident open sev3 {title}")
        assert any(f"the limit is {MAX_TITLE}" in r for r in refused), refused
        title = f"{tag} long title"
    opened = await running.say(f"#incident open sev3 {title}")
    match = _ID.search(" ".join(opened))
    assert match, opened
    incident = int(match.group(1))
    for command in (f"#incident {incident} identified {tag} {text}",
                    f"#log {incident} {tag} {text}", f"#status alert {tag} {text}",
                    f"#success {tag} {text}"):
        replies = await running.say(command)
        assert not any("Usage" in r for r in replies), (command[:80], replies)
    return incident


async def _get(running: Running, path: str) -> bytes:
    headers = {"Authorization": f"Bearer {API_TOKEN}"} if path.startswith("/api/incidents/") else {}
    status, _, body = await running.get(path, **headers)
    assert status == 200, path
    return body


async def test_hostile_texts_stay_text_in_every_page_feed_and_export(
        db_url: str, tmp_path: Path) -> None:
    async with run_app(db_url, tmp_path) as running:
        # What our own templates produce, from a harmless post of every kind.
        benign = await _post(running, "B0", BENIGN)
        await running.settled()
        shape = HtmlShape()
        for path in (*HTML_PATHS, f"/incidents/{benign}"):
            shape.learn(read_html(await _get(running, path)))
        headings = read_markdown((await _get(
            running, f"/api/incidents/{benign}/log.md")).decode()).headings

        # Posted in batches, the page settled after each (it re-renders on every change): the
        # feed holds the last 100 entries, so each batch is looked for in it at once.
        incidents: dict[str, tuple[str, int]] = {}
        batch: list[str] = []
        for number, (name, sample) in enumerate(SAMPLES.items(), start=1):
            if name in TOO_LONG:
                await _refused_with_reason(running, sample)
                continue
            incidents[name] = (f"H{number}", await _post(running, f"H{number}", sample))
            batch.append(name)
            if len(batch) == FEED_BATCH or number == len(SAMPLES):
                await running.settled()
                feed = [squash(t) for t in atom_texts(await _get(running, "/feed.atom"))]
                for posted in batch:
                    want = squash(xml_clean(f"{incidents[posted][0]} "
                                            f"{expected_text(SAMPLES[posted])}"))
                    assert any(want in t for t in feed), (posted, "feed")
                batch = []
        await running.settled()

        pages = {path: await _get(running, path) for path in (*HTML_PATHS, "/feed.atom",
                                                              *JSON_PATHS)}
        for path in HTML_PATHS:
            document = read_html(pages[path])
            assert not shape.foreign(document), (path, shape.foreign(document))
        success = read_html(pages["/success"]).text
        atom_texts(pages["/feed.atom"])
        documents = {path: read_json(pages[path]) for path in JSON_PATHS}
        published = [squash(s) for s in json_strings(documents["/api/v2/incidents.json"])]
        last_name, (last_tag, _) = list(incidents.items())[-1]
        assert documents["/alert.json"] == {
            "alert": f"{last_tag} {expected_text(SAMPLES[last_name])}"}
        assert squash(f"{last_tag} {expected_text(SAMPLES[last_name])}") in read_html(
            pages["/"]).text

        for name, (tag, incident) in incidents.items():
            want = squash(f"{tag} {expected_text(SAMPLES[name])}")
            where = f"sample {name!r}"
            page = read_html(await _get(running, f"/incidents/{incident}"))
            assert not shape.foreign(page), (where, shape.foreign(page))
            assert want in page.text, (where, "incident page")
            assert want in success, (where, "/success")
            assert any(want in s for s in published), (where, "incidents.json")

            markdown = read_markdown(
                (await _get(running, f"/api/incidents/{incident}/log.md")).decode("utf-8"))
            # The same sections; the first is the title, which must stay one heading.
            assert markdown.headings[1:] == headings[1:], (where, markdown.headings)
            assert markdown.headings[0].startswith(f"Incident #{incident}: {tag}"), where
            assert not markdown.raw_html, (where, markdown.raw_html)
            assert not markdown.images, (where, markdown.images)
            assert all(link.startswith(("http://", "https://")) for link in markdown.links), (
                where, markdown.links)
            assert any(want in cell for cell in markdown.html.cells), (
                where, "no table cell of the export holds the whole text")
            export = read_json(await _get(running, f"/api/incidents/{incident}/log.json"))
            assert any(want == squash(e["text"] or "") for e in export["timeline"]), where
        record("hostile corpus", f"{len(incidents)} samples × {len(OUTPUTS)} outputs (HTML, "
               "Atom, JSON, Markdown and JSON export) checked by parsing; "
               f"{len(TOO_LONG)} over-long sample(s) refused with a reason")


async def _refused_with_reason(running: Running, sample: str) -> None:
    """Over the limit: every command says how long the text was and what the limit is,
    and nothing of it is published."""
    await running.settled()
    before = await _get(running, "/alert.json")
    for command in ("#status alert", "#status notice", "#success", "#log 1", "#incident open"):
        replies = await running.say(f"{command} {sample}")
        assert any(f"{len(expected_text(sample))} characters; the limit is" in r
                   for r in replies), (command, [r[:200] for r in replies])
    await running.settled()
    assert await _get(running, "/alert.json") == before


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_is_accounted_for(name: str) -> None:
    """A sample either fits the grammar (and is published whole) or is refused as too long."""
    assert (name in TOO_LONG) != fits(SAMPLES[name]), name
    assert expected_text(SAMPLES[name]), name


async def test_a_captured_100_kb_line_is_kept_cut_with_a_visible_mark(tmp_path: Path) -> None:
    async with run_app(f"sqlite+aiosqlite:///{tmp_path}/c.db", tmp_path,
                       # An IRC network nobody listens on: only its channel name matters.
                       "irc: [{name: x, host: 127.0.0.1, port: 9, tls: false,"
                       " channels: ['#ops']}]\nincidents: {capture: ['#ops']}\n") as running:
        await running.say("#incident open sev3 capture test")
        huge = SAMPLES["huge-100kB"]
        identity = Identity(transport="irc", nick="bob", network="x")
        message = Message("irc", "x", "#ops", "bob", identity, huge)
        assert await running.app.desk.handle(message) == []
        await running.app.desk.flush_captured()  # captured chat is written in batches
        export = read_json(await _get(running, "/api/incidents/1/log.json"))
        chats = [e["text"] for e in export["timeline"] if e["kind"] == "chat"]
        assert chats == [f"{huge[:MAX_CAPTURED]} … [{len(huge) - MAX_CAPTURED} more characters "
                         "not kept]"]


async def test_a_flood_of_100_kb_commands_is_audited_cut_with_a_visible_mark(
        tmp_path: Path) -> None:
    """A too-long command is refused by the grammar before anything is written; the one
    audit row a flood leaves (rate limited) keeps the start of the text, visibly cut."""
    async with run_app(f"sqlite+aiosqlite:///{tmp_path}/a.db", tmp_path) as running:
        text = "#status notice " + SAMPLES["huge-100kB"]
        stranger = Identity(transport="irc", nick="mallory", network="x",
                            host_mask="mallory!m@192.0.2.9")
        for _ in range(30):
            await running.app.desk.handle(Message("irc", "x", "#ops", "mallory", stranger,
                                                  text))
        async with running.app.store.reading() as tx:  # type: ignore[union-attr]
            rows = await tx.audit.recent(10)
        assert [row.outcome for row in rows] == ["rate_limited"]
        assert rows[0].text == (f"{text[:MAX_AUDIT_TEXT]} … [{len(text) - MAX_AUDIT_TEXT} "
                                "more characters not kept]")
