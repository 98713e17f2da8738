"""`manage.py simulate`: play WeChat's side against a URL and say, step by step, what came back."""

import time

from admin import simulator
from wechat.xmlparse import ParseError, parse_xml


def describe_reply(body):
    """One line for a reply body: `success`, or its MsgType and main content."""
    if body in (b"success", b""):
        return "success (no reply shown to the follower)"
    fields = parse_xml(body)
    kind = fields.get("MsgType", "?")
    if kind == "text":
        return "text: %s" % fields.get("Content", "")
    if kind == "news":
        items = fields.get("Articles", {}).get("item", [])
        items = items if isinstance(items, list) else [items]
        return "news: " + " | ".join("%s <%s>" % (i.get("Title", ""), i.get("Url", "")) for i in items)
    inner = next((v for v in fields.values() if isinstance(v, dict)), {})
    return "%s: %s" % (kind, ", ".join("%s=%s" % kv for kv in inner.items()))


class Run:
    def __init__(self, url, token, crypto=None, compat=False, out=print):
        self.url, self.token, self.crypto, self.compat, self.out = url, token, crypto, compat, out
        self.failures = 0

    def report(self, ok, step, detail, started):
        self.failures += not ok
        self.out("%s %-14s %s (%.0f ms)" % ("ok  " if ok else "FAIL", step, detail, (time.perf_counter() - started) * 1000))
        return ok

    def verify(self):
        started = time.perf_counter()
        try:
            ok, response = simulator.verify_url(self.url, self.token)
        except OSError as e:
            return self.report(False, "verify", "no answer: %s" % e, started)
        detail = "echostr echoed" if ok else "HTTP %d: %s" % (response.status, response.body[:200].decode("utf-8", "replace").strip())
        return self.report(ok, "verify", detail, started)

    def forged(self):
        started = time.perf_counter()
        try:
            response = simulator.post_message(self.url, self.token + "-forged", simulator.text("forged"))
        except OSError as e:
            return self.report(False, "forged", "no answer: %s" % e, started)
        return self.report(response.status == 403, "forged", "a wrong signature got HTTP %d (want 403)" % response.status, started)

    def send(self, kind, argument=None):
        build, _ = simulator.KINDS[kind]
        body = build(argument) if argument is not None else build()
        step = kind if argument is None else "%s %s" % (kind, argument)
        started = time.perf_counter()
        try:
            response = simulator.post_message(self.url, self.token, body, crypto=self.crypto, compat=self.compat)
        except (OSError, ValueError) as e:  # no answer, or an encrypted reply that does not open
            return self.report(False, step, "failed: %s" % e, started)
        if response.status != 200:
            detail = "HTTP %d: %s" % (response.status, response.body[:200].decode("utf-8", "replace").strip())
            return self.report(False, step, detail, started)
        try:
            detail = describe_reply(response.body)
            fields = parse_xml(response.body) if response.body not in (b"success", b"") else {}
        except ParseError as e:
            return self.report(False, step, "reply is not WeChat XML (%s): %r" % (e, response.body[:120]), started)
        if fields and fields.get("ToUserName") != simulator.FOLLOWER:
            return self.report(False, step, "reply addressed to %r, not the follower" % fields.get("ToUserName"), started)
        return self.report(True, step, detail, started)
