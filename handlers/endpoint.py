"""The WeChat endpoint: GET verifies the URL (or shows the welcome page), POST answers messages."""

import time
import traceback
from urllib.parse import parse_qsl

import web

from handlers.envelope import open_envelope
from handlers.refused import Refused
from handlers.render import XML_CONTENT_TYPE, as_reply, render_reply
from handlers.runtime import (current_journal, current_settings, current_store, log, log_request_line,
                              request_age_window)
from handlers.skills import load_skills
from wechat.config import ConfigError
from wechat.journal import ReplayedRequest
from wechat.messages import parse_message
from wechat.replies import SUCCESS
from wechat.signature import check_signature
from wechat.xmlparse import ParseError

SIGNATURE_PARAMS = ("signature", "timestamp", "nonce", "echostr")


def not_configured(error):
    """503 for the client; the sentence naming the setting goes to Apache's error log only."""
    log.error("%s", error)
    return Refused("503 Service Unavailable", "server not configured; see the server's error log", "config-error")


class RequestLog:
    """What one request did, written as one line: type, outcome, status, latency. Never secrets or bodies."""

    def __init__(self, method):
        self.method = method
        self.started = time.perf_counter()
        self.msg_type = "-"
        self.outcome = "-"

    def write(self, status):
        ms = (time.perf_counter() - self.started) * 1000
        log_request_line("%s type=%s outcome=%s status=%s %.1fms" % (self.method, self.msg_type, self.outcome, status, ms))


def logged(method, work):
    """Run work(record); a Refused becomes its HTTP status with a plain-text reason. One log line either way."""
    record = RequestLog(method)
    try:
        body = work(record)
    except Refused as refusal:
        drain_body()
        record.outcome = refusal.outcome
        record.write(refusal.status.split()[0])
        raise web.HTTPError(refusal.status, {"Content-Type": "text/plain; charset=utf-8"}, refusal.reason + "\n")
    record.write(200)
    return body


DRAIN_LIMIT = 4 * 1024 * 1024


def drain_body():
    """Read (and drop) an unread request body before answering.

    Under CGI, a script that exits without reading stdin makes mod_cgid reset the connection
    and the client gets a truncated response instead of our 403/413.
    """
    if "data" in web.ctx:
        return
    remaining = (web.ctx.env.get("CONTENT_LENGTH") or "").strip()
    remaining = min(int(remaining), DRAIN_LIMIT) if remaining.isdigit() else 0
    stream = web.ctx.env.get("wsgi.input")
    while remaining > 0 and stream is not None:
        chunk = stream.read(min(remaining, 65536))
        if not chunk:
            break
        remaining -= len(chunk)


def configured_settings():
    try:
        settings = current_settings()
        settings.require_token()
        return settings
    except ConfigError as e:
        raise not_configured(e)


def read_query():
    """The query string as a dict (the last of repeated names); web.input costs ~10x as much."""
    try:
        return dict(parse_qsl(web.ctx.env.get("QUERY_STRING", ""), keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError):  # a query string that is not UTF-8
        raise Refused("400 Bad Request", "unreadable query string", "bad-query")


def replay_nonce(query, settings):
    """What the journal remembers of this request against replays: "timestamp:nonce" (None: no check)."""
    timestamp, nonce = query.get("timestamp"), query.get("nonce")
    if not (timestamp and nonce) or not request_age_window(settings):
        return None
    return "%s:%s" % (timestamp, nonce)


def require_signature(query, settings):
    """403 unless the query's signature matches our token (every GET check and every POST)."""
    if not check_signature(query.get("signature"), settings.token, query.get("timestamp"), query.get("nonce")):
        raise Refused("403 Forbidden", "signature check failed", "bad-signature")


def read_body(limit):
    """The POST body as bytes, refusing (413) anything larger than `limit`, before reading when it says so."""
    too_large = Refused("413 Request Entity Too Large", "body larger than %d bytes" % limit, "too-large")
    declared = (web.ctx.env.get("CONTENT_LENGTH") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = web.data()
    if len(body) > limit:  # chunked bodies declare no length
        raise too_large
    return body


class WeChatEndpoint:
    def GET(self):
        query = read_query()
        if not any(name in query for name in SIGNATURE_PARAMS):
            from handlers import pages  # only people with browsers pay for the page's imports

            return pages.welcome_page()
        return logged("GET", lambda record: self.verify(query, record))

    def POST(self):
        return logged("POST", self.answer)

    def verify(self, query, record):
        """WeChat's URL check (the same in every encrypt mode): echo `echostr` when the signature is right."""
        record.msg_type = "verify"
        require_signature(query, configured_settings())
        record.outcome = "verified"
        web.header("Content-Type", "text/plain; charset=utf-8")
        return query.get("echostr", "")

    def answer(self, record):
        settings = configured_settings()
        query = read_query()
        require_signature(query, settings)
        try:
            envelope = open_envelope(read_body(settings.max_body_bytes), query, settings)
        except ConfigError as e:
            raise not_configured(e)
        try:
            message = parse_message(envelope.xml)
        except ParseError as e:
            raise Refused("400 Bad Request", "bad message: %s" % e, "bad-xml")
        record.msg_type = message.type
        store = current_store(settings)
        run_mode = web.ctx.env.get("wechat.run_mode", "wsgi")
        journal = current_journal(settings)

        def produce(deadline=None):
            return reply_to(message, settings, store, run_mode, deadline)

        if journal is None:
            body, record.outcome = produce()
        else:
            try:
                body, record.outcome = journal.answer(store, message, envelope.xml, produce,
                                                      replay_nonce(query, settings))
            except ReplayedRequest as e:
                log.warning("refused a replayed request from %s: %s", message.source, e)
                raise Refused("403 Forbidden", "request replayed with another body", "replayed")
        if body == SUCCESS:
            return SUCCESS  # stays plain in every mode
        if envelope.encrypted:
            body = envelope.seal(body)
            record.outcome += "+aes"
        web.header("Content-Type", XML_CONTENT_TYPE)
        return body


def reply_to(message, settings, store, run_mode, deadline=None):
    """(reply bytes, outcome) for a parsed message: the skills' answer rendered, or `success`.

    deadline: time.monotonic() by which the reply must be ready (default: the budget from now).
    """
    try:
        skills = load_skills(settings.skill_modules)
        reply = as_reply(skills.dispatch(message, skills.context(settings, store, run_mode, deadline=deadline)))
        body = render_reply(reply, message)
    except Exception:
        # Whatever broke outside a skill (a template, a bad return value), the follower must not see
        # "该公众号暂时无法提供服务".
        log.error("reply failed for %s:\n%s", message.type, traceback.format_exc().rstrip())
        return SUCCESS, "error->success"
    return body, ("success" if body == SUCCESS else "reply:" + reply.msg_type)
