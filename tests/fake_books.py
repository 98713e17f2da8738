"""A fake Open Library on 127.0.0.1, answering in the shapes of /api/books (jscmd=data) and /search.json."""

import json
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler

from tests.support import LoopbackHTTPServer

BOOKS = {
    "9787111407010": {
        "url": "https://openlibrary.org/books/OL26394838M/Computer_Systems",
        "key": "/books/OL26394838M",
        "title": "深入理解计算机系统",
        "authors": [{"url": "https://openlibrary.org/authors/OL1A", "name": "Randal E. Bryant"},
                    {"url": "https://openlibrary.org/authors/OL2A", "name": "David R. O'Hallaron"}],
        "publishers": [{"name": "机械工业出版社"}],
        "publish_date": "2016",
        "cover": {"small": "https://covers.openlibrary.org/b/id/1-S.jpg",
                  "medium": "https://covers.openlibrary.org/b/id/1-M.jpg",
                  "large": "https://covers.openlibrary.org/b/id/1-L.jpg"},
        "number_of_pages": 737,
    },
}
SEARCH = {
    "三体": {"numFound": 1, "start": 0, "docs": [{
        "key": "/works/OL17267881W", "title": "三体", "author_name": ["刘慈欣"], "first_publish_year": 2008,
        "publisher": ["重庆出版社"], "cover_i": 8231856, "isbn": ["9787536692930"]}]},
}


class FakeBooks:
    def __init__(self):
        self.calls = Counter()
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                fake.calls[parsed.path] += 1
                time.sleep(fake.delay)
                if parsed.path == "/api/books":
                    key = query.get("bibkeys", "")
                    book = BOOKS.get(key.replace("ISBN:", ""))
                    body = {key: book} if book else {}
                elif parsed.path == "/search.json":
                    body = SEARCH.get(query.get("title"), {"numFound": 0, "start": 0, "docs": []})
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a slowness test)

        self.http = LoopbackHTTPServer(Handler)
        self.url = self.http.url

    def stop(self):
        self.http.stop()
