"""Book lookup (the reference course's 豆米查书): ISBN checks, Open Library's API, results cached in the store."""

import json
import re

ISBN_TEXT = re.compile(r"^(?:ISBN[:：]?\s*)?([0-9][0-9\- ]{8,15}[0-9Xx])$", re.I)
FOUND_TTL = 7 * 86400
NOT_FOUND_TTL = 86400


class BookServiceError(Exception):
    """The book service is down, slow or answered nonsense."""


def isbn_digits(text):
    """The ISBN's digits (10 or 13, X allowed last for ISBN-10) if the text looks like an ISBN, else None."""
    match = ISBN_TEXT.match(text.strip())
    if not match:
        return None
    digits = re.sub(r"[\- ]", "", match.group(1)).upper()
    return digits if len(digits) in (10, 13) and "X" not in digits[:-1] else None


def check_digit(digits):
    """The correct last character for an ISBN-10 or ISBN-13 (given with any last character)."""
    body = digits[:-1]
    if len(digits) == 10:
        total = sum((10 - i) * int(d) for i, d in enumerate(body))
        value = (11 - total % 11) % 11
        return "X" if value == 10 else str(value)
    total = sum((3 if i % 2 else 1) * int(d) for i, d in enumerate(body))
    return str((10 - total % 10) % 10)


def is_valid(digits):
    return digits[:-1].isdigit() and check_digit(digits) == digits[-1]


class OpenLibrary:
    def __init__(self, base, store=None):
        self.base = base.rstrip("/")
        self.store = store

    def _get_json(self, path, params, timeout):
        from wechat.http import Unreachable, fetch

        try:
            response = fetch(self.base + path, query=params, timeout=timeout)
        except Unreachable as e:
            raise BookServiceError(str(e))
        if not response.ok:
            raise BookServiceError("HTTP %d from %s" % (response.status, self.base))
        try:
            return json.loads(response.body.decode("utf-8"))
        except ValueError:
            raise BookServiceError("the answer from %s is not JSON" % self.base)

    def _cached(self, key, fetch):
        """The cached answer (a dict, or {} for 'not found'), else fetch() and cache it."""
        if self.store is not None:
            value = self.store.get(key)
            if value is not None:
                return json.loads(value)
        book = fetch()
        if self.store is not None:
            self.store.set(key, json.dumps(book, ensure_ascii=False), FOUND_TTL if book else NOT_FOUND_TTL)
        return book

    def by_isbn(self, digits, timeout=4.0):
        """{'title', 'authors', 'publisher', 'year', 'cover', 'url'} or {} when not found."""

        def fetch():
            data = self._get_json("/api/books", {"bibkeys": "ISBN:" + digits, "format": "json", "jscmd": "data"}, timeout)
            entry = data.get("ISBN:" + digits) if isinstance(data, dict) else None
            if not entry:
                return {}
            return {
                "title": entry.get("title", ""),
                "authors": [a.get("name", "") for a in entry.get("authors", [])],
                "publisher": ", ".join(p.get("name", "") for p in entry.get("publishers", [])),
                "year": entry.get("publish_date", ""),
                "cover": (entry.get("cover") or {}).get("medium", ""),
                "url": entry.get("url", ""),
            }

        return self._cached("book:isbn:" + digits, fetch)

    def by_title(self, title, timeout=4.0):
        def fetch():
            data = self._get_json("/search.json", {"title": title, "limit": 1}, timeout)
            docs = data.get("docs") if isinstance(data, dict) else None
            if not docs:
                return {}
            doc = docs[0]
            cover = "https://covers.openlibrary.org/b/id/%s-M.jpg" % doc["cover_i"] if doc.get("cover_i") else ""
            return {
                "title": doc.get("title", ""),
                "authors": doc.get("author_name", [])[:3],
                "publisher": ", ".join(doc.get("publisher", [])[:2]),
                "year": str(doc.get("first_publish_year", "")),
                "cover": cover,
                "url": self.base + doc["key"] if doc.get("key") else "",
            }

        return self._cached("book:title:" + title.strip().lower(), fetch)
