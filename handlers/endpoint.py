"""The WeChat endpoint: GET verifies the URL (or shows the welcome page), POST answers messages."""

import time
import traceback
import urllib.parse

import web

from handlers.envelope import open_envelope
from handlers.refused import Refused
from handlers.request_body import BodyTooLarge, BodyUnreadable, read_up_to
from handlers.render import XML_CONTENT_TYPE, as_reply, render_reply
from handlers.runtime import (current_journal, current_settings, current_store, log, log_request_line,
                              request_age_window)
from handlers.skills import load_skills
from wechat.config import ConfigError
from wechat.freshness import timestamp_problem
from wechat.journal import ReplayedRequest
from wechat.messages import parse_message
from wechat.replies import SUCCESS
from wechat.signature import check_signature
from wechat.xmlparse import ParseError

SIGNATURE_PARAMS = ("signature", "timestamp", "nonce", "echostr")
# WeChat sends each of these once; a second copy is someone probing which one we read.
NEVER_REPEATED = ("signature", "timestamp", "nonce", "msg_signature", "echostr", "encrypt_type")
MAX_QUERY_FIELDS = 50


def not_configured(error):
    """503 for the client, saying only which part is wrong; the sentence with path and fix goes to the log."""
    log.error("%s", error)
    return Refused("503 Service Unavailable", "server not configured (config: %s); see the server's error log"
                   % getattr(error, "state", "invalid"), "config-error")


class RequestLog:
    """What one request did, written as one line: type, outcome, status, latency. Never secrets or bodies."""

    def __init__(self, method):
        self.method = method
        self.started = time.perf_counter()
        self.msg_type = "-"
        self.outcome = "-"

    def write(self, status, detail=""):
        ms = (time.perf_counter() - self.started) * 1000
        log_request_line("%s type=%s outcome=%s status=%s %.1fms%s" % (
            self.method, self.msg_type, self.outcome, status, ms, " " + detail if detail else ""))


def logged(method, work):
    """Run work(record); a Refused becomes its HTTP status with a plain-text reason. One log line either way."""
    record = RequestLog(method)
    try:
        body = work(record)
    except Refused as refusal:
        raise refused(record, refusal)
    record.write(200)
    return body


def refused(record, refusal):
    """The HTTP error for a refusal (its status, a plain-text reason), after its log line."""
    record.outcome = refusal.outcome
    record.write(refusal.status.split()[0], refusal.detail)
    return web.HTTPError(refusal.status, {"Content-Type": "text/plain; charset=utf-8"}, refusal.reason + "\n")


def configured_settings():
    try:
        settings = current_settings()
        settings.require_token()
        return settings
    except ConfigError as e:
        raise not_configured(e)


def read_query():
    """The query string as a dict; 400 when it is not UTF-8 or repeats a parameter WeChat sends once.

    parse_qsl rather than web.input: several times faster, and it shows repeats, where web.input
    silently keeps the last one.
    """
    text = web.ctx.env.get("QUERY_STRING", "")
    if "%" in text or "+" in text or text.count("&") >= MAX_QUERY_FIELDS:
        try:
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, errors="strict",
                                           max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:  # not UTF-8 (UnicodeDecodeError), or too many fields
            raise Refused("400 Bad Request", "unreadable query string", "bad-query")
    else:  # what WeChat sends: nothing to unquote, so parse_qsl's answer is a plain split, at a third of its cost
        pairs = [tuple(field.split("=", 1)) if "=" in field else (field, "") for field in text.split("&") if field]
    query = dict(pairs)
    if len(query) < len(pairs):
        names = [name for name, _ in pairs]
        repeated = [name for name in NEVER_REPEATED if names.count(name) > 1]
        if repeated:
            raise Refused("400 Bad Request", "repeated query parameter: %s" % ", ".join(repeated), "repeated-param")
    return query


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


def require_fresh(query, settings):
    """403 unless the signed timestamp is within max_request_age_seconds of our clock (replayed queries)."""
    problem = timestamp_problem(query.get("timestamp"), settings.max_request_age_seconds)
    if problem:
        raise Refused("403 Forbidden", "timestamp outside the allowed window", "stale-timestamp", problem)


def read_body(limit):
    """The POST body as bytes; 413 beyond `limit`. Never more than limit + 1 bytes are read, whatever
    the framing (Content-Length, chunked, a length that lies), so memory is bounded by the limit."""
    too_large = Refused("413 Request Entity Too Large", "body larger than %d bytes" % limit, "too-large")
    declared = (web.ctx.env.get("CONTENT_LENGTH") or "").strip()
    if declared and not declared.isdigit():
        raise Refused("400 Bad Request", "bad Content-Length", "bad-length")
    if declared and int(declared) > limit:
        raise too_large
    wanted = int(declared) if declared else limit + 1  # no length (chunked): read until the end or the limit
    try:
        body = read_up_to(web.ctx.env["wsgi.input"], wanted)
    except BodyTooLarge:
        raise too_large
    except BodyUnreadable as e:
        raise Refused("400 Bad Request", "incomplete body", "short-body", "body unreadable: %s" % e)
    if declared and len(body) < wanted:
        raise Refused("400 Bad Request", "body shorter than its Content-Length", "short-body",
                      "%d of %d bytes" % (len(body), wanted))
    if len(body) > limit:
        raise too_large
    web.ctx.data = body  # web.data() returns this from now on, instead of reading again
    return body


class WeChatEndpoint:
    def GET(self):
        try:
            query = read_query()
        except Refused as refusal:
            raise refused(RequestLog("GET"), refusal)
        if not any(name in query for name in SIGNATURE_PARAMS):
            from handlers import pages  # only people with browsers pay for the page's imports

            return pages.welcome_page()
        return logged("GET", lambda record: self.verify(query, record))

    def POST(self):
        return logged("POST", self.answer)

    def verify(self, query, record):
        """WeChat's URL check (the same in every encrypt mode): echo `echostr` when the signature is right."""
        record.msg_type = "verify"
        settings = configured_settings()
        require_signature(query, settings)
        require_fresh(query, settings)
        record.outcome = "verified"
        web.header("Content-Type", "text/plain; charset=utf-8")
        return query.get("echostr", "")

    def answer(self, record):
        settings = configured_settings()
        query = read_query()
        require_signature(query, settings)
        require_fresh(query, settings)
        try:
            envelope = open_envelope(read_body(settings.max_body_bytes), query, settings)
        except ConfigError as e:
            raise not_configured(e)
        try:
            message = parse_message(envelope.xml)
        except ParseError as e:
            raise Refused("400 Bad Request", "bad message", "bad-xml", str(e))
        record.msg_type = message.type
        store = current_store(settings)
        run_mode = web.ctx.env.get("wechat.run_mode", "wsgi")
        journal = current_journal(settings, run_mode)

        def produce(deadline=None):
            return reply_to(message, settings, store, run_mode, deadline)

        if journal is None:
            body, record.outcome, _ = produce()
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
    """(reply bytes, outcome, usage) for a parsed message: the skills' answer rendered, or `success`;
    usage is what a language model used for it ({"prompt_tokens", "completion_tokens", ...}) or None.

    deadline: time.monotonic() by which the reply must be ready (default: the budget from now).
    """
    try:
        skills = load_skills(settings.skill_modules)
        ctx = skills.context(settings, store, run_mode, deadline=deadline)
        reply = as_reply(skills.dispatch(message, ctx))
        if ctx.skill_failed:  # logged with its traceback by the registry; the message log says "error"
            return SUCCESS, "error->success", None
        body = render_reply(reply, message)
    except Exception:
        # Whatever broke outside a skill (a template, a bad return value), the follower must not see
        # "该公众号暂时无法提供服务".
        log.error("reply failed for %s:\n%s", message.type, traceback.format_exc().rstrip())
        return SUCCESS, "error->success", None
    return body, ("success" if body == SUCCESS else "reply:" + reply.msg_type), ctx.usage
