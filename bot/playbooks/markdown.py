"""Playbook Markdown to HTML that is safe to serve on the public status page.

markdown-it-py (CommonMark, maintained by the Executable Books project) renders with raw HTML
turned off, so `<script>` in a file comes out as text; nh3 (the Rust ammonia sanitizer) then
keeps only an allow-list of tags, attributes and URL schemes, so nothing a future markdown-it
option or plugin lets through can run script either. Two independent layers, on purpose.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

TAGS = frozenset({
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul", "img",
})
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"},
              "th": {"style"}, "td": {"style"}, "code": {"class"}}
SCHEMES = frozenset({"http", "https", "mailto"})

_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render(text: str) -> str:
    """Sanitized HTML for a playbook body."""
    html = _markdown.render(text)
    return nh3.clean(
        html, tags=set(TAGS), attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(SCHEMES), link_rel="nofollow noopener noreferrer",
        filter_style_properties={"text-align"},
    )
