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


SIGNATURE_REFUSED = b"signature check failed"  # the endpoint's 403 body for a wrong signature


def signature_refused(response):
    return response.status == 403 and response.body.startswith(SIGNATURE_REFUSED)


def why_not_accepted(response, token_note="the token used here"):
    """One sentence for an answer WeChat would not accept: a redirect, a wrong token, a server not configured."""
    status = response.status
    if 300 <= status < 400:
        return ("HTTP %d redirect to %s: WeChat follows no redirects, so it would fail here; put the final URL in "
                "the console (an http:// URL keeps working behind `deploy --https --redirect-http`, which answers "
                "WeChat's own requests on port 80)" % (status, response.location or "?"))
    if signature_refused(response):
        return ("HTTP 403 signature check failed: %s and the server's token differ (WeChat signs with the token in "
                "its console, so the console and the server must hold the same one)" % token_note)
    if status == 503:
        return "HTTP 503: the server is not configured; its error log names the setting"
    return "HTTP %d: %s" % (status, response.body[:200].decode("utf-8", "replace").strip())


class Run:
    def __init__(self, url, token, crypto=None, compat=False, out=print, tls=None, token_note="the token used here"):
        self.url, self.token, self.crypto, self.compat, self.out = url, token, crypto, compat, out
        self.tls, self.token_note = tls, token_note
        self.failures = 0
        self.refused_signature = False  # a correctly signed request got 403: the tokens differ

    def report(self, ok, step, detail, started):
        self.failures += not ok
        self.out("%s %-14s %s (%.0f ms)" % ("ok  " if ok else "FAIL", step, detail, (time.perf_counter() - started) * 1000))
        return ok

    def verify(self):
        started = time.perf_counter()
        try:
            ok, response = simulator.verify_url(self.url, self.token, self.tls)
        except OSError as e:
            return self.report(False, "verify", "no answer: %s" % e, started)
        if ok:
            return self.report(True, "verify", "echostr echoed", started)
        self.refused_signature |= signature_refused(response)
        detail = why_not_accepted(response, self.token_note) if response.status != 200 else \
            "HTTP 200 but not the echostr (%r): is this URL the WeChat endpoint?" % response.body[:60]
        return self.report(False, "verify", detail, started)

    def forged(self):
        started = time.perf_counter()
        try:
            response = simulator.post_message(self.url, self.token + "-forged", simulator.text("forged"), tls=self.tls)
        except OSError as e:
            return self.report(False, "forged", "no answer: %s" % e, started)
        return self.report(response.status == 403, "forged", "a wrong signature got HTTP %d (want 403)" % response.status, started)

    def send(self, kind, argument=None):
        build, _ = simulator.KINDS[kind]
        body = build(argument) if argument is not None else build()
        step = kind if argument is None else "%s %s" % (kind, argument)
        started = time.perf_counter()
        try:
            response = simulator.post_message(self.url, self.token, body, crypto=self.crypto, compat=self.compat,
                                              tls=self.tls)
        except (OSError, ValueError) as e:  # no answer, or an encrypted reply that does not open
            return self.report(False, step, "failed: %s" % e, started)
        if response.status != 200:
            self.refused_signature |= signature_refused(response)
            return self.report(False, step, why_not_accepted(response, self.token_note), started)
        try:
            detail = describe_reply(response.body)
            fields = parse_xml(response.body) if response.body not in (b"success", b"") else {}
        except ParseError as e:
            return self.report(False, step, "reply is not WeChat XML (%s): %r" % (e, response.body[:120]), started)
        if fields and fields.get("ToUserName") != simulator.FOLLOWER:
            return self.report(False, step, "reply addressed to %r, not the follower" % fields.get("ToUserName"), started)
        return self.report(True, step, detail, started)
