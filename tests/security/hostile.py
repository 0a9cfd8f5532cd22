"""Hostile chat texts, by name: what a user (or a compromised account) might post to break an
output the bot writes. Each is pushed through every output by tests/security/test_hostile_*.

`SAMPLES` are texts as they reach the desk (str: Matrix and the console deliver any code
point, lone surrogates included). `RAW_IRC` are the bytes an IRC server relays for some of
them, invalid UTF-8 included. `expected_text` is what the documented sanitizing
(commands.text.clean_text) leaves of a sample: the text every output must still show.
"""

from __future__ import annotations

from commands.model import MAX_TEXT
from commands.text import clean_text

SAMPLES: dict[str, str] = {
    "crlf-injection": "a\r\nPRIVMSG #x :pwned\r\nQUIT :bye",
    "lf-injection": "b\nNOTICE #x :pwned",
    "nul": "before\x00after",
    "ctcp-action": "\x01ACTION does something\x01",
    "ctcp-dcc": "\x01DCC SEND x 2130706433 22 1\x01 tail",
    "irc-formatting": "\x02bold\x02 \x0304,01red\x03 \x0fplain\x16rev\x1ditalic\x1funder\x1e\x11",
    "bidi-override": "file\u202egnp.exe and \u2066isolate\u2069 \u202aembed\u202c",
    "zero-width": "ad\u200bmin\u200c\u200d\ufeff\u2060",
    "script-tag": "<script>alert(document.cookie)</script>",
    "img-onerror": '"><img src=x onerror=alert(1)>',
    "attribute-breakout": "' onmouseover='alert(1)' x='",
    "javascript-url": "javascript:alert(1)",
    "matrix-html-link": '<a href="javascript:alert(1)">click</a>',
    "matrix-reply": "<mx-reply><blockquote>forged quote</blockquote></mx-reply>real",
    "formatted-tags": "<b>bold</b> <font color=red>red</font> <iframe src=//evil></iframe>",
    "markdown-heading": "# heading\n## another",
    "markdown-link": "[click me](javascript:alert(1)) ![img](http://x/y.png)",
    "markdown-backticks": "```\ncode fence\n``` and `inline`",
    "markdown-table": "| a | b |\n|---|---|\n| c | d | e |",
    "markdown-html": "<div onclick=alert(1)>div</div><!-- comment -->",
    "markdown-emphasis": "*star* _under_ **strong** \\escaped\\ ~~strike~~",
    "xml-cdata": "]]> <![CDATA[x]]> &amp; & &#0; &#x1;",
    "xml-illegal": "ctl\x0b\x0c\x1b[31m\x7f\x85\x9b end \ufffe\uffff",
    "json-separators": "line\u2028separator\u2029paragraph \"quote\" \\ back",
    "lone-surrogates": "high\ud800 low\udfff end",
    "non-bmp": "emoji 🔥 and 𝕦𝕟𝕚𝕔𝕠𝕕𝕖 and 𝄞",
    "long-word": "x" * 900,
    "long-utf8": "€" * 990,
    "huge-100kB": "y" * 100_000,
}
"""Keyed by a name that appears in test ids and failure messages."""

TOO_LONG = {"huge-100kB"}
"""Samples over the grammar's limit: refused with a reply that says so, never cut."""

RAW_IRC: dict[str, bytes] = {
    "invalid-utf8": b"bad \xff\xfe\xc3( bytes \xed\xa0\x80 surrogate \xf8\x88\x80\x80\x80",
    "latin1": b"caf\xe9 na\xefve",
    "overlong-nul": b"over \xc0\x80 long",
}
"""Bytes as the IRC server relays them (text after `PRIVMSG #channel :`); CR, LF and NUL
cannot be among them, the server splits lines there."""


def expected_text(sample: str) -> str:
    """What every output must still show of `sample` (the grammar's cleaning, nothing more)."""
    return clean_text(sample)


def fits(sample: str, limit: int = MAX_TEXT) -> bool:
    return len(expected_text(sample)) <= limit
