"""The message log with filters and paging; one follower's conversation, and a reply to them through the API."""

import collections
import json
import time

import web

from handlers.console.page import Page, describe_reply, follower_url, render, url
from handlers.console.stats import OUTCOMES, outcome_kind
from wechat.record import Record

PER_PAGE = 50
REPLY_WINDOW = 48 * 3600  # WeChat accepts customer-service messages this long after the follower's last message
MAX_REPLY_CHARS = 600  # WeChat's text limit is 2048 bytes; 600 CJK characters stay under it
CONVERSATION_LIMIT = 200
SENT_KEEP = 100
# What WeChat's refusals of a customer-service message mean, for an admin.
API_ERROR_HINTS = {
    45015: "the 48-hour window has closed: the follower must write to the account first",
    45047: "too many customer-service messages without an answer from the follower",
    40003: "WeChat does not know this OpenID for this account",
    48001: "this account has no permission for the customer-service API (verify the account in WeChat's console)",
    -1: "the API could not be reached, or appid/appsecret are not set",
}


def parse_day(text, end=False):
    """A YYYY-MM-DD from a date input as a local Unix time (its end when end=True); None when blank or wrong."""
    if not text:
        return None
    try:
        day = time.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        return None
    start = time.mktime(day[:8] + (-1,))
    return start + 86400 if end else start


class Filters(Record):
    fields = ("follower", "type", "outcome", "text", "since", "until", "page")
    defaults = {"follower": "", "type": "", "outcome": "", "text": "", "since": "", "until": "", "page": 1}

    @classmethod
    def from_query(cls):
        query = web.input(_method="get", follower="", type="", outcome="", text="", since="", until="", page="1")
        page = int(query.page) if query.page.isdigit() and int(query.page) > 0 else 1
        return cls(query.follower.strip(), query.type.strip(), query.outcome.strip(), query.text.strip(),
                   query.since.strip(), query.until.strip(), page)

    def matches(self, record):
        if self.follower and record.get("source") != self.follower:
            return False
        if self.type and record.get("msg_type") != self.type:
            return False
        if self.outcome and outcome_kind(record.get("outcome")) != self.outcome:
            return False
        if self.text:
            needle = self.text.lower()
            haystack = "%s\n%s" % (record.get("summary") or "", record.get("reply") or "")
            if needle not in haystack.lower():
                return False
        return True

    def link(self, page):
        """This page of the same filters."""
        return url("/messages", follower=self.follower, type=self.type, outcome=self.outcome, text=self.text,
                   since=self.since, until=self.until, page=page if page > 1 else None)

    @property
    def active(self):
        return any((self.follower, self.type, self.outcome, self.text, self.since, self.until))


def newest_first_page(records, keep, page, per_page=PER_PAGE):
    """(page of records newest first, how many matched) from records oldest first, one pass.

    Only the newest page * per_page matches are held: a long log is never all in memory.
    """
    window = collections.deque(maxlen=page * per_page)
    total = 0
    for record in records:
        if keep(record):
            total += 1
            window.append(record)
    held = list(window)
    newer = (page - 1) * per_page
    chunk = held[:max(0, len(held) - newer)][-per_page:]
    return list(reversed(chunk)), total


def known_types():
    from wechat.messages import EVENT_TYPES, MESSAGE_TYPES

    return sorted({cls.type for cls in MESSAGE_TYPES.values()} | {cls.type for cls in EVENT_TYPES.values()},
                  key=str.lower)


class Messages(Page):
    def show(self, console):
        filters = Filters.from_query()
        since, until = parse_day(filters.since), parse_day(filters.until, end=True)
        rows, total = newest_first_page(console.store.log_iter(since, until), filters.matches, filters.page)
        pages = max(1, -(-total // PER_PAGE))
        return render.messages(filters, rows, total, pages, PER_PAGE, known_types(), OUTCOMES)


# --- one follower -------------------------------------------------------------------------------

def _sent_key(openid):
    return "console:sent:" + openid


def sent_by_admins(store, openid):
    """Texts the console sent to this follower: [{'at', 'text'}], oldest first."""
    return json.loads(store.get(_sent_key(openid)) or "[]")


def remember_sent(store, settings, openid, text):
    sent = sent_by_admins(store, openid)
    sent.append({"at": time.time(), "text": text})
    store.set(_sent_key(openid), json.dumps(sent[-SENT_KEEP:], ensure_ascii=False),
              settings.log_retention_days * 86400)


class Turn(Record):
    """One line of a conversation: who spoke (follower, server, admin), when, what."""

    fields = ("at", "speaker", "text", "detail", "outcome")
    defaults = {"detail": "", "outcome": ""}


def conversation(store, settings, openid):
    """(turns oldest first, time of the follower's last message or None)."""
    since = time.time() - settings.log_retention_days * 86400
    records = collections.deque(maxlen=CONVERSATION_LIMIT)
    for record in store.log_iter(since, None):
        if record.get("source") == openid:
            records.append(record)
    turns = []
    for record in records:
        msg_type = record.get("msg_type") or "unknown"
        turns.append(Turn(record["received_at"], "follower", record.get("summary") or "(%s)" % msg_type, msg_type))
        if record.get("reply") is not None or record.get("outcome"):
            turns.append(Turn(record["received_at"], "server", describe_reply(record.get("reply")), "",
                              outcome_kind(record.get("outcome"))))
    for entry in sent_by_admins(store, openid):
        if entry["at"] >= since:
            turns.append(Turn(entry["at"], "admin", entry["text"]))
    turns.sort(key=lambda turn: turn.at)  # stable: a reply stays after its message
    last = records[-1]["received_at"] if records else None
    return turns[-CONVERSATION_LIMIT:], last


class Follower(Page):
    def show(self, console, openid, error="", draft=""):
        # ?sent=1 after a successful send (post/redirect/get: reloading the page does not send twice)
        notice = "Sent." if web.ctx.method == "GET" and web.input(_method="get", sent="").sent else ""
        turns, last = conversation(console.store, console.settings, openid)
        since_last = time.time() - last if last else None
        window_left = REPLY_WINDOW - since_last if last else None
        return render.follower(openid, turns, last, since_last, window_left, console.settings.has_api_credentials,
                               notice, error, draft, MAX_REPLY_CHARS)

    def act(self, console, form, openid):
        text = (form.get("text") or "").strip()
        if not text:
            return self.show(console, openid, error="Type a message first.")
        if len(text) > MAX_REPLY_CHARS:
            return self.show(console, openid, error="That is %d characters; WeChat takes at most %d."
                             % (len(text), MAX_REPLY_CHARS), draft=text)
        _, last = conversation(console.store, console.settings, openid)
        if last is None or time.time() - last > REPLY_WINDOW:
            return self.show(console, openid, draft=text, error="Not sent: WeChat accepts a reply only within 48 hours "
                             "of the follower's last message.")
        from wechat.client import WeChatAPIError, WeChatClient

        try:
            WeChatClient(console.settings, console.store).send_text(openid, text)
        except WeChatAPIError as e:
            console.audit("tried to send a text to %s: WeChat answered %s" % (openid, e.errcode))
            hint = API_ERROR_HINTS.get(e.errcode, "")
            return self.show(console, openid, draft=text, error="WeChat refused the message: errcode %s, errmsg %s%s"
                             % (e.errcode, e.errmsg, " — " + hint if hint else ""))
        remember_sent(console.store, console.settings, openid, text)
        console.audit("sent a text of %d characters to %s" % (len(text), openid))
        raise web.seeother(follower_url(openid)[len(web.ctx.homepath):] + "?sent=1")
