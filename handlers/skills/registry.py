"""The skill registry: one decorator registers a skill; dispatch runs the first that answers.

    from handlers.skills.registry import on

    @on.text("天气", "weather", help="天气 — today's weather")
    def weather(message, ctx):
        return "晴"                 # a str is a text reply; a Reply object any other; None: next skill

A skill gets the message and a Context: settings, the store, the registry, the regex match, the
reply deadline. Skills are tried by precedence: the admin's rules file, then exact keywords, menu
keys and events, then regexes, then catch-alls by message type; within one precedence, in the order
they were registered. A skill's `help` is a line for the 帮助 answer, or a function settings -> lines.

One rule for a skill that raises, whatever kind it is: its traceback is logged and the follower gets
`success` (no later skill answers in its place: a crash is not "no answer").
"""

import logging
import re
import time
import traceback

from handlers.skills.budget import run_with_budget, send_late
from wechat.record import Record
from wechat.replies import EmptyReply

log = logging.getLogger("wechat")
ADMIN_RULES, EXACT, PATTERN, CATCH_ALL = -1, 0, 1, 2  # the admin's rules file outranks every skill


class Context(Record):
    """What a skill gets besides the message; built once per message, `match` set per skill tried."""

    # store: the store the endpoint opened (None when it is unavailable); registry: the skills, for help;
    # deadline: time.monotonic() by which the reply must be ready; run_mode: cgi, fcgi, dev or wsgi;
    # match: the re.Match of a regex skill; session: the follower's conversation state (None: none kept)
    fields = ("settings", "store", "registry", "deadline", "run_mode", "match", "session")
    defaults = {"store": None, "registry": None, "deadline": 0.0, "run_mode": "wsgi", "match": None,
                "session": None}

    def seconds_left(self):
        return max(0.0, self.deadline - time.monotonic())

    @property
    def can_answer_late(self):
        """Whether an answer that misses the budget can still reach the follower (customer-service API)."""
        return self.settings.has_api_credentials

    def call_timeout(self, late_limit=10.0):
        """Timeout for a call out: within the budget, or longer when a late answer can still be sent."""
        return late_limit if self.can_answer_late else max(0.1, self.seconds_left() - 0.3)


class SkillFailed(Record):
    """What a skill that raised leaves behind (its traceback is already in the log)."""

    fields = ("skill",)


def attempt(skill, message, ctx):
    """skill(message, ctx), or SkillFailed: the one place a skill's exception is caught and logged."""
    try:
        return skill.func(message, ctx)
    except Exception:
        log.error("skill %s failed on %s:\n%s", skill.name, message.type, traceback.format_exc().rstrip())
        return SkillFailed(skill.name)


class Skill(Record):
    # matches: message -> truthy (a re.Match for regex skills); calls_out: runs under the reply budget
    fields = ("func", "precedence", "matches", "help", "calls_out")
    defaults = {"help": "", "calls_out": False}

    @property
    def name(self):
        return self.func.__name__


def normalise_keyword(text):
    """How keywords compare: surrounding space and ASCII case do not matter; ？ is ?."""
    return text.strip().lower().replace("？", "?")


def deliver_late(message, ctx, answer):
    """An answer that came after the budget: sent on, unless there is none (a failure is already logged)."""
    if answer is not None and not isinstance(answer, SkillFailed):
        send_late(message, ctx, answer)


class SkillRegistry:
    def __init__(self):
        self.skills = []

    def _register(self, precedence, matches, help, calls_out=False):
        def decorator(func):
            self.skills.append(Skill(func, precedence, matches, help, calls_out))
            self.skills.sort(key=lambda s: s.precedence)  # stable: keeps registration order
            return func

        return decorator

    def text(self, *keywords, help="", calls_out=False):
        """Text messages equal to one of the keywords; with no keywords, any text message."""
        if not keywords:
            return self._register(CATCH_ALL, lambda m: m.type == "text", help, calls_out)
        wanted = {normalise_keyword(k) for k in keywords}
        return self._register(
            EXACT, lambda m: m.type == "text" and normalise_keyword(m.content) in wanted, help, calls_out
        )

    def regex(self, pattern, help="", calls_out=False):
        """Text messages the pattern matches (re.search); the match is ctx.match."""
        compiled = re.compile(pattern)
        return self._register(PATTERN, lambda m: m.type == "text" and compiled.search(m.content), help, calls_out)

    def message(self, *types, help="", calls_out=False):
        """Any message of these MsgTypes (text, image, voice, location ...)."""
        return self._register(CATCH_ALL, lambda m: not m.is_event and m.type in types, help, calls_out)

    def event(self, *names, help="", calls_out=False):
        """Events by name, as WeChat spells them (subscribe, SCAN, LOCATION ...); any case."""
        wanted = {n.lower() for n in names}
        return self._register(EXACT, lambda m: m.is_event and m.event.lower() in wanted, help, calls_out)

    def click(self, *keys, help="", calls_out=False):
        """Menu CLICK events with one of these EventKeys."""
        wanted = set(keys)
        return self._register(
            EXACT, lambda m: m.is_event and m.event == "CLICK" and m.key in wanted, help, calls_out
        )

    def custom(self, matches, precedence=EXACT, help="", calls_out=False):
        """Any predicate message -> bool, at the given precedence (ADMIN_RULES, EXACT, PATTERN, CATCH_ALL)."""
        return self._register(precedence, matches, help, calls_out)

    def help_lines(self, settings):
        lines = []
        for skill in self.skills:
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
        for skill in self.skills:
            match = skill.matches(message)
            if not match:
                continue
            ctx.match = match if isinstance(match, re.Match) else None
            if skill.calls_out:
                in_time, answer = run_with_budget(
                    lambda: attempt(skill, message, ctx), ctx.seconds_left(),
                    lambda late: deliver_late(message, ctx, late), use_fork=ctx.run_mode == "cgi")
                if not in_time:
                    return EmptyReply()
            else:
                answer = attempt(skill, message, ctx)
            if isinstance(answer, SkillFailed):
                return EmptyReply()
            if answer is not None:
                return answer
        return None

    def context(self, settings, store=None, run_mode="wsgi", session=None, deadline=None):
        """A Context for one message; its reply deadline (time.monotonic()) is the budget from now unless given."""
        if deadline is None:
            deadline = time.monotonic() + settings.reply_budget_seconds
        return Context(settings, store, self, deadline, run_mode, None, session)


on = SkillRegistry()
