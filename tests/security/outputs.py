"""Checks of the bot's outputs by parsing them, as a browser, a feed reader, a JSON client or a
Markdown renderer would: what structure is there, and what text.

Grepping an output for `<script>` proves little (an attribute can carry script without that
string, and escaped text contains it harmlessly); these parse the document and look at the
elements, attributes, tokens and text that a consumer would see.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import feedparser
from markdown_it import MarkdownIt

SAFE_SCHEMES = ("", "http", "https", "mailto")


def squash(text: str) -> str:
    """Whitespace-insensitive form: outputs may wrap or indent text."""
    return " ".join(text.split())


@dataclass
class HtmlDocument:
    """What a browser would build from an HTML document: its elements and its text."""

    elements: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    inline_scripts: list[str] = field(default_factory=list)
    text: str = ""
    cells: list[str] = field(default_factory=list)
    """The text of every `td`, for tables (the Markdown export)."""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.document = HtmlDocument()
        self._chunks: list[str] = []
        self._in_script = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.document.elements.append((tag, dict(attrs)))
        self._in_script = tag in ("script", "style")
        if tag == "td":
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.document.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False
        if tag == "td" and self._cell is not None:
            self.document.cells.append(squash("".join(self._cell)))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.document.inline_scripts.append(data.strip())
            return
        self._chunks.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def handle_comment(self, data: str) -> None:
        self.document.elements.append(("!--", {"text": data}))


def read_html(body: bytes | str) -> HtmlDocument:
    reader = _Reader()
    reader.feed(body.decode("utf-8") if isinstance(body, bytes) else body)
    reader.close()
    reader.document.text = squash("".join(reader._chunks))
    return reader.document


@dataclass
class HtmlShape:
    """The elements, attributes and scripts our own templates use, learnt from benign pages."""

    tags: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    script_sources: set[str | None] = field(default_factory=set)
    inline_scripts: set[str] = field(default_factory=set)

    def learn(self, document: HtmlDocument) -> None:
        for tag, attrs in document.elements:
            self.tags.add(tag)
            self.attributes.update(attrs)
            if tag == "script":
                self.script_sources.add(attrs.get("src"))
        self.inline_scripts.update(document.inline_scripts)

    def foreign(self, document: HtmlDocument) -> list[str]:
        """What in `document` our templates did not make: the marks of injected markup."""
        found: list[str] = []
        for tag, attrs in document.elements:
            if tag not in self.tags:
                found.append(f"element <{tag}> {attrs}")
            for name, value in attrs.items():
                if name not in self.attributes or name.startswith("on"):
                    found.append(f"attribute {name}={value!r} on <{tag}>")
                if name in ("href", "src", "action", "formaction") and value is not None:
                    scheme = urlsplit(value.strip()).scheme.lower()
                    if scheme not in SAFE_SCHEMES:
                        found.append(f"{name}={value!r} on <{tag}>")
            if tag == "script" and attrs.get("src") not in self.script_sources:
                found.append(f"script {attrs}")
        found += [f"inline script {s[:80]!r}" for s in document.inline_scripts
                  if s not in self.inline_scripts]
        return found


def atom_texts(body: bytes) -> list[str]:
    """Every entry's title and content, after checking the feed is well-formed XML 1.0 (a
    strict parser) and that feedparser reads it without complaint."""
    ET.fromstring(body)  # raises ParseError on anything not well-formed
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    texts: list[str] = []
    for entry in feed.entries:
        texts.append(entry.get("title", ""))
        texts.extend(c.get("value", "") for c in entry.get("content", []))
    return texts


def json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)


def read_json(body: bytes | str) -> Any:
    """Parsed strictly (no NaN), every string encodable as UTF-8 (no lone surrogates)."""
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    document = json.loads(body, parse_constant=refuse)
    for text in json_strings(document):
        text.encode("utf-8")
    return document


MARKDOWN = MarkdownIt("commonmark").enable("table")


@dataclass
class MarkdownShape:
    headings: list[str]
    links: list[str]
    raw_html: list[str]
    images: list[str]
    html: HtmlDocument


def read_markdown(text: str) -> MarkdownShape:
    tokens = MARKDOWN.parse(text)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    links: list[str] = []
    raw: list[str] = []
    images: list[str] = []
    for token in tokens:
        if token.type in ("html_block", "html_inline"):
            raw.append(token.content)
        for child in token.children or []:
            if child.type == "link_open":
                links.append(str(child.attrs.get("href", "")))
            elif child.type == "image":
                images.append(str(child.attrs.get("src", "")))
            elif child.type == "html_inline":
                raw.append(child.content)
    return MarkdownShape(headings, links, raw, images, read_html(MARKDOWN.render(text)))
