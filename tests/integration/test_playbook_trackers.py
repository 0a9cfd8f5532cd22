"""Live bug states from local servers speaking each tracker's API: states mapped to
open/closed, errors, rate limits, timeouts, the cache and its bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import TrackersConfig
from bot.playbooks.bug_states import BugStates
from bot.playbooks.trackers.registry import TrackerSet
from tests import secrets
from tests.servers.fake_trackers import FakeTracker, FakeTrackers, running_trackers
from tests.servers.ports import free_port

KINDS = ("github", "gitlab", "launchpad", "bugzilla", "jira")


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fakes() -> AsyncIterator[FakeTrackers]:
    async with running_trackers() as trackers:
        yield trackers


def make_states(fakes: FakeTrackers, **kwargs: object) -> BugStates:
    trackers = TrackerSet.from_config(TrackersConfig.model_validate(fakes.config))
    kwargs.setdefault("ttl", timedelta(minutes=5))
    return BugStates(trackers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
async def states(fakes: FakeTrackers, ticks: Ticks) -> AsyncIterator[BugStates]:
    states = make_states(fakes, clock=ticks, request_timeout=3.0)
    try:
        yield states
    finally:
        await states.close()


def number(kind: str, n: int) -> str:
    return f"OPS-{n}" if kind == "jira" else str(n)


@pytest.mark.parametrize("kind", KINDS)
async def test_open_and_closed_bugs_with_title_assignee_and_update(
    kind: str, fakes: FakeTrackers, states: BugStates
) -> None:
    fake: FakeTracker = getattr(fakes, kind)
    open_url = fake.add(number(kind, 1234), "Scheduler loses events", assignee="alice",
                        updated="2026-11-20T09:30:00Z")
    closed_url = fake.add(number(kind, 1235), "Mirror returns 503", open=False)

    opened = await states.get(open_url)
    assert (opened.state, opened.title, opened.tracker) == ("open", "Scheduler loses events",
                                                            kind)
    assert opened.assignee is not None and "alice" in opened.assignee.lower()
    assert opened.updated is not None
    assert opened.updated.replace(microsecond=0) == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    key = "OPS-1234" if kind == "jira" else "#1234"
    assert opened.line == f"[open] {key} Scheduler loses events ({kind})"

    closed = await states.get(closed_url)
    assert closed.state == "closed"
    assert closed.line.startswith("[closed] ")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_bug_that_does_not_exist(kind: str, fakes: FakeTrackers,
                                         states: BugStates) -> None:
    fake: FakeTracker = getattr(fakes, kind)
    state = await states.get(fake.web_url(number(kind, 404)))
    assert state.state == "unknown" and state.missing
    assert state.line.endswith(f"({kind}): state unknown (no such bug)")


async def test_tokens_go_in_each_trackers_documented_header(fakes: FakeTrackers,
                                                            states: BugStates) -> None:
    urls = [fake.add(number(fake.kind, 1), "x") for fake in fakes.all]
    for state in await states.get_many(urls):
        assert state.state == "open", state
    github, gitlab, jira = fakes.github.seen[0], fakes.gitlab.seen[0], fakes.jira.seen[0]
    assert github.headers["Authorization"] == f"Bearer {secrets.GITHUB_TOKEN}"
    assert github.headers["Accept"] == "application/vnd.github+json"
    assert github.path == "/api/v3/repos/acme/infra/issues/1"
    assert gitlab.headers["PRIVATE-TOKEN"] == secrets.GITLAB_TOKEN
    assert "Authorization" not in gitlab.headers
    assert gitlab.path == "/api/v4/projects/acme%2Finfra/issues/1"
    assert jira.headers["Authorization"] == f"Bearer {secrets.JIRA_TOKEN}"
    assert jira.path == "/jira/rest/api/2/issue/OPS-1?fields=summary,status,assignee,updated"
    assert fakes.bugzilla.seen[0].path.startswith("/bugzilla/rest/bug/1?include_fields=")
    assert [s.path for s in fakes.launchpad.seen] == ["/1.0/bugs/1", "/1.0/bugs/1/bug_tasks"]


async def test_gitlab_nested_groups_stay_one_path_segment(fakes: FakeTrackers,
                                                          states: BugStates) -> None:
    url = fakes.gitlab.add(7, "Runner stuck", project="infra/ci/runners")
    assert (await states.get(url)).state == "open"
    assert fakes.gitlab.seen[0].path == "/api/v4/projects/infra%2Fci%2Frunners/issues/7"


async def test_launchpad_state_comes_from_the_urls_project_task(fakes: FakeTrackers,
                                                                states: BugStates) -> None:
    lp = fakes.launchpad
    lp.add(42, "Cells break", project="nova",
           status="nova:Fix Released,ubuntu:Triaged")
    lp.add(43, "Fix on the way", project="nova", status="nova:Fix Committed")
    lp.add(44, "All done", project="nova", status="nova:Fix Released,ubuntu:Won't Fix")
    assert (await states.get("https://bugs.launchpad.net/nova/+bug/42")).state == "closed"
    # Without a project in the URL, it is open while any task is.
    assert (await states.get("https://launchpad.net/bugs/42")).state == "open"
    assert (await states.get("https://bugs.launchpad.net/nova/+bug/43")).state == "open"
    assert (await states.get("https://launchpad.net/bugs/44")).state == "closed"


async def test_a_second_lookup_within_the_ttl_makes_no_request(
    fakes: FakeTrackers, states: BugStates, ticks: Ticks
) -> None:
    url = fakes.github.add(1, "Flaky")
    await states.get(url)
    assert fakes.github.requests == 1
    fakes.github.bugs["1"].open = False
    ticks.now += 299
    assert (await states.get(url)).state == "open"  # cached
    assert fakes.github.requests == 1
    ticks.now += 2
    assert (await states.get(url)).state == "closed"
    assert fakes.github.requests == 2


async def test_concurrent_lookups_of_one_bug_make_one_request(fakes: FakeTrackers,
                                                              states: BugStates) -> None:
    url = fakes.jira.add("OPS-9", "Slow")
    fakes.jira.delay = 0.2
    results = await asyncio.gather(*(states.get(url) for _ in range(5)))
    assert {r.state for r in results} == {"open"}
    assert fakes.jira.requests == 1


@pytest.mark.parametrize("kind", ["github", "gitlab"])
async def test_rate_limited_tracker_is_left_alone(kind: str, fakes: FakeTrackers,
                                                  states: BugStates, ticks: Ticks,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    fake: FakeTracker = getattr(fakes, kind)
    first, second = fake.add(1, "a"), fake.add(2, "b")
    fake.rate_limited = True
    state = await states.get(first)
    assert state.state == "unknown" and state.reason == "rate limited"
    assert fake.requests == 1
    # Another bug on the same tracker is not asked while the limit lasts (600 s)...
    assert (await states.get(second)).reason == "rate limited"
    ticks.now += 120
    assert (await states.get(second)).reason == "rate limited"
    assert fake.requests == 1
    # ...and is once it is over.
    fake.rate_limited = False
    ticks.now += 600
    assert (await states.get(second)).state == "open"
    assert fake.requests == 2
    assert not any("secret-token" in r.getMessage() for r in caplog.records)


async def test_server_errors_and_refused_connections_are_unreachable(
    fakes: FakeTrackers, states: BugStates, ticks: Ticks
) -> None:
    url = fakes.bugzilla.add(5, "x")
    fakes.bugzilla.fail_status = 502
    state = await states.get(url)
    assert state.line == "[unknown] #5 (bugzilla): state unknown (tracker unreachable)"
    # A failure is cached briefly, so a dead tracker is not hammered...
    await states.get(url)
    assert fakes.bugzilla.requests == 1
    # ...but noticed again once it is back.
    fakes.bugzilla.fail_status = None
    ticks.now += 61
    assert (await states.get(url)).state == "open"

    closed_port = f"http://127.0.0.1:{free_port()}"
    nobody = TrackersConfig.model_validate({"jira": {"url": f"{closed_port}/jira"}})
    dead = BugStates(TrackerSet.from_config(nobody), ttl=timedelta(minutes=5))
    try:
        state = await dead.get(f"{closed_port}/other/1")
        assert state.reason == "no tracker configured for this host"
        assert state.line == f"[unknown] {closed_port}/other/1: state unknown (no tracker " \
            "configured for this host)"
        refused = await dead.get(f"{closed_port}/jira/browse/OPS-1")
        assert refused.reason == "tracker unreachable"
    finally:
        await dead.close()


async def test_a_slow_tracker_times_out(fakes: FakeTrackers) -> None:
    url = fakes.gitlab.add(3, "Slow")
    fakes.gitlab.delay = 5
    states = make_states(fakes, request_timeout=0.3)
    try:
        started = asyncio.get_running_loop().time()
        state = await states.get(url)
        assert asyncio.get_running_loop().time() - started < 2
        assert state.reason == "tracker unreachable"
    finally:
        await states.close()


async def test_chat_waits_briefly_and_the_answer_lands_in_the_cache(
    fakes: FakeTrackers
) -> None:
    quick = fakes.github.add(1, "Quick")
    slow = fakes.jira.add("OPS-2", "Slow")
    fakes.jira.delay = 0.6
    states = make_states(fakes, request_timeout=5)
    try:
        first = await states.get_many([quick, slow], wait=0.2)
        assert [s.line for s in first] == [
            "[open] #1 Quick (github)",
            "[unknown] OPS-2 (jira): state unknown (tracker unreachable)",
        ]
        await asyncio.sleep(0.8)
        cached = states.cached(slow)
        assert cached is not None and cached.state == "open"
        again = await states.get_many([quick, slow], wait=0.2)
        assert [s.state for s in again] == ["open", "open"]
        assert fakes.jira.requests == 1
    finally:
        await states.close()


async def test_concurrency_is_bounded(fakes: FakeTrackers) -> None:
    urls = [fakes.github.add(n, f"bug {n}") for n in range(1, 9)]
    fakes.github.delay = 0.2
    states = make_states(fakes, concurrency=2)
    try:
        started = asyncio.get_running_loop().time()
        results = await states.get_many(urls)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await states.close()
    assert {r.state for r in results} == {"open"}
    # 8 requests, 2 at a time, 0.2 s each: at least 4 rounds.
    assert elapsed >= 0.75


async def test_titles_from_trackers_are_made_safe_for_chat(fakes: FakeTrackers,
                                                           states: BugStates) -> None:
    url = fakes.github.add(1, "Evil\r\nPRIVMSG #ops :pwned\x02" + "x" * 500)
    state = await states.get(url)
    assert state.title is not None
    assert "\r" not in state.title and "\n" not in state.title and "\x02" not in state.title
    assert len(state.title) <= 200

