"""Local bug trackers speaking the documented APIs of GitHub, GitLab, Launchpad, Bugzilla,
Jira and Redmine, in the shape their real responses have (fields trimmed to the ones a client
sees most, values invented). Each runs on its own loopback port, counts the requests it gets,
and can be made slow, broken or rate-limiting.

All but Bugzilla also take issues filed through their documented create API, and REJECT a
request of the wrong shape as the real tracker would (no token, wrong content type, missing
fields): `created` counts the issues made, `refused` the requests turned away, and the
search each documents finds an issue by a word of its body (the idempotency marker).

Run one by hand to poke at it: `python -m tests.servers.fake_trackers`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

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
    body: str = "Steps to reproduce..."


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
    created: int = 0
    """Issues made through the create API."""
    refused: list[str] = field(default_factory=list)
    """Why each create request of the wrong shape was turned away."""
    create_status: int | None = None
    """Answer every create request with this status (and the tracker's JSON error body)."""
    answer_delay: float = 0.0
    """Seconds between storing a created issue and answering (a window to crash in)."""
    search_hits: int = 0
    jira_cloud: bool = False
    """Jira: answer the removed `/rest/api/2/search` with 410, as Jira Cloud does, and
    search at `/rest/api/2/search/jql`."""
    """Searches that found an issue (a retry finding what an earlier attempt made)."""
    lose_answers: int = 0
    """Make the issue, then answer 502 anyway, this many times (an answer lost on the way
    back: the client cannot tell whether the issue exists)."""
    announce: bool = False
    """Print each issue made through the create API (when run by hand)."""
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
            "redmine": f"{self.base}/redmine/issues/{number}",
        }[self.kind]

    @property
    def config(self) -> dict[str, str]:
        """This tracker's entry under playbooks.trackers."""
        return {
            "github": {"api_url": f"{self.base}/api/v3", "token": secrets.GITHUB_TOKEN},
            "gitlab": {"api_url": f"{self.base}/api/v4", "token": secrets.GITLAB_TOKEN},
            "launchpad": {"api_url": f"{self.base}/1.0",
                          "oauth_token": secrets.LAUNCHPAD_TOKEN,
                          "oauth_token_secret": secrets.LAUNCHPAD_TOKEN_SECRET},
            "bugzilla": {"url": f"{self.base}/bugzilla"},
            "jira": {"url": f"{self.base}/jira", "token": secrets.JIRA_TOKEN},
            "redmine": {"url": f"{self.base}/redmine", "api_key": secrets.REDMINE_API_KEY},
        }[self.kind]

    def issues_with(self, word: str) -> list[Bug]:
        found = [bug for bug in self.bugs.values() if word in bug.body]
        self.search_hits += bool(found and word)
        return found

    def _next_number(self) -> str:
        numbers = [int(n.split("-")[-1]) for n in self.bugs if n.split("-")[-1].isdigit()]
        return str(max(numbers, default=0) + 1)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        app.router.add_route("POST", "/{tail:.*}", self._handle_create)
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
        search = getattr(self, f"_search_{self.kind}", None)
        found: web.StreamResponse | None = (
            search(request) if search is not None and self._is_search(request) else None)
        if found is not None:
            return found
        handler = getattr(self, f"_{self.kind}")
        response: web.StreamResponse = handler(request)
        return response

    def _is_search(self, request: web.Request) -> bool:
        return (request.path.endswith("/search/issues") or request.path.endswith("/search")
                or request.path.endswith("/search/jql")
                or request.query.get("ws.op") == "searchTasks")

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
        if len(parts) == 6 and parts[1:4] == ["api", "v4", "projects"] and parts[5] == "issues":
            # GET /projects/{path}/issues?search=WORD&in=description: a list
            word = request.query.get("search", "")
            return web.json_response([
                self._gitlab_issue(bug) for bug in self.issues_with(word)
                if word and bug.project == unquote(parts[4])])
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

    # --- Filing: each tracker's documented create API, and the search that finds a marker --

    async def _handle_create(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append(Seen(request.raw_path, dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.rate_limited:
            return self._rate_limit()
        if self.fail_status is not None:
            return web.Response(status=self.fail_status, text="<html>Bad gateway</html>",
                                content_type="text/html")
        if self.create_status is not None:
            return web.json_response({"message": "Validation Failed", "errors": [
                "the project does not take issues"]}, status=self.create_status)
        handler = getattr(self, f"_create_{self.kind}", None)
        if handler is None:
            return web.Response(status=405)
        response: web.Response = handler(request, raw)
        if response.status == 201 and self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        if response.status == 201 and self.lose_answers > 0:
            self.lose_answers -= 1
            return web.Response(status=502, text="<html>Bad gateway</html>",
                                content_type="text/html")
        return response

    def _refuse(self, why: str, status: int, payload: Any) -> web.Response:
        self.refused.append(why)
        return web.json_response(payload, status=status)

    def _json_body(self, request: web.Request, raw: bytes) -> Any:
        if request.content_type != "application/json":
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _store(self, title: str, body: str, project: str) -> Bug:
        bug = Bug(self._next_number(), title, project=project, body=body)
        self.bugs[bug.number] = bug
        self.created += 1
        if self.announce:
            print(f"{self.kind}: created {self.web_url(bug.number, project)} "
                  f"({title!r}, {len(body)} characters of body)", flush=True)
        return bug

    def _create_github(self, request: web.Request, raw: bytes) -> web.Response:
        # POST /api/v3/repos/{owner}/{repo}/issues
        parts = request.path.split("/")
        if len(parts) != 7 or parts[1:4] != ["api", "v3", "repos"] or parts[6] != "issues":
            return _github_not_found()
        if request.headers.get("Authorization") != f"Bearer {secrets.GITHUB_TOKEN}":
            return self._refuse("github: no token", 401, {
                "message": "Requires authentication",
                "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue"})
        data = self._json_body(request, raw)
        allowed = {"title", "body", "assignee", "milestone", "labels", "assignees", "type"}
        if not isinstance(data, dict):
            return self._refuse("github: not JSON", 400, {"message": "Problems parsing JSON"})
        if (not isinstance(data.get("title"), str) or not data["title"]
                or not isinstance(data.get("body", ""), str) or set(data) - allowed):
            return self._refuse("github: bad fields", 422, {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}]})
        bug = self._store(data["title"], data.get("body") or "", f"{parts[4]}/{parts[5]}")
        return web.json_response(self._github_issue(bug), status=201)

    def _github_issue(self, bug: Bug) -> dict[str, Any]:
        return {
            "url": f"{self.base}/api/v3/repos/{bug.project}/issues/{bug.number}",
            "html_url": f"{self.base}/{bug.project}/issues/{bug.number}",
            "number": int(bug.number), "title": bug.title, "body": bug.body,
            "state": "open" if bug.open else "closed",
        }

    def _search_github(self, request: web.Request) -> web.Response:
        # GET /api/v3/search/issues?q="MARKER" repo:OWNER/REPO is:issue in:body
        query = request.query.get("q", "")
        phrase = re.search(r'"([^"]+)"', query)
        repo = re.search(r"\brepo:(\S+)", query)
        if phrase is None or repo is None:
            return web.json_response({"message": "Validation Failed"}, status=422)
        items = [self._github_issue(bug) for bug in self.issues_with(phrase.group(1))
                 if bug.project == repo.group(1)]
        return web.json_response({"total_count": len(items), "incomplete_results": False,
                                  "items": items})

    def _create_gitlab(self, request: web.Request, raw: bytes) -> web.Response:
        # POST /api/v4/projects/{url-encoded path}/issues (JSON or form)
        parts = request.raw_path.split("?")[0].split("/")
        if len(parts) != 6 or parts[1:4] != ["api", "v4", "projects"] or parts[5] != "issues":
            return web.json_response({"error": "404 Not Found"}, status=404)
        if request.headers.get("PRIVATE-TOKEN") != secrets.GITLAB_TOKEN:
            return self._refuse("gitlab: no token", 401, {"message": "401 Unauthorized"})
        if request.content_type == "application/x-www-form-urlencoded":
            data: Any = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            data = self._json_body(request, raw)
        if not isinstance(data, dict) or not isinstance(data.get("title"), str) \
                or not data["title"]:
            return self._refuse("gitlab: no title", 400, {"error": "title is missing"})
        bug = self._store(data["title"], str(data.get("description") or ""), unquote(parts[4]))
        return web.json_response(self._gitlab_issue(bug), status=201)

    def _gitlab_issue(self, bug: Bug) -> dict[str, Any]:
        return {"id": 5000 + int(bug.number), "iid": int(bug.number), "project_id": 42,
                "title": bug.title, "description": bug.body,
                "state": "opened" if bug.open else "closed",
                "web_url": f"{self.base}/{bug.project}/-/issues/{bug.number}"}

    def _create_jira(self, request: web.Request, raw: bytes) -> web.Response:
        # POST /jira/rest/api/2/issue {"fields": {project, summary, issuetype, description}}
        if request.path.rstrip("/") != "/jira/rest/api/2/issue":
            return web.json_response({"errorMessages": ["Not found"], "errors": {}}, status=404)
        if request.headers.get("Authorization") != f"Bearer {secrets.JIRA_TOKEN}":
            return self._refuse("jira: no token", 401, {
                "errorMessages": ["You are not authenticated."], "errors": {}})
        data = self._json_body(request, raw)
        if request.content_type != "application/json" or not isinstance(data, dict):
            return self._refuse("jira: not JSON", 415, {"errorMessages": ["Unsupported"]})
        fields = data.get("fields")
        errors: dict[str, str] = {}
        if not isinstance(fields, dict):
            fields = {}
            errors["fields"] = "fields is required"
        project = fields.get("project")
        if not (isinstance(project, dict) and isinstance(project.get("key"), str)):
            errors["project"] = "project is required"
        if not isinstance(fields.get("summary"), str) or not fields["summary"]:
            errors["summary"] = "You must specify a summary of the issue."
        kind = fields.get("issuetype")
        if not (isinstance(kind, dict) and (kind.get("name") or kind.get("id"))):
            errors["issuetype"] = "issue type is required"
        if errors:
            return self._refuse(f"jira: {sorted(errors)}", 400,
                                {"errorMessages": [], "errors": errors})
        assert isinstance(project, dict)
        number = f"{project['key']}-{self._next_number()}"
        bug = Bug(number, fields["summary"], project=project["key"],
                  body=str(fields.get("description") or ""))
        self.bugs[number] = bug
        self.created += 1
        return web.json_response({"id": str(10000 + self.created), "key": number,
                                  "self": f"{self.base}/jira/rest/api/2/issue/{number}"},
                                 status=201)

    def _search_jira(self, request: web.Request) -> web.Response:
        cloud_path = request.path.endswith("/search/jql")
        if self.jira_cloud != cloud_path:
            if cloud_path:
                return web.json_response({"errorMessages": ["Not found"]}, status=404)
            return web.json_response({"errorMessages": [
                "The requested API has been removed. Please migrate to the "
                "/rest/api/3/search/jql API."], "errors": {}}, status=410)
        jql = request.query.get("jql", "")
        project = re.search(r'project\s*=\s*"?([A-Z][A-Z0-9_]*)"?', jql)
        phrase = re.search(r'text\s*~\s*"\\"([^"\\]+)\\""', jql)
        if project is None or phrase is None:
            return web.json_response({"errorMessages": ["Error in the JQL Query"],
                                      "errors": {}}, status=400)
        issues = [{"key": bug.number, "fields": {
            "description": bug.body,
            "status": {"name": "To Do", "statusCategory": {"key": "new"}}}}
            for bug in self.issues_with(phrase.group(1)) if bug.project == project.group(1)]
        return web.json_response({"startAt": 0, "maxResults": 5, "total": len(issues),
                                  "issues": issues})

    def _create_launchpad(self, request: web.Request, raw: bytes) -> web.Response:
        # POST /1.0/bugs, form-encoded ws.op=createBug, target, title, description; OAuth
        if request.path != "/1.0/bugs":
            return web.Response(status=404, text="Not found")
        auth = request.headers.get("Authorization", "")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', auth))
        if (not auth.startswith("OAuth ") or fields.get("oauth_signature_method") != "PLAINTEXT"
                or fields.get("oauth_token") != secrets.LAUNCHPAD_TOKEN
                or unquote(fields.get("oauth_signature", "")) != "&" +
                secrets.LAUNCHPAD_TOKEN_SECRET or not fields.get("oauth_consumer_key")):
            return self._refuse("launchpad: not signed", 401, "Unauthorized")
        if request.content_type != "application/x-www-form-urlencoded":
            return self._refuse("launchpad: not a form", 415, "Unsupported Media Type")
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        target = form.get("target", "")
        if form.get("ws.op") != "createBug" or not target.startswith(f"{self.base}/1.0/") \
                or not form.get("title") or not form.get("description"):
            return self._refuse("launchpad: bad operation", 400, "Bad request")
        bug = self._store(form["title"], form["description"], target.rsplit("/", 1)[-1])
        return web.Response(status=201, headers={
            "Location": f"{self.base}/1.0/bugs/{bug.number}"})

    def _search_launchpad(self, request: web.Request) -> web.Response | None:
        # GET /1.0/{project}?ws.op=searchTasks&search_text=...
        if request.query.get("ws.op") != "searchTasks":
            return None
        project = request.path.split("/")[-1]
        word = request.query.get("search_text", "")
        entries = [{"bug_link": f"{self.base}/1.0/bugs/{bug.number}", "status": "New",
                    "bug_target_name": project}
                   for bug in self.issues_with(word) if word and bug.project == project]
        return web.json_response({"start": 0, "total_size": len(entries), "entries": entries})

    def _create_redmine(self, request: web.Request, raw: bytes) -> web.Response:
        # POST /redmine/issues.json {"issue": {project_id, subject, description}}
        if request.path != "/redmine/issues.json":
            return web.Response(status=404)
        if request.headers.get("X-Redmine-API-Key") != secrets.REDMINE_API_KEY:
            return self._refuse("redmine: no key", 401, {})
        data = self._json_body(request, raw)
        issue = data.get("issue") if isinstance(data, dict) else None
        if not isinstance(issue, dict):
            return self._refuse("redmine: not an issue", 422, {"errors": ["Invalid request"]})
        errors = []
        if not issue.get("project_id"):
            errors.append("Project cannot be blank")
        if not issue.get("subject"):
            errors.append("Subject cannot be blank")
        if errors:
            return self._refuse(f"redmine: {errors}", 422, {"errors": errors})
        bug = self._store(str(issue["subject"]), str(issue.get("description") or ""),
                          str(issue["project_id"]))
        return web.json_response({"issue": self._redmine_issue(bug)}, status=201)

    def _redmine_issue(self, bug: Bug) -> dict[str, Any]:
        closed = not bug.open
        return {
            "id": int(bug.number), "project": {"id": 1, "name": bug.project},
            "tracker": {"id": 4, "name": "action"},
            "status": {"id": 5 if closed else 1, "name": bug.status or (
                "Resolved" if closed else "New"), "is_closed": closed},
            "subject": bug.title, "description": bug.body,
            "assigned_to": {"id": 9, "name": bug.assignee} if bug.assignee else None,
            "updated_on": bug.updated, "closed_on": bug.updated if closed else None,
        }

    def _redmine(self, request: web.Request) -> web.Response:
        parts = request.path.split("/")
        # ['', 'redmine', 'issues', 'ID.json'] or ['', 'redmine', 'projects', P, 'search.json']
        if len(parts) == 5 and parts[1:3] == ["redmine", "projects"] \
                and parts[4] == "search.json":
            word = request.query.get("q", "")
            results = [{"id": int(b.number), "title": f"Action #{b.number}: {b.title}",
                        "type": "issue" if b.open else "issue-closed",
                        "url": f"{self.base}/redmine/issues/{b.number}",
                        "description": b.body, "datetime": b.updated}
                       for b in self.issues_with(word) if word and b.project == parts[3]]
            return web.json_response({"results": results, "total_count": len(results),
                                      "offset": 0, "limit": 25})
        if len(parts) != 4 or parts[1:3] != ["redmine", "issues"] \
                or not parts[3].endswith(".json"):
            return web.Response(status=404)
        bug = self.bugs.get(parts[3].removesuffix(".json"))
        if bug is None:
            return web.Response(status=404)
        return web.json_response({"issue": self._redmine_issue(bug)})


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
        self.redmine = FakeTracker("redmine")
        self.all = (self.github, self.gitlab, self.launchpad, self.bugzilla, self.jira,
                    self.redmine)

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


@asynccontextmanager
async def running_trackers() -> AsyncIterator[FakeTrackers]:
    trackers = FakeTrackers()
    await trackers.start()
    try:
        yield trackers
    finally:
        await trackers.stop()


class TrackersInThread:
    """The fake trackers on their own event loop in a thread, for tests that block (a
    console bot read line by line): `with TrackersInThread() as fakes: ...`."""

    def __init__(self) -> None:
        import threading

        self.trackers = FakeTrackers()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeTrackers:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.trackers.start(), self._loop).result(10)
        return self.trackers

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.trackers.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _serve_forever() -> None:
    """`python -m tests.servers.fake_trackers`: every fake on loopback, printing the
    `playbooks.trackers` to paste into a config and each issue filed (README "Filing action
    items as tickets")."""
    trackers = FakeTrackers()
    for tracker in trackers.all:
        tracker.announce = True
    await trackers.start()
    trackers.github.add(1, "Scheduler loses events", assignee="alice")
    print("playbooks:\n  trackers:", flush=True)
    for tracker in trackers.all:
        entry = ", ".join(f"{key}: {json.dumps(value)}" for key, value in tracker.config.items())
        print(f"    {tracker.kind}: {{{entry}}}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve_forever())
