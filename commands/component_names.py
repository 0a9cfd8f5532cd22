"""Naming components: the id is the slug of the name (`Code review` -> `code-review`), and
chat names one by its name or its id, case-insensitively. Pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final, Protocol, TypeVar

__all__ = ["MAX_COMPONENT_NAME", "Named", "find", "slug"]

MAX_COMPONENT_NAME: Final = 100
"""Longest component name (config and chat)."""

_NOT_WORD: Final = re.compile(r"[^a-z0-9]+")


def slug(name: str) -> str:
    """`Code review` -> `code-review`: lower-case ASCII letters and digits joined by `-`
    (accents dropped). Empty when the name has no letter or digit at all."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NOT_WORD.sub("-", ascii_name.lower()).strip("-")


class Named(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


def find(components: Iterable[T], word: str) -> T | None:
    """The component `word` names: its id, its name, or the slug of `word`, ignoring case."""
    wanted = word.strip().casefold()
    if not wanted:
        return None
    by_slug = slug(word)
    fallback: T | None = None
    for component in components:
        if component.id.casefold() == wanted or component.name.casefold() == wanted:
            return component
        if by_slug and component.id == by_slug and fallback is None:
            fallback = component
    return fallback
