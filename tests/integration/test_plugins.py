"""A paging provider and a bug tracker added as a separate package (issue 18): the example in
examples/plugins/statusdesk-example, found through real entry points without pip (a
`.dist-info` directory written on sys.path), validated by its own schema with `PATH: message`
errors, and reached by a page / asked for a bug's state through a local HTTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.config import ConfigError, load_config_text, plugins
from bot.paging.plugin import provider_plugins
from bot.playbooks.trackers.registry import TrackerSet
from storage.unit_of_work import Store
from tests.integration.paging_rig import make_rig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "statusdesk-example"

ENTRY_POINTS = """\
[statusdesk.paging_providers]
notify = statusdesk_example.provider:Notify
broken = statusdesk_example_missing.provider:Broken

[statusdesk.trackers]
tickets = statusdesk_example.tracker:Tickets
"""


def install(site: Path, entry_points: str) -> None:
    """What `pip install` leaves for importlib.metadata: a dist-info with entry points."""
    info = site / "statusdesk_example-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: statusdesk-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    site = tmp_path / "site"
    site.mkdir()
    install(site, ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(site))
    plugins.clear_caches()
    yield
    plugins.clear_caches()  # before monkeypatch takes the paths away; rebuilt lazily


class Receiver:
    """The far end of both plug-ins: takes pages, answers for tickets."""

    def __init__(self) -> None:
        self.pages: list[tuple[str | None, dict[str, Any]]] = []
        self.url = ""

    async def page(self, request: web.Request) -> web.Response:
        self.pages.append((request.headers.get("Authorization"), await request.json()))
        return web.Response(status=202)

    async def ticket(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        if number == "404":
            return web.Response(status=404)
        state = "closed" if number == "2" else "open"
        return web.json_response({"state": state, "title": f"Ticket {number}"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/pages", found.page)
    app.router.add_get("/api/tickets/{number}", found.ticket)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{port}"
    try:
        yield found
    finally:
        await runner.cleanup()


def config_text(url: str, notify: str | None = None) -> str:
    notify = notify or f"{{url: '{url}/pages', token: s3cret, priority: 2}}"
    return (
        "paging:\n"
        "  escalation_managers: [{name: bob, contacts: {notify: '@bob'}}]\n"
        f"  providers:\n    notify: {notify}\n"
        f"playbooks:\n  trackers:\n    tickets: {{url: '{url}'}}\n"
    )


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source="config.yaml", env={})
    return [str(p) for p in info.value.problems]


def test_the_plug_ins_are_found_beside_the_built_ins(example: None) -> None:
    providers = provider_plugins()
    assert list(providers)[:5] == ["pagerduty", "opsgenie", "webhook", "email", "chat"]
    assert "notify" in providers and "broken" not in providers  # it cannot be imported
    assert "tickets" in plugins.usable(plugins.TRACKERS)


def test_the_plug_in_schema_validates_its_key(example: None) -> None:
    config = load_config_text(config_text("http://127.0.0.1:9"), env={})
    notify = config.paging.providers.configured()["notify"]
    assert type(notify).__name__ == "NotifyConfig"
    assert notify.priority == 2  # type: ignore[attr-defined]

    assert problems(config_text("http://h", "{url: 'not a url', priority: 9, size: 1}")) == [
        "paging.providers.notify.url: must be an http:// or https:// URL",
        "paging.providers.notify.priority: must be 1-5",
        "paging.providers.notify.size: unknown key",
    ]
    assert problems(config_text("http://h", "{token: x}")) == [
        "paging.providers.notify.url: required"]


def test_the_plug_in_contact_kind(example: None) -> None:
    managers = "  escalation_managers: [{name: bob, contacts: {notify: ''}}]\n"
    assert problems(f"paging:\n{managers}") == [
        "paging.escalation_managers[0].contacts.notify: must not be empty"]
    assert problems("paging: {escalation_managers: [{name: bob, contacts: {notify: '@b'}}]}"
                    ) == ["paging.escalation_managers[0].contacts.notify: no notify provider "
                          "configured (add paging.providers.notify: {...})"]
    assert problems("paging: {escalation_managers: [{name: bob, contacts: {}}]}") == [
        "paging.escalation_managers[0].contacts: set at least one contact (pagerduty, email, "
        "irc, matrix, opsgenie, webhook, notify)"]


def test_unknown_and_broken_plug_ins_are_config_errors(example: None) -> None:
    assert problems("paging: {providers: {slack: {}}}") == [
        "paging.providers.slack: unknown paging provider (known: broken, chat, email, notify, "
        "opsgenie, pagerduty, webhook)"]
    assert problems("playbooks: {trackers: {mantis: {}}}") == [
        "playbooks.trackers.mantis: unknown bug tracker (known: bugzilla, github, gitlab, "
        "jira, launchpad, redmine, tickets)"]
    [broken] = problems("paging: {providers: {broken: {}}}")
    assert broken.startswith(
        "paging.providers.broken: entry point broken = statusdesk_example_missing.provider:"
        "Broken in group statusdesk.paging_providers (distribution statusdesk-example) "
        "failed to load: ModuleNotFoundError: ")
    assert "statusdesk_example_missing" in broken


def test_without_the_plug_in_its_key_is_unknown() -> None:
    plugins.clear_caches()
    assert problems("paging: {providers: {notify: {url: 'http://h'}}}") == [
        "paging.providers.notify: unknown paging provider (known: chat, email, opsgenie, "
        "pagerduty, webhook)"]


async def test_a_page_reaches_the_plug_in(example: None, receiver: Receiver,
                                          store: Store) -> None:
    config = load_config_text(config_text(receiver.url), env={})
    async with aiohttp.ClientSession() as http:
        rig = await make_rig(store, config.paging, http=http)
        await rig.say("#incident open sev2 Gerrit down")
        assert await rig.say("#page 1 help") == [
            "Paging bob for incident #1 (step 1 of 1 via notify: help)."]
        await rig.deliver()
        await rig.say("#ack", nick="bob")
        await rig.deliver()
    assert [(auth, page["action"], page["to"]) for auth, page in receiver.pages] == [
        ("Bearer s3cret", "trigger", "@bob"), ("Bearer s3cret", "acknowledge", "@bob")]
    assert receiver.pages[0][1]["text"] == "[sev2] #1 Gerrit down — help"
    assert receiver.pages[0][1]["priority"] == 2


async def test_the_tracker_plug_in_answers_for_its_bugs(example: None,
                                                        receiver: Receiver) -> None:
    config = load_config_text(config_text(receiver.url), env={})
    trackers = TrackerSet.from_config(config.playbooks.trackers)
    found = trackers.resolve(f"{receiver.url}/tickets/2")
    assert found is not None
    tracker, ref = found
    assert (tracker.name, ref.number) == ("tickets", "2")
    async with aiohttp.ClientSession() as http:
        info = await tracker.fetch(ref, http)
    assert (info.state, info.title) == ("closed", "Ticket 2")
    # The built-ins are still there.
    github = trackers.resolve("https://github.com/opendev/zuul/issues/1")
    assert github is not None and github[0].name == "github"


def test_check_config_reports_plug_in_problems_without_a_traceback(tmp_path: Path) -> None:
    """`statusdesk check-config` in a process where the example is installed (PYTHONPATH
    instead of pip) and one of its entry points cannot be imported."""
    site = tmp_path / "site"
    site.mkdir()
    install(site, ENTRY_POINTS)
    config = tmp_path / "config.yaml"
    config.write_text(
        "paging:\n"
        "  escalation_managers: [{name: bob, contacts: {notify: '@bob'}}]\n"
        "  providers:\n"
        "    notify: {url: 'ftp://h', priority: 0}\n"
        "    broken: {}\n"
        "    slack: {}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), str(EXAMPLE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "check-config", "-c", str(config)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert "paging.providers.notify.url: must be an http:// or https:// URL" in output
    assert "paging.providers.notify.priority: must be 1-5" in output
    assert ("paging.providers.broken: entry point broken = statusdesk_example_missing.provider:"
            "Broken in group statusdesk.paging_providers (distribution statusdesk-example) "
            "failed to load: ModuleNotFoundError") in output
    assert ("paging.providers.slack: unknown paging provider (known: broken, chat, email, "
            "notify, opsgenie, pagerduty, webhook)") in output


def test_a_plug_in_failing_to_start_is_named(example: None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from statusdesk_example.tracker import Tickets

    def explode(config: object) -> list[object]:
        raise RuntimeError("no route to tickets")

    monkeypatch.setattr(Tickets, "from_config", explode)
    config = load_config_text(config_text("http://127.0.0.1:9"), env={})
    with pytest.raises(plugins.PluginFailed) as info:
        TrackerSet.from_config(config.playbooks.trackers)
    assert str(info.value) == (
        "playbooks.trackers.tickets: entry point tickets = statusdesk_example.tracker:Tickets "
        "in group statusdesk.trackers (distribution statusdesk-example) failed to start: "
        "RuntimeError: no route to tickets")
