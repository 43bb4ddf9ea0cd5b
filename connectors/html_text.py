"""HTML of a feed entry or a Weibo status → plain text (standard-library parser; no tag soup regexes)."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _Text(HTMLParser):
    """HTML → plain text: block elements and <br> become line breaks, scripts/styles are dropped, and emoticon
    images (RSSHub renders Weibo's [怒] as <img alt="[怒]">) keep their code."""

    BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "section",
        "article",
        "pre",
        "hr",
        "ul",
        "ol",
        "table",
        "figure",
        "figcaption",
        "header",
        "footer",
    }
    SKIP = {"script", "style", "noscript", "template"}
    EMOTICON = re.compile(r"^\[[^\[\]\s]{1,10}\]$")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        else:
            self.handle_startendtag(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            return
        if tag in self.BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if self.EMOTICON.match(alt):
                self.parts.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK and not self.skipping:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)
