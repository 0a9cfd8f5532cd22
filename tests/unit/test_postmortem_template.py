"""The postmortem template: the built-in one with whys, actions and roles, an operator's own
(checked at load, sandboxed, chat text still escaped), and the JSON log's schema 1.1."""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from bot.config import ConfigError, load_config_text
from bot.incidents.aftermath import ActionRecord, Aftermath, WhyItem
from bot.incidents.export import (
    _MD_ESCAPES,
    _OTHER_WHITESPACE,
    _entry_document,
    _entry_documents,
    _md,
    export_json,
    export_markdown,
)
from storage.db import open_store, upgrade
from storage.timeline import Where
from storage.unit_of_work import Store

SCHEMA = Path(__file__).parent.parent.parent / "bot" / "schemas" / "incident-log-v1.schema.json"
T0 = datetime(2026, 11, 21, 23, 40, tzinfo=UTC)
GENERATED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

def _action(id: int, text: str, state: str, *, owner: str | None = None,
            due: date | None = None, ticket: str | None = None,
            ticket_state: str | None = None) -> ActionRecord:
    return ActionRecord(id, text, owner, due, state, "fungi", T0, None, None, ticket,
                        ticket_state, T0 + timedelta(hours=1) if ticket else None)


FOLLOWUPS = Aftermath(
    whys=(
        WhyItem(1, "Pushes failed because gerrit01 ran out of heap", "fungi", T0),
        WhyItem(2, "The heap filled because the index upgrade | doubled <b>caches</b>",
                "clarkb", T0 + timedelta(minutes=5)),
        WhyItem(3, "Nobody sized the heap for the new index", "fungi",
                T0 + timedelta(minutes=9)),
    ),
    actions=(
        _action(7, "Alert on GC time over 10 %", "open", owner="clarkb", due=date(2026, 12, 1),
                ticket="https://github.com/acme/infra/issues/12", ticket_state="open"),
        _action(8, "Size the heap in the upgrade runbook", "done"),
    ),
    roles={"lead": "fungi", "em": "clarkb", "scribe": "ianw"},
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path / 'statusdesk.db'}")
    await upgrade(store.engine)
    async with store.transaction() as tx:
        incident = await tx.incidents.open(title="Gerrit | down <script>", severity=1,
                                           opened_by="opsuser", at=T0)
        await tx.timeline.append(incident.id, "opened", Where("opsuser"), T0,
                                 text="Gerrit | down <script>")
        await tx.timeline.append(incident.id, "note", Where("fungi", network="oftc",
                                                            channel="#opendev"),
                                 T0 + timedelta(minutes=1), text="heap *full* `now`",
                                 public=False)
    try:
        yield store
    finally:
        await store.close()


async def _render(store: Store, **options: object) -> str:
    async with store.reading() as tx:
        incident = await tx.incidents.get(1)
        assert incident is not None
        return "".join([chunk async for chunk in export_markdown(
            incident, tx.timeline, generated_at=GENERATED, **options)])  # type: ignore[arg-type]


async def test_the_built_in_template_fills_whys_actions_and_roles(store: Store) -> None:
    text = await _render(store, aftermath=FOLLOWUPS)
    whys = text.split("## Five Whys\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert whys == [
        "1. Pushes failed because gerrit01 ran out of heap (fungi)",
        "2. The heap filled because the index upgrade \\| doubled &lt;b&gt;caches&lt;/b&gt; "
        "(clarkb)",
        "3. Nobody sized the heap for the new index (fungi)",
        "4. Why _…_? Because _…_",
        "5. Why _…_? Because _…_",
    ]
    actions = text.split("## Action items\n\n", 1)[1]
    assert actions == (
        "| Action | Owner | Bug | Due |\n|---|---|---|---|\n"
        "| A7: Alert on GC time over 10 % | clarkb | "
        "<https://github.com/acme/infra/issues/12> (open) | 2026-12-01 |\n"
        "| A8: Size the heap in the upgrade runbook _(done)_ |  |  |  |\n")
    assert "| Escalation manager | - |" in text  # the incident row's, not the aftermath's
    assert "| Role: scribe | ianw |\n| Participants |" in text
    assert "| Role: em |" not in text and "| Role: lead |" not in text


async def test_without_followups_the_sections_are_prompts(store: Store) -> None:
    text = await _render(store)
    assert "1. Why _…_? Because _…_\n" in text and "5. Why _…_? Because _…_\n" in text
    assert text.endswith("| Action | Owner | Bug | Due |\n|---|---|---|---|\n| _…_ | | | |\n")
    assert "Gerrit \\| down &lt;script&gt;" in text
    assert "heap \\*full\\* \\`now\\`" in text


async def test_a_custom_template_sees_escaped_chat_and_streams(store: Store,
                                                              tmp_path: Path) -> None:
    template = tmp_path / "mine.md.j2"
    template.write_text(
        "# {{ incident.title }} (sev{{ incident.severity }})\n"
        "{% for row in timeline %}\n"
        # trim_blocks eats the newline after a block tag: end lines with an expression.
        "- {{ row.when }} {{ row.actor }}: {{ row.detail }}"
        "{{ '' if row.public else ' (private)' }}\n"
        "{% endfor %}\n"
        "{% for why in whys %}\nWhy {{ why.number }}: {{ why.text }}\n{% endfor %}\n"
        "{% for a in actions %}\n{{ a.id }} {{ a.state }} {{ a.ticket or 'no ticket' }}\n"
        "{% endfor %}\n"
        "{{ 'a|b' | md }}\n")
    text = await _render(store, template=template, aftermath=FOLLOWUPS)
    assert text == (
        "# Gerrit \\| down &lt;script&gt; (sev1)\n"
        "- 2026-11-21 23:40:00 opsuser: Gerrit \\| down &lt;script&gt;\n"
        "- 2026-11-21 23:41:00 fungi: heap \\*full\\* \\`now\\` (private)\n"
        "Why 1: Pushes failed because gerrit01 ran out of heap\n"
        "Why 2: The heap filled because the index upgrade \\| doubled &lt;b&gt;caches&lt;/b&gt;\n"
        "Why 3: Nobody sized the heap for the new index\n"
        "A7 open <https://github.com/acme/infra/issues/12>\n"
        "A8 done no ticket\n"
        "a\\|b\n")


@pytest.mark.parametrize("body", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ incident.__class__ }}",
    "{{ timeline.ag_frame }}",
])
async def test_a_custom_template_is_sandboxed(store: Store, tmp_path: Path, body: str) -> None:
    template = tmp_path / "evil.md.j2"
    template.write_text(body)
    with pytest.raises((SecurityError, UndefinedError)):
        await _render(store, template=template)


async def test_a_custom_template_changed_on_disk_is_read_again(store: Store,
                                                              tmp_path: Path) -> None:
    template = tmp_path / "mine.md.j2"
    template.write_text("first {{ incident.id }}\n")
    assert await _render(store, template=template) == "first 1\n"
    template.write_text("second version {{ incident.id }}\n")
    os.utime(template, (T0.timestamp() + 10**8, T0.timestamp() + 10**8))
    assert await _render(store, template=template) == "second version 1\n"


# --- configuration ---------------------------------------------------------------------------


def test_config_takes_a_template_that_compiles(tmp_path: Path) -> None:
    template = tmp_path / "pm.md.j2"
    template.write_text("# {{ incident.title | md }}\n")
    config = load_config_text(f"postmortem: {{template: '{template}'}}\n", env={})
    assert config.postmortem.template == template
    assert load_config_text("console: false\n", env={}).postmortem.template is None


@pytest.mark.parametrize(("content", "expected"), [
    (None, "postmortem.template: no such file: {path}"),
    ("{% for x in y %}never closed\n", "postmortem.template: not a valid Jinja2 template "
                                       "(line 1): Unexpected end of template."),
    ("{{ x | nosuchfilter }}", "postmortem.template: not a valid Jinja2 template (line 1): "
                               "No filter named 'nosuchfilter'."),
])
def test_config_refuses_a_template_that_does_not(tmp_path: Path, content: str | None,
                                                  expected: str) -> None:
    path = tmp_path / "pm.md.j2"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config_text(f"postmortem: {{template: '{path}'}}\n", env={})
    lines = [str(p) for p in info.value.problems]
    assert len(lines) == 1
    assert lines[0].startswith(expected.format(path=path)), lines[0]


# --- JSON schema 1.1 -------------------------------------------------------------------------


async def test_json_log_with_followups_follows_schema_1_1(store: Store) -> None:
    async with store.reading() as tx:
        incident = await tx.incidents.get(1)
        assert incident is not None
        document = json.loads("".join([chunk async for chunk in export_json(
            incident, tx.timeline, generated_at=GENERATED, aftermath=FOLLOWUPS)]))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(document, schema)
    assert document["version"] == 1 and document["schema_version"] == "1.1"
    assert [w["number"] for w in document["whys"]] == [1, 2, 3]
    assert document["whys"][1]["text"].endswith("doubled <b>caches</b>")  # raw in JSON
    assert document["actions"][0] == {
        "id": "A7", "text": "Alert on GC time over 10 %", "state": "open", "owner": "clarkb",
        "due": "2026-12-01", "created_by": "fungi", "created_at": "2026-11-21T23:40:00Z",
        "closed_by": None, "closed_at": None,
        "ticket": {"url": "https://github.com/acme/infra/issues/12", "state": "open",
                   "checked_at": "2026-11-22T00:40:00Z"},
    }
    assert document["actions"][1]["ticket"] is None
    assert document["roles"] == {"lead": "fungi", "em": "clarkb", "scribe": "ianw"}


async def test_schema_1_1_still_takes_a_1_0_document_and_refuses_bad_additions(
        store: Store) -> None:
    async with store.reading() as tx:
        incident = await tx.incidents.get(1)
        assert incident is not None
        document = json.loads("".join([c async for c in export_json(incident, tx.timeline)]))
    schema = json.loads(SCHEMA.read_text())
    assert document["whys"] == [] and document["actions"] == [] and document["roles"] == {}
    old = {k: v for k, v in document.items()
           if k not in ("schema_version", "whys", "actions", "roles")}
    jsonschema.validate(old, schema)  # what a 1.0 writer produced is still valid
    for broken in ({"whys": [{"number": 0, "text": "x", "author": "a",
                             "at": "2026-01-01T00:00:00Z"}]},
                   {"actions": [{"id": "7"}]}, {"roles": {"em": 7}},
                   {"schema_version": "2.0"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**document, **broken}, schema)


async def test_the_readme_example_template_renders(store: Store, tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    example = readme.split("### Custom postmortem template", 1)[1].split("```jinja\n", 1)[1]
    template = tmp_path / "rca.md.j2"
    template.write_text(example.split("```", 1)[0])
    text = await _render(store, template=template, aftermath=FOLLOWUPS)
    assert text.startswith("# RCA: Gerrit \\| down &lt;script&gt; (sev1, ongoing)\n")
    assert "2. The heap filled because the index upgrade \\| doubled" in text
    assert "- [ ] A7 Alert on GC time over 10 % <https://github.com/acme/infra/issues/12>" in text
    assert "- [x] A8 Size the heap in the upgrade runbook" in text
    assert "- 2026-11-21 23:41:00 fungi note: heap \\*full\\* \\`now\\`" in text


def test_the_readme_error_example_is_what_check_config_says(tmp_path: Path) -> None:
    path = tmp_path / "pm.md.j2"
    path.write_text("# {{ incident.title }}\n\n{{ incident.lead }\n")
    with pytest.raises(ConfigError) as info:
        load_config_text(f"postmortem: {{template: '{path}'}}\n", env={})
    assert [str(p) for p in info.value.problems] == [
        "postmortem.template: not a valid Jinja2 template (line 3): unexpected '}'"]


PER_ROW_LOOP = (
    "{% for row in timeline %}\n"
    "| {{ row.when }} | {{ row.actor }} | {{ row.where }} | {{ row.kind }}"
    "{% if not row.public %} _(private)_{% endif %} | {{ row.detail }} |\n"
    "{% endfor %}\n")


async def test_the_built_in_table_lines_are_what_the_per_row_template_wrote(
        store: Store, tmp_path: Path) -> None:
    """The built-in template's timeline table is built in Python (postmortem.table_line): it
    must be the very bytes its former per-row loop wrote, over more than one batch."""
    texts = ["plain", "a | b *c* _d_ `e` <f> [g](h) &amp; \\ i", None, "", "two\nlines\t x",
             "ünïcode → arrow"]
    wheres = [Where("fungi", network="oftc", channel="#opendev"), Where("b|ob", channel="!r:x"),
              Where("c_d"), Where("e", network="oftc")]
    async with store.transaction() as tx:
        for n in range(1_100):
            kind = ("note", "chat", "state", "severity")[n % 4]
            await tx.timeline.append(
                1, kind, wheres[n % 4], T0 + timedelta(seconds=n), text=texts[n % 6],
                public=n % 3 != 0, old="investigating" if n % 8 == 2 else None,
                new="identified" if kind in ("state", "severity") else None)
    built_in = (Path(__file__).parent.parent.parent / "bot" / "incidents" / "templates"
                / "postmortem.md.j2").read_text()
    table = "{% for lines in timeline_table %}{{ lines }}{% endfor %}\n"
    assert table in built_in
    per_row = tmp_path / "per_row.md.j2"
    per_row.write_text(built_in.replace(table, PER_ROW_LOOP))
    fast = await _render(store, aftermath=FOLLOWUPS)
    assert fast.count("\n| 2026-11-") > 1_100
    assert fast == await _render(store, template=per_row, aftermath=FOLLOWUPS)


def test_md_gives_plain_text_back_only_when_escaping_would_not_change_it() -> None:
    """`_md` returns most chat lines as they are without splitting and joining them: the
    same text the full escape (translate, then collapse whitespace) gives, for any text."""
    split_on = "".join(c for c in map(chr, range(sys.maxunicode + 1))
                       if c.isspace() and c != " ")
    assert split_on == _OTHER_WHITESPACE

    def escaped(text: str) -> str:
        return " ".join(text.translate(_MD_ESCAPES).split())

    alphabet = " \t\n|*_[]`<>&\\ab→\u00a0\x1c\u2028\x85\u3000"
    rng = random.Random(21)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))
             for _ in range(20_000)]
    texts += ["event 1: the mirrors answer in 40 ms", " lead", "trail ", "a  b", "ünï"]
    for text in texts:
        assert _md(text) == escaped(text), repr(text)
    assert _md(None) == _md("") == ""


async def test_json_entries_read_from_the_row_tuple_are_what_the_fields_give(
        store: Store) -> None:
    """The JSON log reads a streamed row's fields from its tuple, and its time from SQLite's
    stored text: the same documents as reading each field, a time parsed and printed."""
    async with store.transaction() as tx:
        for n in range(600):
            await tx.timeline.append(
                1, ("note", "chat", "state")[n % 3],
                Where("fungi", identity="fungi via irc", transport="irc", network="oftc",
                      channel="#opendev") if n % 2 else Where("bob"),
                T0 + timedelta(seconds=n, microseconds=(n % 4) * 250_001),
                text=None if n % 5 == 0 else f"line {n} | *x*", public=n % 3 != 1,
                old="investigating" if n % 3 == 2 else None,
                new="identified" if n % 3 == 2 else None)
    async with store.reading() as tx:
        rows = [row async for row in tx.timeline.stream(1)]
    assert len(rows) > 600
    assert _entry_documents(rows) == [_entry_document(row) for row in rows]
    assert {document["at"][19:] for document in _entry_documents(rows)} >= {"Z", ".250001Z"}


PER_LINK_LOOP = (
    "{% for l in links %}\n"
    "- {{ l.kind }}: {{ l.target }}{% if l.state %} — {{ l.state }}{% endif %} "
    "(linked by {{ l.by }}, {{ l.when }} UTC)\n"
    "{% endfor %}\n")


async def test_pages_and_links_read_together_keep_their_sections_and_order(
        store: Store, tmp_path: Path) -> None:
    """Pages and linked bugs and playbooks come from one read of the timeline, split by
    kind: each section lists its own entries, oldest first, and a bug's cached state. The
    built-in list of links (postmortem.link_lines) is the very bytes its former per-link
    loop wrote."""
    async with store.transaction() as tx:
        for n, (kind, old, new, text) in enumerate([
                ("page.sent", None, "fungi", "via pagerduty"),
                ("bug", None, "https://bugs.example/1", None),
                ("page.acknowledged", "fungi", "fungi", None),
                ("playbook", None, "gerrit-heap", None),
                ("bug", None, "https://bugs.example/2 <x>", None)]):
            await tx.timeline.append(1, kind, Where("clarkb"), T0 + timedelta(minutes=n),
                                     text=text, old=old, new=new)
    text = await _render(store, bug_line={"https://bugs.example/1": "[open] #1 Heap"}.get)
    assert text.count("\n- ") == 3
    pages = text.split("|---|---|---|---|\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert pages == ["| 2026-11-21 23:40:00 | sent | clarkb | - → fungi via pagerduty |",
                     "| 2026-11-21 23:42:00 | acknowledged | clarkb | fungi → fungi |"]
    links = text.split("## Linked bugs and playbooks\n\n", 1)[1].split("\n\n", 1)[0]
    assert links.splitlines() == [
        "- bug: <https://bugs.example/1> — \\[open\\] #1 Heap (linked by clarkb, "
        "2026-11-21 23:41:00 UTC)",
        "- playbook: gerrit-heap (linked by clarkb, 2026-11-21 23:43:00 UTC)",
        "- bug: https://bugs.example/2 &lt;x&gt; (linked by clarkb, 2026-11-21 23:44:00 UTC)"]
    built_in = (Path(__file__).parent.parent.parent / "bot" / "incidents" / "templates"
                / "postmortem.md.j2").read_text()
    fast = "{% for lines in link_lines %}{{ lines }}{% endfor %}\n"
    assert fast in built_in
    per_link = tmp_path / "per_link.md.j2"
    per_link.write_text(built_in.replace(fast, PER_LINK_LOOP))
    bug_line = {"https://bugs.example/1": "[open] #1 Heap"}.get
    assert text == await _render(store, template=per_link, bug_line=bug_line)
