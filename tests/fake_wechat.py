"""A fake WeChat API on 127.0.0.1: counts calls, issues tokens (only the newest is valid), can answer with errors."""

import json
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler

from tests.support import LoopbackHTTPServer


class FakeWeChat:
    def __init__(self, token_delay=0.0):
        self.token_delay = token_delay
        self.calls = Counter()
        self.requests = []  # (path, query dict, json body)
        self.tokens = []
        self.always_error = None  # errcode every authenticated call answers with
        self.next_errors = []  # errcodes the next authenticated calls answer with, in order
        self.slow_paths = {}  # path -> seconds to wait before answering
        self.menu = None
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                fake.handle(self, json.loads(self.rfile.read(length).decode("utf-8") or "null"))

        self.http = LoopbackHTTPServer(Handler)
        self.url = self.http.url

    def stop(self):
        self.http.stop()

    def issue_token(self):
        time.sleep(self.token_delay)
        with self.lock:
            token = "TOKEN-%d" % (len(self.tokens) + 1)
            self.tokens.append(token)
        return {"access_token": token, "expires_in": 7200}

    def answer(self, path, query, body):
        if path == "/cgi-bin/token":
            if query.get("appid") != "wxtestappid" or query.get("secret") != "testsecret":
                return {"errcode": 40013, "errmsg": "invalid appid"}
            return self.issue_token()
        if path == "/cgi-bin/stable_token":
            return self.issue_token()
        with self.lock:
            if self.always_error:
                return {"errcode": self.always_error, "errmsg": "fake error"}
            if self.next_errors:
                code = self.next_errors.pop(0)
                return {"errcode": code, "errmsg": "fake error"}
            if not self.tokens or query.get("access_token") != self.tokens[-1]:
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if path == "/cgi-bin/menu/create":
            self.menu = body
            return {"errcode": 0, "errmsg": "ok"}
        if path == "/cgi-bin/get_current_selfmenu_info":
            return {"is_menu_open": 1, "selfmenu_info": self.menu or {}}
        if path == "/cgi-bin/menu/delete":
            self.menu = None
            return {"errcode": 0, "errmsg": "ok"}
        if path in ("/cgi-bin/message/custom/send", "/cgi-bin/message/template/send"):
            return {"errcode": 0, "errmsg": "ok", "msgid": len(self.requests)}
        if path == "/cgi-bin/user/info":
            return {"subscribe": 1, "openid": query.get("openid"), "nickname": "测试用户"}
        return {"errcode": 404, "errmsg": "unknown path " + path}

    def handle(self, handler, body):
        parsed = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        name = parsed.path.rsplit("/", 1)[-1]
        with self.lock:
            self.calls[name] += 1
            self.requests.append((parsed.path, query, body))
        time.sleep(self.slow_paths.get(parsed.path, 0))
        data = json.dumps(self.answer(parsed.path, query, body), ensure_ascii=False).encode("utf-8")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def sent_messages(self):
        return [body for path, _, body in self.requests if path == "/cgi-bin/message/custom/send"]
