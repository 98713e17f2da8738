"""The WeChat endpoint: GET verifies the URL (or shows the welcome page), POST answers messages."""

import time
import traceback

import web

from handlers import pages
from handlers.render import XML_CONTENT_TYPE, as_reply, render_reply
from handlers.runtime import current_settings, log
from handlers.skills import on
from wechat.config import ConfigError
from wechat.messages import ParseError, parse_message
from wechat.replies import SUCCESS
from wechat.signature import check_signature

SIGNATURE_PARAMS = ("signature", "timestamp", "nonce", "echostr")


def fail(status, reason):
    """An HTTPError with a short plain-text reason; WeChat and admins both read these."""
    return web.HTTPError(status, {"Content-Type": "text/plain; charset=utf-8"}, reason + "\n")


def settings_or_503():
    try:
        settings = current_settings()
        settings.require_token()
        return settings
    except ConfigError as e:
        # The sentence lands in Apache's error log; the client learns only that we are not ready.
        log.error("%s", e)
        raise fail("503 Service Unavailable", "server not configured; see the server's error log")


def read_query():
    try:
        return web.input(_method="get")
    except Exception:  # a query string that is not UTF-8
        raise fail("400 Bad Request", "unreadable query string")


def require_signature(query, settings, record):
    """403 unless the query's signature matches our token (every GET check and every POST)."""
    if not check_signature(query.get("signature"), settings.token, query.get("timestamp"), query.get("nonce")):
        record.outcome = "bad-signature"
        raise fail("403 Forbidden", "signature check failed")


class RequestLog:
    """Collects what one request did and writes it as one line: type, outcome, status, latency."""

    def __init__(self, method):
        self.method = method
        self.started = time.perf_counter()
        self.msg_type = "-"
        self.outcome = "-"

    def write(self, status):
        ms = (time.perf_counter() - self.started) * 1000
        log.info("%s type=%s outcome=%s status=%s %.1fms", self.method, self.msg_type, self.outcome, status, ms)


def logged(method, work):
    """Run work(record) and write the request's log line whatever the outcome."""
    record = RequestLog(method)
    try:
        body = work(record)
    except web.HTTPError:
        record.write(web.ctx.status.split()[0])
        raise
    record.write(200)
    return body


class WeChatEndpoint:
    def GET(self):
        query = read_query()
        if not any(name in query for name in SIGNATURE_PARAMS):
            return pages.welcome_page()  # a person with a browser, not WeChat
        return logged("GET", lambda record: self.verify(query, record))

    def POST(self):
        return logged("POST", self.answer)

    def verify(self, query, record):
        """WeChat's URL check: echo `echostr` when the signature is right."""
        record.msg_type = "verify"
        settings = settings_or_503()
        require_signature(query, settings, record)
        record.outcome = "verified"
        web.header("Content-Type", "text/plain; charset=utf-8")
        return query.get("echostr", "")

    def answer(self, record):
        settings = settings_or_503()
        query = read_query()
        require_signature(query, settings, record)
        body = read_body(settings.max_body_bytes, record)
        try:
            message = parse_message(body)
        except ParseError as e:
            record.outcome = "bad-xml"
            raise fail("400 Bad Request", "bad message: %s" % e)
        record.msg_type = message.type
        try:
            reply = as_reply(on.dispatch(message, settings))
            xml = render_reply(reply, message)
        except Exception:
            # Whatever broke, the follower must not see "该公众号暂时无法提供服务".
            log.error("reply failed for %s:\n%s", message.type, traceback.format_exc().rstrip())
            record.outcome = "error->success"
            return SUCCESS
        if xml == SUCCESS:
            record.outcome = "success"
            return SUCCESS
        record.outcome = "reply:" + reply.msg_type
        web.header("Content-Type", XML_CONTENT_TYPE)
        return xml


def read_body(limit, record):
    """The POST body as bytes, refusing (413) anything larger than `limit` before reading it."""
    declared = web.ctx.env.get("CONTENT_LENGTH") or ""
    if declared.strip().isdigit() and int(declared) > limit:
        record.outcome = "too-large"
        raise fail("413 Request Entity Too Large", "body larger than %d bytes" % limit)
    body = web.data()
    if len(body) > limit:  # chunked bodies declare no length
        record.outcome = "too-large"
        raise fail("413 Request Entity Too Large", "body larger than %d bytes" % limit)
    return body
