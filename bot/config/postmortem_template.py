"""The Jinja2 environment postmortem templates run in, and the check-config look at one.

Here rather than in bot/incidents so the configuration can compile an operator's template
without importing the export machinery (and storage) with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

FILTERS = ("md", "link")
"""Filters every postmortem template may use (bot/incidents/postmortem.py defines them)."""


def template_environment(
    directory: Path, filters: dict[str, Callable[[str | None], str]], *, sandboxed: bool = True
) -> Environment:
    # The sandbox checks every attribute read, which costs ~1 s on 50,000 timeline rows:
    # our own template is trusted and skips it; an operator's file never does.
    kind = ImmutableSandboxedEnvironment if sandboxed else Environment
    environment = kind(
        loader=FileSystemLoader(directory),
        autoescape=False,  # Markdown, not HTML: chat text is escaped for Markdown instead
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # A misspelt name in an operator's template is an error, not a silent blank.
        undefined=StrictUndefined,
    )
    environment.filters.update(filters)
    return environment


def check_template(path: Path) -> str | None:
    """Why `path` cannot be a postmortem template, or None when it can."""
    if not path.is_file():
        return f"no such file: {path}"
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return f"cannot read {path}: {error}"
    environment = template_environment(path.parent, {name: str for name in FILTERS})
    try:
        environment.compile(source, name=path.name)
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line else ""
        return f"not a valid Jinja2 template{where}: {error.message or error}"
    return None
