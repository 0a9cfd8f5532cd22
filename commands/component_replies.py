"""What the bot says about components: replies, timeline sentences and broadcasts, built from
plain values (names, status words, ids), no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from commands.component_status import STATUS_WORDS_HELP, label

MAX_LINE = 350
"""A listing is cut into lines of at most this many characters (IRC replies are short)."""


def no_components() -> str:
    return "No components are configured (add them under components: in the configuration)."


def unknown_component(words: Sequence[str], known: Sequence[tuple[str, str]]) -> str:
    """`known`: (name, id) of every component."""
    which = ", ".join(repr(w) for w in words)
    noun = "component" if len(words) == 1 else "components"
    if not known:
        return f"No {noun} {which}. " + no_components()
    listed = ", ".join(name if name == cid else f"{name} ({cid})" for name, cid in known)
    return _cut(f"No {noun} {which}. Components: {listed}.")


def bad_status_word(word: str) -> str:
    return f"{word!r} is not a component status; use one of {STATUS_WORDS_HELP}."


def changed(name: str, old: str, new: str) -> str:
    """`Gerrit: major outage (was operational).`"""
    return f"{name}: {label(new)} (was {label(old)})."


def unchanged(name: str, status: str) -> str:
    return f"{name} is already {label(status)}."


def timeline_text(name: str, old: str, new: str, text: str | None) -> str:
    """The timeline entry of a status change, with the operator's words if any."""
    return changed(name, old, new) + (f" {text}" if text else "")


def linked_text(name: str, held_at: str, status: str) -> str:
    """The timeline entry of a link that did not change the component's status."""
    return f"{name}: affected ({label(held_at)}); stays {label(status)}."


def broadcast_text(name: str, new: str, text: str | None) -> str:
    return f"{name}: {label(new)}" + (f" — {text}" if text else "")


def affects(incident_id: int, parts: Sequence[tuple[str, str]]) -> str:
    """`parts`: (name, status now) of each component linked."""
    listed = ", ".join(f"{name} ({label(status)})" for name, status in parts)
    return _cut(f"Incident #{incident_id} affects {listed}.")


def resolved_incident(incident_id: int) -> str:
    return f"Incident #{incident_id} is resolved: it cannot hold components any more."


def released(incident_id: int, back: Sequence[str],
             still: Sequence[tuple[str, str, Sequence[int]]]) -> str:
    """After an incident resolved: which components are operational again, and which stay
    in a worse state because something else (`still`: name, status, holders) holds them."""
    parts = []
    if back:
        parts.append(f"{', '.join(back)} operational again")
    for name, status, holders in still:
        ids = ", ".join(f"#{i}" for i in holders)
        parts.append(f"{name} stays {label(status)} (held by {ids})")
    return _cut(f"Incident #{incident_id} resolved: " + "; ".join(parts) + ".")


def listing(rows: Sequence[tuple[str, str | None, str]]) -> list[str]:
    """`#component list`: (name, group, status) of every component, in page order."""
    if not rows:
        return [no_components()]
    items = [f"{name}{f' [{group}]' if group else ''}: {label(status)}"
             for name, group, status in rows]
    return _lines(items)


def now_line(rows: Sequence[tuple[str, str]]) -> str | None:
    """For `#now`: the components that are not operational ((name, status)), or None."""
    if not rows:
        return None
    return _cut("Components: " + ", ".join(f"{name} {label(status)}" for name, status in rows))


def _lines(items: Sequence[str]) -> list[str]:
    lines: list[str] = []
    current = ""
    for item in items:
        candidate = f"{current} · {item}" if current else item
        if current and len(candidate) > MAX_LINE:
            lines.append(current)
            candidate = item
        current = candidate
    if current:
        lines.append(current)
    return [_cut(line) for line in lines]


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"
