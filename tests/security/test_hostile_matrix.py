"""The hostile corpus through the bot on a real Synapse, checked by parsing the `m.notice`s and
topics a room member receives.

Alice posts each sample as `#status alert` with a hostile `formatted_body` of her own (the bot
must read the plain body and never pass HTML on). Every `formatted_body` the bot sends is
parsed as HTML: only the elements the bot itself makes (`br`, and an `a` pill to
https://matrix.to/ for the person answered) may be there, and its text must equal the plain
body, which must carry the whole cleaned sample. A 60 kB message (about the most a Matrix
event can carry) is refused with its real length.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from nio import ErrorResponse, RoomSendResponse

from tests.figures import record
from tests.harness import run_app
from tests.matrix_client import Seen
from tests.matrix_scene import Scene, bot_joined
from tests.security.hostile import SAMPLES, TOO_LONG, expected_text
from tests.security.outputs import read_html, squash
from tests.servers.synapse import SynapseServer

ALLOWED = {"br": set(), "a": {"href"}}


def _foreign_html(seen: Seen) -> list[str]:
    problems: list[str] = []
    formatted = seen.formatted_body
    if formatted is None:
        return [f"no formatted_body: {seen.source}"]
    document = read_html(formatted)
    for tag, attrs in document.elements:
        if tag not in ALLOWED:
            problems.append(f"element <{tag}> in {formatted[:200]!r}")
            continue
        for name, value in attrs.items():
            if name not in ALLOWED[tag]:
                problems.append(f"attribute {name} on <{tag}> in {formatted[:200]!r}")
            elif name == "href" and not (value or "").startswith("https://matrix.to/#/@"):
                problems.append(f"href {value!r} in {formatted[:200]!r}")
    # The HTML says what the body says, no more, no less.
    as_text = read_html(formatted.replace("<br>", "\n")).text
    if as_text != squash(seen.body):
        problems.append(f"HTML text {as_text[:200]!r} != body {seen.body[:200]!r}")
    return problems


async def test_hostile_texts_reach_matrix_as_escaped_text(
        synapse: SynapseServer, sqlite_url: str, tmp_path: Path) -> None:
    from tests.matrix_scene import make_scene

    scene: Scene = await make_scene(synapse)
    alice = scene.alice
    try:
        async with run_app(sqlite_url, tmp_path, scene.config(rooms=[scene.ops])) as running:
            await bot_joined(running, scene, [scene.ops])
            start = len(alice.seen)
            posted = refused = 0
            for number, (name, sample) in enumerate(SAMPLES.items(), start=1):
                tag = f"H{number}"
                if name in TOO_LONG:
                    sample = sample[:60_000]  # Synapse refuses events over 64 KiB
                content = {"msgtype": "m.text", "body": f"#status alert {tag} {sample}",
                           "format": "org.matrix.custom.html",
                           "formatted_body": f"#status alert {tag} {SAMPLES['script-tag']}"
                                             f"{SAMPLES['matrix-html-link']}"}
                before = len(alice.seen)
                sent = await alice.client.room_send(scene.ops, "m.room.message", content,
                                                    tx_id=uuid.uuid4().hex)
                if isinstance(sent, ErrorResponse) and name == "lone-surrogates":
                    # Synapse refuses JSON with unpaired surrogates: it cannot reach the bot.
                    refused += 1
                    continue
                assert isinstance(sent, RoomSendResponse), (name, sent)
                if name in TOO_LONG:
                    reply = await alice.wait_for(
                        lambda s: s.sender == scene.bot and "the limit is" in s.body,
                        after=before)
                    assert f"{len(sample) + len(tag) + 1} characters" in reply.body, reply.body
                    continue
                want = f"NOTICE: {tag} {expected_text(sample)}"
                notice = await alice.wait_for(
                    lambda s, w=want: s.sender == scene.bot and s.kind == "m.notice"  # type: ignore[misc]
                    and squash(s.body) == squash(w), after=before, within=60)
                assert notice.body == want, (name, notice.body[:200])
                topic = await alice.wait_for(
                    lambda s, t=tag: s.sender == scene.bot and s.kind == "topic"  # type: ignore[misc]
                    and s.body.startswith(t + " "), after=before, within=60)
                full = f"{tag} {expected_text(sample)}"
                assert topic.body == full or (topic.body.endswith("…") and full.startswith(
                    topic.body[:-1].rstrip())), (name, topic.body[:200])
                posted += 1
            from_bot = [s for s in alice.seen[start:]
                        if s.sender == scene.bot and s.kind == "m.notice"]
            problems = [p for seen in from_bot for p in _foreign_html(seen)]
            assert not problems, "\n".join(problems)
    finally:
        await scene.alice.close()
        await scene.mallory.close()
    record("hostile corpus", f"{posted} hostile posts through the bot on Synapse, "
           f"{len(from_bot)} m.notice formatted_body parsed: 0 foreign elements"
           + (f" ({refused} refused by Synapse itself)" if refused else ""))
