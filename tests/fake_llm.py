"""A fake OpenAI-compatible chat-completions API on 127.0.0.1: answers after a chosen delay, records every request."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.support import LoopbackHTTPServer

USAGE = {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43}


class FakeLLM:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length).decode("utf-8"))
                with fake.lock:
                    fake.requests.append((self.path, dict(self.headers), request))
                time.sleep(fake.delay)
                data = fake.respond(request)
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (a timeout test)

        self.http = LoopbackHTTPServer(Handler)
        self.url = self.http.url + "/v1"

    def reset(self, answer="你好！我是测试模型。"):
        """Back to a prompt, ordinary model with no requests seen (one server serves many tests)."""
        self.answer = answer  # a str, or a function (the request's messages) -> str
        self.delay = 0.0  # seconds before answering
        self.status = 200
        self.body = None  # bytes to send instead of a chat-completions answer (with `status`)
        self.finish_reason = "stop"
        self.usage = dict(USAGE)
        with self.lock:
            self.requests = []  # (path, headers dict, JSON body)

    def respond(self, request):
        if self.body is not None:
            return self.body
        text = self.answer(request["messages"]) if callable(self.answer) else self.answer
        answer = {
            "id": "chatcmpl-fake", "object": "chat.completion", "model": request.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": self.finish_reason}],
            "usage": self.usage,
        }
        return json.dumps(answer, ensure_ascii=False).encode("utf-8")

    def messages(self, n=-1):
        """The messages list of the n-th request (the last by default)."""
        return self.requests[n][2]["messages"]

    def stop(self):
        self.http.stop()
