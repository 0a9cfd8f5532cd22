"""`postmortem.file_actions_in`: which tracker and project action items are filed in
(`github:acme/infra`). Pure parsing, shared by the configuration and the trackers."""

from __future__ import annotations

import re
from dataclasses import dataclass

TARGET_RE = re.compile(r"(github|gitlab|jira|redmine|launchpad):([A-Za-z0-9][A-Za-z0-9_./-]*)")
"""`TRACKER:PROJECT`."""


@dataclass(frozen=True, slots=True)
class FilingTarget:
    """Where action items are filed: `github:acme/infra` → tracker github, project
    acme/infra (a GitLab path, a Jira project key, a Redmine project identifier, a
    Launchpad project name)."""

    tracker: str
    project: str

    @classmethod
    def parse(cls, text: str) -> FilingTarget | None:
        match = TARGET_RE.fullmatch(text.strip())
        if match is None or ".." in match.group(2):
            return None
        tracker, project = match.groups()
        if tracker == "jira" and not re.fullmatch(r"[A-Z][A-Z0-9_]*", project):
            return None
        if tracker == "github" and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", project):
            return None
        if tracker in ("redmine", "launchpad") and "/" in project:
            return None
        return cls(tracker, project)

    def __str__(self) -> str:
        return f"{self.tracker}:{self.project}"
