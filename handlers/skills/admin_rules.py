"""The admin's rules file as skills: greeting, keyword rules, menu clicks first; the default reply last."""

import os
import time

from handlers.skills.registry import ADMIN_RULES, on
from wechat.log import log

_files = {}  # path -> RulesFile, so a long-lived process re-reads only on change
_absent = {}  # path -> time.monotonic() until which a missing file is not looked for again
ABSENT_RECHECK_SECONDS = 1.0  # a new replies.ini is noticed within a second, without a stat() per message


class NoRules:
    """No rules file: nothing matches (and the rules parser is never imported)."""

    welcome = default = None
    keywords = ()
    clicks = {}

    @staticmethod
    def find(content):
        return None


def current_rules(settings):
    path = settings.rules_file
    if path not in _files:
        now = time.monotonic()
        if now < _absent.get(path, 0.0):
            return NoRules
        if not os.path.exists(path):
            _absent[path] = now + ABSENT_RECHECK_SECONDS
            return NoRules
        from handlers.skills.backends.rules import RulesFile

        _files[path] = RulesFile(path, lambda e: log.error("rules file not loaded, keeping the last good rules: %s", e))
    return _files[path].current()


def rules_help(settings):
    return [rule.help for rule in current_rules(settings).keywords if rule.help]


@on.custom(lambda m: True, precedence=ADMIN_RULES, help=rules_help)
def admin_rules(message, ctx):
    rules = current_rules(ctx.settings)
    if not message.is_event:
        rule = rules.find(message.content) if message.type == "text" else None
        return rule.reply if rule else None
    if message.event == "subscribe":
        return rules.welcome
    if message.event == "CLICK":
        return rules.clicks.get(message.key)
    return None


@on.text()
def default_reply(message, ctx):
    # Registered before the reversed echo: a [default] section replaces it.
    return current_rules(ctx.settings).default
