"""Jokes: the shipped file plus those fetched into the store; extraction from a web page; no repeats in a row."""

import hashlib
import json
import random
import re
from html.parser import HTMLParser

STORE_KEY = "jokes:fetched"
FOREVER = 10 * 365 * 86400
LAST_TTL = 86400


def load_file(path):
    """Jokes from a UTF-8 file: one per paragraph (blank lines between), lines starting with # ignored."""
    with open(path, encoding="utf-8-sig") as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("#"))
    return [normalise(p) for p in re.split(r"\n\s*\n", text) if p.strip()]


def normalise(text):
    """Whitespace folded within lines; line breaks kept (a joke may be a dialogue)."""
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def fetched(store):
    value = store.get(STORE_KEY) if store is not None else None
    return json.loads(value) if value else []


def add_to_store(store, jokes, known=()):
    """Add new jokes (normalised, de-duplicated against the store and `known`); returns how many were new."""
    current = fetched(store)
    seen = {normalise(j) for j in current} | {normalise(j) for j in known}
    added = []
    for joke in map(normalise, jokes):
        if joke and joke not in seen:
            seen.add(joke)
            added.append(joke)
    if added:
        store.set(STORE_KEY, json.dumps(current + added, ensure_ascii=False), FOREVER)
    return len(added)


def fingerprint(joke):
    return hashlib.sha1(joke.encode("utf-8")).hexdigest()[:16]


def pick(jokes, last_fingerprint=None, rng=random):
    """A random joke other than the last one this follower got (when there is another)."""
    choices = [j for j in jokes if fingerprint(j) != last_fingerprint] or jokes
    return rng.choice(choices) if choices else None


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
    import html as html_module

    return [j for j in (normalise(html_module.unescape(t)) for t in texts) if len(j) >= 4]
