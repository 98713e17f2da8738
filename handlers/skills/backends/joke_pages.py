"""Jokes from a web page (`manage.py jokes fetch`): by a simple CSS-like selector or a regex."""

import html as html_module
import re
from html.parser import HTMLParser

from handlers.skills.backends import jokes


class _SelectorText(HTMLParser):
    """Text of the elements matching a simple selector: tag, .class, #id, tag.class or tag#id."""

    VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "source"}

    def __init__(self, selector):
        super().__init__(convert_charrefs=True)
        match = re.fullmatch(r"([a-zA-Z][\w-]*)?(?:([.#])([\w-]+))?", selector.strip())
        if not match or not any(match.groups()):
            raise ValueError("selector %r: use tag, .class, #id, tag.class or tag#id" % selector)
        self.tag, kind, name = match.groups()
        self.cls = name if kind == "." else None
        self.id = name if kind == "#" else None
        self.depth = 0  # >0 while inside a matching element
        self.parts = []
        self.found = []

    def _matches(self, tag, attrs):
        attrs = dict(attrs)
        return ((not self.tag or tag == self.tag.lower())
                and (not self.cls or self.cls in (attrs.get("class") or "").split())
                and (not self.id or attrs.get("id") == self.id))

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            if self.depth and tag == "br":
                self.parts.append("\n")
            return
        if self.depth:
            self.depth += 1
        elif self._matches(tag, attrs):
            self.depth, self.parts = 1, []

    def handle_endtag(self, tag):
        if tag in self.VOID or not self.depth:
            return
        self.depth -= 1
        if self.depth == 0:
            self.found.append("".join(self.parts))
        elif tag in ("p", "div", "li"):
            self.parts.append("\n")

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def extract(html, selector=None, pattern=None):
    """Jokes in a page: the text of elements matching `selector`, or regex matches (group 1 if any)."""
    if pattern:
        compiled = re.compile(pattern, re.S)
        texts = [m.group(1) if compiled.groups else m.group(0) for m in compiled.finditer(html)]
        texts = [re.sub(r"<[^>]+>", "", t) for t in texts]
    else:
        parser = _SelectorText(selector or "p")
        parser.feed(html)
        parser.close()
        texts = parser.found
    return [j for j in (jokes.normalise(html_module.unescape(t)) for t in texts) if len(j) >= 4]
