"""The skill registry: one decorator registers a skill; dispatch runs the first that answers.

    from handlers.skills.registry import on

    @on.text("天气", "weather", help="天气 — today's weather")
    def weather(message, ctx):
        return "晴"                 # a str is a text reply; a Reply object any other; None: next skill

A skill gets the message and a Context: settings, the store, the registry, the regex match, the
reply deadline, and the follower's session (handlers/skills/session.py). Skills are tried by
precedence: 取消/cancel of a wait, what the follower is still owed (the rest of a long answer), the
answer to a question the account asked (on.reply_to), the admin's rules file, then exact keywords,
menu keys and events, then regexes, then catch-alls by message type; within one precedence, in the
order they were registered. A skill's `help` is a line for the 帮助 answer, or a function settings ->
lines. A skill with `enabled` (settings -> bool) is skipped, help included, while that says no: a skill
that is off unless configured. A text reply longer than WeChat takes is cut to its first part
(long_text.py).

A conversation: a skill asks and names what it waits for; the follower's next text goes to the skill
registered for that name (and 取消 / cancel ends the wait):

    @on.text("书", "book")
    def ask_title(message, ctx):
        ctx.session.expect("book_title")
        return "哪本书？"

    @on.reply_to("book_title")
    def got_title(message, ctx):        # message.content is the title; ask again with expect()
        ...

One rule for a skill that raises, whatever kind it is: its traceback is logged and the follower gets
`success` (no later skill answers in its place: a crash is not "no answer").
"""

import re
import time
import traceback

from handlers.skills.budget import run_detached, run_with_budget, send_late
from handlers.skills.long_text import OWED_PREFIX, OWED_REPLY_PREFIX, fit_reply
from handlers.skills.session import Session
from wechat.log import log
from wechat.record import Record
from wechat.replies import EmptyReply
from wechat.store.prefetch import PrefetchingStore

# A wait's cancel, what the follower is still owed, and the answer to a question outrank everything;
# the admin's rules file outranks every other skill.
CANCEL, OWED, CONVERSATION, ADMIN_RULES, EXACT, PATTERN, CATCH_ALL = -4, -3, -2, -1, 0, 1, 2
TEXT = ("text",)  # the kinds of a skill that answers text messages only


class Context(Record):
    """What a skill gets besides the message; built once per message, `match` set per skill tried."""

    # store: the store the endpoint opened (None when it is unavailable); registry: the skills, for help;
    # deadline: time.monotonic() by which the reply must be ready; run_mode: cgi, fcgi, dev or wsgi;
    # match: the re.Match of a regex skill; session: the follower's Session (dispatch makes one, read lazily);
    # usage: tokens a language model used for this answer, {"prompt_tokens", "completion_tokens", "total_tokens"};
    # answered_by: set by dispatch, the name of the skill that answered (or raised); skill_failed: it raised
    fields = ("settings", "store", "registry", "deadline", "run_mode", "match", "session", "usage", "answered_by",
              "skill_failed")
    defaults = {"store": None, "registry": None, "deadline": 0.0, "run_mode": "wsgi", "match": None,
                "session": None, "usage": None, "answered_by": None, "skill_failed": False}

    def seconds_left(self):
        return max(0.0, self.deadline - time.monotonic())

    @property
    def can_answer_late(self):
        """Whether an answer that misses the budget can be sent on its own (the customer-service API);
        without it, WeChat's retries carry it (late.py)."""
        return self.settings.has_api_credentials

    def call_timeout(self, late_limit=10.0):
        """Timeout for a call out. An answer that misses the budget still reaches the follower (through the
        customer-service API, a retry of the message, or their next message), so the call may take this long."""
        return late_limit


class SkillFailed(Record):
    """What a skill that raised leaves behind (its traceback is already in the log)."""

    fields = ("skill",)


def attempt(skill, message, ctx):
    """skill(message, ctx), or SkillFailed: the one place a skill's exception is caught and logged.

    The session changes a skill made are saved when it returns and dropped when it raises; this runs
    wherever the skill runs (its thread, or its forked process under CGI), so the save does too.
    """
    session = ctx.session
    mark = session.mark() if session is not None else (False, 0)
    try:
        answer = skill.func(message, ctx)
    except Exception:
        log.error("skill %s failed on %s:\n%s", skill.name, message.type, traceback.format_exc().rstrip())
        answer = SkillFailed(skill.name)
        if session is not None:
            session.rollback(mark)
    if session is not None:
        session.save()
    return answer


class Skill(Record):
    # matches: message -> truthy (a re.Match for regex skills), or (message, ctx) -> truthy when
    # with_context (it reads the session); calls_out: runs under the reply budget;
    # enabled: settings -> bool, or None for always; kinds: the message kinds (see kinds_of) it can
    # match at all, or None for any: dispatch does not ask the others; needs_state: it can only answer
    # a follower with something stored, and is not asked for the others
    fields = ("func", "precedence", "matches", "help", "calls_out", "enabled", "with_context", "kinds", "needs_state")
    defaults = {"help": "", "calls_out": False, "enabled": None, "with_context": False, "kinds": None,
                "needs_state": False}

    @property
    def name(self):
        return self.func.__name__

    def is_on(self, settings):
        return self.enabled is None or self.enabled(settings)


def normalise_keyword(text):
    """How keywords compare: surrounding space and ASCII case do not matter; ？ is ?."""
    return text.strip().lower().replace("？", "?")


def keyword_of(message):
    """normalise_keyword(message.content), worked out once per message: every keyword skill compares it."""
    found = message.__dict__.get("_keyword")
    if found is None:
        found = message.__dict__["_keyword"] = normalise_keyword(message.content)
    return found


def kinds_of(message):
    """What a skill's `kinds` are matched against: {"text"}, {"image"} ..., or {"event:subscribe", ...}."""
    if message.is_event:
        return {"event:" + name for name in message.event_names}
    return {message.type}


def deliver_late(message, ctx, answer):
    """An answer that came after the budget: sent on, unless there is none (a failure is already logged)."""
    answer = answer[0] if isinstance(answer, tuple) else answer
    if answer is not None and not isinstance(answer, SkillFailed):
        send_late(message, ctx, answer)


class SkillRegistry:
    MAX_INDEXED_KINDS = 256  # an unknown event's name is the sender's to choose: the index stays bounded

    def __init__(self):
        self.skills = []
        self._index = (None, None, {})  # (settings, skills list, {message kind: the skills to try, in order})

    def _register(self, precedence, matches, help, calls_out=False, enabled=None, with_context=False, kinds=None,
                  needs_state=False):
        def decorator(func):
            self.skills.append(Skill(func, precedence, matches, help, calls_out, enabled, with_context,
                                     frozenset(kinds) if kinds is not None else None, needs_state))
            self.skills.sort(key=lambda s: s.precedence)  # stable: keeps registration order
            self._index = (None, None, {})
            return func

        return decorator

    def candidates(self, message, settings):
        """The skills that are on and can match this kind of message, in the order dispatch tries them;
        worked out once per kind (and settings), not per message."""
        kind = message.event_names if message.is_event else message.type
        indexed_for, indexed_skills, index = self._index
        # A new settings object (config.ini changed) or another skills list (a test swapped it) starts afresh.
        if indexed_for is not settings or indexed_skills is not self.skills or len(index) > self.MAX_INDEXED_KINDS:
            index = {}
            self._index = (settings, self.skills, index)
        found = index.get(kind)
        if found is None:
            kinds = kinds_of(message)
            found = index[kind] = [skill for skill in self.skills if skill.is_on(settings)
                                   and (skill.kinds is None or not skill.kinds.isdisjoint(kinds))]
        return found

    def text(self, *keywords, help="", calls_out=False, enabled=None):
        """Text messages equal to one of the keywords; with no keywords, any text message."""
        if not keywords:
            return self._register(CATCH_ALL, lambda m: m.type == "text", help, calls_out, enabled, kinds=TEXT)
        wanted = {normalise_keyword(k) for k in keywords}
        return self._register(
            EXACT, lambda m: m.type == "text" and keyword_of(m) in wanted, help, calls_out, enabled,
            kinds=TEXT)

    def regex(self, pattern, help="", calls_out=False, enabled=None):
        """Text messages the pattern matches (re.search); the match is ctx.match."""
        compiled = re.compile(pattern)
        return self._register(PATTERN, lambda m: m.type == "text" and compiled.search(m.content), help, calls_out,
                              enabled, kinds=TEXT)

    def message(self, *types, help="", calls_out=False, enabled=None):
        """Any message of these MsgTypes (text, image, voice, location ...)."""
        return self._register(CATCH_ALL, lambda m: not m.is_event and m.type in types, help, calls_out, enabled,
                              kinds=types)

    def event(self, *names, help="", calls_out=False, enabled=None):
        """Events by name, as WeChat spells them (subscribe, SCAN, user_get_card ...; README lists them
        all), in any case. A variant answers to its family's name too: subscribe_scan_product is a subscribe."""
        wanted = {n.lower() for n in names}
        return self._register(EXACT, lambda m: m.is_event and not wanted.isdisjoint(m.event_names), help, calls_out,
                              enabled, kinds=["event:" + name for name in wanted])

    def click(self, *keys, help="", calls_out=False, enabled=None):
        """Menu CLICK events with one of these EventKeys."""
        wanted = set(keys)
        return self._register(
            EXACT, lambda m: m.is_event and "click" in m.event_names and m.key in wanted, help, calls_out, enabled,
            kinds=["event:click"])

    def reply_to(self, *topics, help="", calls_out=False, enabled=None):
        """The follower's next text after a skill called ctx.session.expect(topic). The wait ends as the
        skill starts (a skill that needs another answer calls expect() again)."""
        wanted = set(topics)
        return self._register(
            CONVERSATION, lambda m, ctx: m.type == "text" and ctx.session.waiting_for in wanted, help,
            calls_out, enabled, with_context=True, kinds=TEXT, needs_state=True)

    def custom(self, matches, precedence=EXACT, help="", calls_out=False, enabled=None, kinds=None,
               needs_state=False):
        """Any predicate message -> bool, at the given precedence (CANCEL, OWED, CONVERSATION, ADMIN_RULES,
        EXACT, PATTERN, CATCH_ALL); `kinds` ("text", "image", "event:click" ...), when given, spares other
        kinds of message the predicate; `needs_state`: the skill can only answer a follower who has
        something stored (a session, the rest of an answer, a late answer), and is not asked for the
        others (most followers, most messages: the store knows it without a read)."""
        return self._register(precedence, matches, help, calls_out, enabled, kinds=kinds, needs_state=needs_state)

    def help_lines(self, settings):
        lines = []
        for skill in self.skills:
            if not skill.is_on(settings):
                continue
            if callable(skill.help):
                lines.extend(skill.help(settings))
            elif skill.help:
                lines.append(skill.help)
        return lines

    def dispatch(self, message, ctx):
        """The first answer (str, Reply) of a matching skill, or None when none answers.

        A skill that raises ends dispatch with EmptyReply (`success`); see attempt(). A calls_out
        skill that misses the reply budget also gives EmptyReply now; its answer is sent later.
        """
        if ctx.session is None:
            if ctx.store is not None and message.source:
                # What is owed to the follower and their session: one store call, on the first read.
                keys = (OWED_PREFIX + message.source, OWED_REPLY_PREFIX + message.source)
                ctx.store = PrefetchingStore(ctx.store, keys, message.source)
            ctx.session = Session(ctx.store, message.source, ctx.settings.session_ttl_seconds)
        state = None  # whether the follower has anything stored: asked of the store once, when it matters

        def has_state():
            nonlocal state
            if state is None:
                state = ctx.store.may_have_state() if isinstance(ctx.store, PrefetchingStore) else True
            return state

        for skill in self.candidates(message, ctx.settings):
            # A skill that needs stored state is skipped for a follower with none; its predicate first,
            # when that reads nothing stored (a subscribe then costs no store call at all).
            if skill.with_context:
                if skill.needs_state and not has_state():
                    continue
                match = skill.matches(message, ctx)
            else:
                match = skill.matches(message)
                if match and skill.needs_state and not has_state():
                    continue
            if not match:
                continue
            ctx.match = match if isinstance(match, re.Match) else None
            if skill.precedence == CONVERSATION:
                ctx.session.stop_waiting()  # answered, whatever the skill does (even if it raises)
            if skill.calls_out and not ctx.can_answer_late:
                # No customer-service API: WeChat's retries wait for this one running answer (late.py).
                from handlers.skills.late import carried_by_retries

                answer, usage = carried_by_retries(
                    lambda: (attempt(skill, message, ctx), ctx.usage), message, ctx,
                    lambda work: run_detached(work, use_fork=ctx.run_mode == "cgi"))
                ctx.usage = usage or ctx.usage
            elif skill.calls_out:
                # ctx.usage travels back with the answer: under CGI the skill runs in a forked process.
                in_time, result = run_with_budget(
                    lambda: (attempt(skill, message, ctx), ctx.usage), ctx.seconds_left(),
                    lambda late: deliver_late(message, ctx, late), use_fork=ctx.run_mode == "cgi")
                if not in_time:
                    ctx.answered_by = skill.name  # later, through the customer-service API
                    return EmptyReply()
                answer, ctx.usage = result if isinstance(result, tuple) else (None, None)
            else:
                answer = attempt(skill, message, ctx)
            if isinstance(answer, SkillFailed):
                ctx.answered_by, ctx.skill_failed = skill.name, True
                return EmptyReply()
            if answer is not None:
                ctx.answered_by = skill.name
                return fit_reply(answer, message, ctx)
        return None

    def context(self, settings, store=None, run_mode="wsgi", session=None, deadline=None):
        """A Context for one message; its reply deadline (time.monotonic()) is the budget from now unless given."""
        if deadline is None:
            deadline = time.monotonic() + settings.reply_budget_seconds
        return Context(settings, store, self, deadline, run_mode, None, session)


on = SkillRegistry()
