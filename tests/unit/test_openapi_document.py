"""/api/openapi.json is a valid OpenAPI 3.1 document and names every path of DESIGN Part 1."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate
from openapi_spec_validator.versions.shortcuts import get_spec_version

from bot.web import openapi

DESIGN = Path("/work/shared/DESIGN.md")


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()
    validate(document)
    assert str(get_spec_version(document)) == "OpenAPIV3.1"


def test_every_path_the_web_app_routes_is_described() -> None:
    paths = set(openapi.document()["paths"])
    from bot.web.app import FIXED_PATHS

    for path in FIXED_PATHS:
        if not path.startswith("/static/"):
            assert path in paths
    for path in ("/api/incidents/{id}/log.json", "/api/incidents/{id}/log.md",
                 "/api/incidents/{id}/bundle.tar.gz", "/api/v1/commands", "/healthz",
                 "/metrics", "/api/events", "/api/openapi.json", "/subscribe",
                 "/api/subscriptions", "/subscriptions/confirm",
                 "/subscriptions/unsubscribe", "/console", "/console/sign-in",
                 "/console/sign-out", "/console/command", "/incidents/{id}", "/history",
                 "/playbooks", "/playbooks/{slug}", "/hooks/pagerduty"):
        assert path in paths, path


def test_the_paths_of_the_design_are_described() -> None:
    """Every `/path` in DESIGN Part 1's tables (ID as {id}, query strings dropped)."""
    if not DESIGN.exists():
        return
    part1 = DESIGN.read_text().split("## Part 2")[0]
    named = set()
    for cell in re.findall(r"`(/[a-z][^` ]*)`", part1):
        path = re.sub(r"/(ID|[0-9]+)(?=/|$)", "/{id}", cell.split("?")[0])
        if path.startswith(("/etc/", "/static/")):  # files on disk, static assets
            continue
        named.add(path)
    assert named - set(openapi.document()["paths"]) == set()
