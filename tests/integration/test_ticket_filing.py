"""Filing action items as tickets through each tracker's documented create API, against
local fake trackers that reject requests of the wrong shape (tests/servers/fake_trackers.py).

Every tracker: the issue is created once with the title and the marker in its body; a
second `file_once` finds it by the marker instead of creating another; an answer lost after
the tracker stored the issue does not make a duplicate on retry; the token never shows in
what a failure says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.config.loading import load_config_text
from bot.playbooks.trackers.filing import (
    FilingRefused,
    FilingTarget,
    IssueFiler,
    file_once,
    with_marker,
)
from bot.playbooks.trackers.registry import TrackerSet
from bot.playbooks.trackers.tracker import TrackerUnavailable
from tests import secrets
from tests.servers.fake_trackers import FakeTracker, FakeTrackers, running_trackers

PROJECTS = {"github": "acme/infra", "gitlab": "acme/sub/infra", "jira": "OPS",
            "launchpad": "opendev", "redmine": "ops"}
FILERS = tuple(PROJECTS)


@pytest.fixture
async def fakes() -> AsyncIterator[FakeTrackers]:
    async with running_trackers() as trackers:
        yield trackers


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


def trackers_of(fakes: FakeTrackers) -> TrackerSet:
    import json

    config = load_config_text(f"playbooks: {{trackers: {json.dumps(fakes.config)}}}\n")
    return TrackerSet.from_config(config.playbooks.trackers)


def filer_of(fakes: FakeTrackers, name: str) -> tuple[IssueFiler, FakeTracker]:
    filer = trackers_of(fakes).filer(name)
    assert filer is not None, name
    return filer, getattr(fakes, name)


@pytest.mark.parametrize("name", FILERS)
async def test_filed_once_then_found_by_its_marker(fakes: FakeTrackers, name: str,
                                                   session: aiohttp.ClientSession) -> None:
    filer, fake = filer_of(fakes, name)
    project, marker = PROJECTS[name], "statusdesk-action-A7-test"
    first = await file_once(filer, session, project, "Add a disk alert\non the DB hosts",
                            "From incident #1: https://status.example.org/incidents/1", marker)
    assert fake.created == 1 and fake.refused == []
    [bug] = fake.bugs.values()
    assert bug.title == "Add a disk alert on the DB hosts"  # one line
    assert bug.body.endswith(f"\n\n{marker}\n")
    assert "https://status.example.org/incidents/1" in bug.body
    assert bug.project == (project.split("/")[-1] if name == "launchpad" else project)
    assert first.id in first.url and first.state == "open"

    again = await file_once(filer, session, project, "Add a disk alert", "again", marker)
    assert again == first
    assert fake.created == 1
    assert await filer.find_by_marker(session, project, "statusdesk-action-A8-test") is None

    other = await file_once(filer, session, project, "Second", "other", "statusdesk-A8-x")
    assert other.url != first.url and fake.created == 2


@pytest.mark.parametrize("name", FILERS)
async def test_an_answer_lost_after_creation_is_not_a_second_issue(
        fakes: FakeTrackers, name: str, session: aiohttp.ClientSession) -> None:
    filer, fake = filer_of(fakes, name)
    fake.lose_answers = 1
    with pytest.raises(TrackerUnavailable):
        await file_once(filer, session, PROJECTS[name], "Rotate keys", "body", "sd-A3-x")
    assert fake.created == 1
    ticket = await file_once(filer, session, PROJECTS[name], "Rotate keys", "body", "sd-A3-x")
    assert fake.created == 1
    assert ticket.id in ticket.url


@pytest.mark.parametrize("name", FILERS)
async def test_tracker_trouble_is_retried_and_never_shows_the_token(
        fakes: FakeTrackers, name: str, session: aiohttp.ClientSession) -> None:
    filer, fake = filer_of(fakes, name)
    fake.fail_status = 503
    with pytest.raises(TrackerUnavailable) as error:
        await filer.create_issue(session, PROJECTS[name], "T", "B", "sd-A1-x")
    fake.fail_status = None
    fake.rate_limited = True
    with pytest.raises(TrackerUnavailable) as limited:
        await filer.create_issue(session, PROJECTS[name], "T", "B", "sd-A1-x")
    assert limited.value.retry_after
    for said in (str(error.value), str(limited.value)):
        assert not any(value in said for value in secrets.SECRETS.values())
    assert fake.created == 0


@pytest.mark.parametrize("name", FILERS)
async def test_the_fakes_reject_requests_of_the_wrong_shape(
        fakes: FakeTrackers, name: str, session: aiohttp.ClientSession) -> None:
    """A fake that took anything would prove nothing: without auth, with the wrong content
    type or without the required fields, each one refuses, and creates nothing."""
    fake: FakeTracker = getattr(fakes, name)
    path = {"github": "/api/v3/repos/acme/infra/issues",
            "gitlab": "/api/v4/projects/acme%2Finfra/issues",
            "jira": "/jira/rest/api/2/issue", "launchpad": "/1.0/bugs",
            "redmine": "/redmine/issues.json"}[name]
    url = fake.base + path
    good_auth = {
        "github": {"Authorization": f"Bearer {secrets.GITHUB_TOKEN}"},
        "gitlab": {"PRIVATE-TOKEN": secrets.GITLAB_TOKEN},
        "jira": {"Authorization": f"Bearer {secrets.JIRA_TOKEN}"},
        "launchpad": {"Authorization": (
            f'OAuth realm="https://api.launchpad.net/", oauth_consumer_key="t", '
            f'oauth_token="{secrets.LAUNCHPAD_TOKEN}", oauth_signature_method="PLAINTEXT", '
            f'oauth_signature="%26{secrets.LAUNCHPAD_TOKEN_SECRET}"')},
        "redmine": {"X-Redmine-API-Key": secrets.REDMINE_API_KEY},
    }[name]
    whole = {"github": {"title": "t", "body": "b"}, "gitlab": {"title": "t"},
             "jira": {"fields": {"project": {"key": "OPS"}, "summary": "t",
                                 "issuetype": {"name": "Task"}}},
             "redmine": {"issue": {"project_id": "ops", "subject": "t"}}}
    # No authentication at all.
    async with session.post(url, json=whole.get(name, {})) as response:
        assert response.status == 401
    # Required fields missing.
    if name == "launchpad":
        async with session.post(url, headers=good_auth, data={
                "ws.op": "createBug", "title": "t"}) as response:
            assert response.status == 400
        # JSON where Launchpad's named operations take a form.
        async with session.post(url, headers=good_auth, json={
                "ws.op": "createBug", "target": f"{fake.base}/1.0/opendev", "title": "t",
                "description": "d"}) as response:
            assert response.status == 415
    else:
        broken = {"github": {"body": "no title"}, "gitlab": {"description": "no title"},
                  "jira": {"fields": {"project": {"key": "OPS"}, "summary": "t"}},
                  "redmine": {"issue": {"subject": "t"}}}[name]
        async with session.post(url, headers=good_auth, json=broken) as response:
            assert 400 <= response.status < 500 and response.status != 401
    if name in ("github", "jira", "redmine"):
        # A form where a JSON body is documented.
        async with session.post(url, headers=good_auth, data={"title": "t"}) as response:
            assert 400 <= response.status < 500 and response.status != 401
    assert fake.created == 0 and len(fake.refused) >= 2


async def test_a_refusal_for_good_names_the_trackers_reason(
        fakes: FakeTrackers, session: aiohttp.ClientSession) -> None:
    filer, _fake = filer_of(fakes, "redmine")
    with pytest.raises(FilingRefused) as error:
        await filer.create_issue(session, "", "A title", "body", "sd-A1-x")
    assert "HTTP 422" in str(error.value) and "Project cannot be blank" in str(error.value)
    assert secrets.REDMINE_API_KEY not in str(error.value)


async def test_redmine_reads_issue_state_for_playbooks(
        fakes: FakeTrackers, session: aiohttp.ClientSession) -> None:
    trackers = trackers_of(fakes)
    open_url = fakes.redmine.add(12, "Worker stalls", assignee="Alice Admin", project="ops")
    closed_url = fakes.redmine.add(13, "Old crash", open=False, project="ops")
    found = trackers.resolve(open_url)
    assert found is not None
    tracker, ref = found
    assert (tracker.name, ref.number, ref.key) == ("redmine", "12", "#12")
    info = await tracker.fetch(ref, session)
    assert (info.state, info.title, info.status, info.assignee) == (
        "open", "Worker stalls", "New", "Alice Admin")
    closed = trackers.resolve(closed_url)
    assert closed is not None
    info = await closed[0].fetch(closed[1], session)
    assert (info.state, info.status) == ("closed", "Resolved")
    # The key travels in a header, never in the URL.
    assert all(secrets.REDMINE_API_KEY not in seen.path for seen in fakes.redmine.seen)
    assert fakes.redmine.seen[0].headers["X-Redmine-API-Key"] == secrets.REDMINE_API_KEY


def test_file_actions_in_targets() -> None:
    assert FilingTarget.parse("github:acme/infra") == FilingTarget("github", "acme/infra")
    assert FilingTarget.parse("gitlab:acme/sub/infra") == FilingTarget("gitlab",
                                                                       "acme/sub/infra")
    assert FilingTarget.parse("jira:OPS") == FilingTarget("jira", "OPS")
    assert FilingTarget.parse("redmine:ops") == FilingTarget("redmine", "ops")
    assert str(FilingTarget.parse("launchpad:opendev")) == "launchpad:opendev"
    for bad in ("github:acme", "jira:ops", "redmine:a/b", "bugzilla:x", "github:../x",
                "github:acme/infra extra", "", "github:"):
        assert FilingTarget.parse(bad) is None, bad


def test_the_marker_is_one_word_on_its_own_line() -> None:
    assert with_marker("text\n", "statusdesk-action-A7-host1") == (
        "text\n\nstatusdesk-action-A7-host1\n")
    with pytest.raises(ValueError):
        with_marker("x", "a marker with spaces")


async def test_jira_cloud_searches_where_it_moved(fakes: FakeTrackers,
                                                  session: aiohttp.ClientSession) -> None:
    filer, fake = filer_of(fakes, "jira")
    fake.jira_cloud = True
    first = await file_once(filer, session, "OPS", "T", "B", "statusdesk-action-A9-x")
    again = await file_once(filer, session, "OPS", "T", "B", "statusdesk-action-A9-x")
    assert again == first and fake.created == 1
    assert any(seen.path.startswith("/jira/rest/api/2/search/jql") for seen in fake.seen)


@pytest.mark.parametrize("name", FILERS)
async def test_chat_text_does_not_ping_tracker_users(fakes: FakeTrackers, name: str,
                                                     session: aiohttp.ClientSession) -> None:
    filer, fake = filer_of(fakes, name)
    await filer.create_issue(session, PROJECTS[name], "Ask @ops-team", "cc @alice and @bob",
                             "sd-A5-x")
    [bug] = fake.bugs.values()
    assert "@\u2060ops-team" in bug.title and "@ops" not in bug.title
    assert "@\u2060alice" in bug.body and "@alice" not in bug.body
    assert with_marker("mail user@example.org", "m") == "mail user@example.org\n\nm\n"
