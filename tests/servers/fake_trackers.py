"""Local bug trackers speaking the documented APIs of GitHub, GitLab, Launchpad, Bugzilla
and Jira, in the shape their real responses have (fields trimmed to the ones a client sees
most, values invented). Each runs on its own loopback port, counts the requests it gets, and
can be made slow, broken or rate-limiting.

Run one by hand to poke at it: `python -m tests.servers.fake_trackers`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tests import secrets
from tests.servers.ports import free_port


@dataclass
class Bug:
    number: str
    title: str
    open: bool = True
    assignee: str | None = None
    project: str = "acme/infra"
    status: str | None = None
    """The tracker's own status when the default for `open` will not do (Launchpad: one
    per task, comma-separated `target:status`)."""
    updated: str = "2026-11-20T09:30:00Z"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FakeTracker:
    kind: str
    bugs: dict[str, Bug] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    delay: float = 0.0
    """Seconds to wait before answering (a slow or hanging tracker)."""
    fail_status: int | None = None
    """Answer every request with this status (500, 502, ...)."""
    rate_limited: bool = False
    """Answer as the tracker does when the quota is spent."""
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        return len(self.seen)

    def add(self, number: str | int, title: str, **kwargs: Any) -> str:
        """Add a bug; returns its web URL (what goes into a playbook)."""
        bug = Bug(str(number), title, **kwargs)
        self.bugs[bug.number] = bug
        return self.web_url(bug.number, bug.project)

    def web_url(self, number: str | int, project: str = "acme/infra") -> str:
        return {
            "github": f"{self.base}/{project}/issues/{number}",
            "gitlab": f"{self.base}/{project}/-/issues/{number}",
            "launchpad": f"https://bugs.launchpad.net/{project.split('/')[-1]}/+bug/{number}",
            "bugzilla": f"{self.base}/bugzilla/show_bug.cgi?id={number}",
            "jira": f"{self.base}/jira/browse/{number}",
        }[self.kind]

    @property
    def config(self) -> dict[str, str]:
        """This tracker's entry under playbooks.trackers."""
        return {
            "github": {"api_url": f"{self.base}/api/v3", "token": secrets.GITHUB_TOKEN},
            "gitlab": {"api_url": f"{self.base}/api/v4", "token": secrets.GITLAB_TOKEN},
            "launchpad": {"api_url": f"{self.base}/1.0"},
            "bugzilla": {"url": f"{self.base}/bugzilla"},
            "jira": {"url": f"{self.base}/jira", "token": secrets.JIRA_TOKEN},
        }[self.kind]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.raw_path, dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.rate_limited:
            return self._rate_limit()
        if self.fail_status is not None:
            return web.Response(status=self.fail_status, text="<html>Bad gateway</html>",
                                content_type="text/html")
        handler = getattr(self, f"_{self.kind}")
        response: web.StreamResponse = handler(request)
        return response

    def _rate_limit(self) -> web.Response:
        if self.kind == "github":
            return web.json_response(
                {"message": "API rate limit exceeded for 127.0.0.1.",
                 "documentation_url": "https://docs.github.com/rest/overview/rate-limits"},
                status=403,
                headers={"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0",
                         "x-ratelimit-used": "60", "x-ratelimit-resource": "core",
                         "x-ratelimit-reset": str(int(time.time()) + 600)},
            )
        return web.json_response({"message": "Too Many Requests"}, status=429,
                                 headers={"Retry-After": "600"})

    # --- GitHub: GET /api/v3/repos/{owner}/{repo}/issues/{number} ---------------------------

    def _github(self, request: web.Request) -> web.Response:
        parts = request.path.split("/")
        # ['', 'api', 'v3', 'repos', owner, repo, 'issues', number]
        if len(parts) != 8 or parts[1:4] != ["api", "v3", "repos"] or parts[6] != "issues":
            return _github_not_found()
        bug = self.bugs.get(parts[7])
        if bug is None or bug.project != f"{parts[4]}/{parts[5]}":
            return _github_not_found()
        user = {"login": bug.assignee, "id": 1, "type": "User"} if bug.assignee else None
        return web.json_response({
            "url": f"{self.base}/api/v3/repos/{bug.project}/issues/{bug.number}",
            "html_url": f"{self.base}/{bug.project}/issues/{bug.number}",
            "id": 1000 + int(bug.number),
            "number": int(bug.number),
            "title": bug.title,
            "user": {"login": "reporter", "id": 2, "type": "User"},
            "labels": [{"name": "bug", "color": "d73a4a"}],
            "state": "open" if bug.open else "closed",
            "state_reason": None if bug.open else "completed",
            "locked": False,
            "assignee": user,
            "assignees": [user] if user else [],
            "comments": 3,
            "created_at": "2026-10-01T08:00:00Z",
            "updated_at": bug.updated,
            "closed_at": None if bug.open else bug.updated,
            "body": "Steps to reproduce...",
        }, headers={"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999"})

    # --- GitLab: GET /api/v4/projects/{url-encoded path}/issues/{iid} -----------------------

    def _gitlab(self, request: web.Request) -> web.Response:
        # The raw path: the project is ONE segment, its slashes encoded as %2F.
        parts = request.raw_path.split("?")[0].split("/")
        # ['', 'api', 'v4', 'projects', 'group%2Fproject', 'issues', iid]
        if len(parts) != 7 or parts[1:4] != ["api", "v4", "projects"] or parts[5] != "issues":
            return web.json_response({"error": "404 Not Found"}, status=404)
        bug = self.bugs.get(parts[6])
        if bug is None or unquote(parts[4]) != bug.project:
            return web.json_response({"message": "404 Not found"}, status=404)
        person = ({"id": 7, "username": bug.assignee, "name": bug.assignee.title(),
                   "state": "active"} if bug.assignee else None)
        return web.json_response({
            "id": 5000 + int(bug.number),
            "iid": int(bug.number),
            "project_id": 42,
            "title": bug.title,
            "description": "Seen on every runner.",
            "state": "opened" if bug.open else "closed",
            "created_at": "2026-10-01T08:00:00.000Z",
            "updated_at": bug.updated.replace("Z", ".000Z"),
            "closed_at": None if bug.open else bug.updated,
            "labels": ["incident"],
            "author": {"id": 3, "username": "reporter", "name": "Reporter"},
            "assignee": person,
            "assignees": [person] if person else [],
            "web_url": f"{self.base}/{bug.project}/-/issues/{bug.number}",
        })

    # --- Launchpad: GET /1.0/bugs/{id} and /1.0/bugs/{id}/bug_tasks -------------------------

    def _launchpad(self, request: web.Request) -> web.Response:
        parts = request.path.split("/")
        # ['', '1.0', 'bugs', id] or ['', '1.0', 'bugs', id, 'bug_tasks']
        if len(parts) not in (4, 5) or parts[1:3] != ["1.0", "bugs"]:
            return web.Response(status=404, text="Object: <...>, name: 'x'")
        bug = self.bugs.get(parts[3])
        if bug is None:
            return web.Response(status=404, text=f"Object: <BugSet>, name: '{parts[3]}'",
                                content_type="text/plain")
        api = f"{self.base}/1.0"
        link = f"{api}/bugs/{bug.number}"
        if len(parts) == 4:
            return web.json_response({
                "self_link": link,
                "web_link": f"https://bugs.launchpad.net/bugs/{bug.number}",
                "resource_type_link": f"{api}/#bug",
                "id": int(bug.number),
                "title": bug.title,
                "description": "Seen on every node.",
                "date_created": "2026-10-01T08:00:00.123456+00:00",
                "date_last_updated": bug.updated.replace("Z", ".654321+00:00"),
                "heat": 12,
                "bug_tasks_collection_link": f"{link}/bug_tasks",
                "owner_link": f"{api}/~reporter",
                "private": False,
            })
        tasks = bug.status or f"{bug.project.split('/')[-1]}:" + (
            "Triaged" if bug.open else "Fix Released")
        entries = []
        for task in tasks.split(","):
            target, status = task.split(":")
            entries.append({
                "self_link": f"{api}/{target}/+bug/{bug.number}",
                "resource_type_link": f"{api}/#bug_task",
                "bug_target_name": target,
                "bug_target_display_name": target.title(),
                "status": status,
                "importance": "High",
                "assignee_link": f"{api}/~{bug.assignee}" if bug.assignee else None,
                "bug_link": link,
                "date_closed": None,
                "is_complete": status in ("Fix Released", "Invalid", "Won't Fix"),
            })
        return web.json_response({"start": 0, "total_size": len(entries),
                                  "entries": entries})

    # --- Bugzilla: GET /bugzilla/rest/bug/{id} -----------------------------------------------

    def _bugzilla(self, request: web.Request) -> web.Response:
        parts = request.path.split("/")
        if len(parts) != 5 or parts[1:4] != ["bugzilla", "rest", "bug"]:
            return web.json_response({"error": True, "code": 32614,
                                      "message": "A REST API resource was not found"},
                                     status=404)
        bug = self.bugs.get(parts[4])
        if bug is None:
            return web.json_response({
                "error": True, "code": 101, "documentation": "https://bugzilla.readthedocs.org",
                "message": f"Bug #{parts[4]} does not exist.",
            }, status=404)
        status = bug.status or ("ASSIGNED" if bug.open else "RESOLVED")
        return web.json_response({"faults": [], "bugs": [{
            "id": int(bug.number),
            "summary": bug.title,
            "status": status,
            "resolution": "" if bug.open else "FIXED",
            "is_open": bug.open,
            "assigned_to": f"{bug.assignee}@example.org" if bug.assignee else "nobody@example.org",
            "last_change_time": bug.updated,
        }]})

    # --- Jira: GET /jira/rest/api/2/issue/{key} -------------------------------------------

    def _jira(self, request: web.Request) -> web.Response:
        parts = request.path.split("/")
        if len(parts) != 7 or parts[1:6] != ["jira", "rest", "api", "2", "issue"]:
            return web.json_response({"errorMessages": ["Not found"], "errors": {}}, status=404)
        bug = self.bugs.get(parts[6])
        if bug is None:
            return web.json_response({"errorMessages": ["Issue Does Not Exist"], "errors": {}},
                                     status=404)
        category = ({"id": 4, "key": "indeterminate", "colorName": "yellow",
                     "name": "In Progress"} if bug.open else
                    {"id": 3, "key": "done", "colorName": "green", "name": "Done"})
        return web.json_response({
            "expand": "renderedFields,names,schema",
            "id": str(10000 + int(bug.number.split("-")[-1])),
            "self": f"{self.base}/jira/rest/api/2/issue/{bug.number}",
            "key": bug.number,
            "fields": {
                "summary": bug.title,
                "status": {"name": bug.status or ("In Progress" if bug.open else "Closed"),
                           "id": "3", "statusCategory": category},
                "assignee": {"name": bug.assignee, "displayName": bug.assignee.title(),
                             "active": True} if bug.assignee else None,
                "updated": bug.updated.replace("Z", ".000+0000"),
            },
        })


def _github_not_found() -> web.Response:
    return web.json_response({"message": "Not Found",
                              "documentation_url": "https://docs.github.com/rest"},
                             status=404)


class FakeTrackers:
    """One of each, started together."""

    def __init__(self) -> None:
        self.github = FakeTracker("github")
        self.gitlab = FakeTracker("gitlab")
        self.launchpad = FakeTracker("launchpad")
        self.bugzilla = FakeTracker("bugzilla")
        self.jira = FakeTracker("jira")
        self.all = (self.github, self.gitlab, self.launchpad, self.bugzilla, self.jira)

    async def start(self) -> None:
        for tracker in self.all:
            await tracker.start()

    async def stop(self) -> None:
        for tracker in self.all:
            await tracker.stop()

    @property
    def config(self) -> dict[str, dict[str, str]]:
        """`playbooks.trackers` pointing at these servers."""
        return {t.kind: t.config for t in self.all}


async def _serve_forever() -> None:
    trackers = FakeTrackers()
    await trackers.start()
    trackers.github.add(1, "Scheduler loses events", assignee="alice")
    for tracker in trackers.all:
        print(tracker.kind, tracker.base)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve_forever())


@asynccontextmanager
async def running_trackers() -> AsyncIterator[FakeTrackers]:
    trackers = FakeTrackers()
    await trackers.start()
    try:
        yield trackers
    finally:
        await trackers.stop()
