"""The admin's rules file as skills: greeting, keyword rules, menu clicks first; the default reply last."""

import logging
import os

from handlers.skills.registry import ADMIN_RULES, on

log = logging.getLogger("wechat")
_files = {}  # path -> RulesFile, so a long-lived process re-reads only on change


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
        if not os.path.exists(path):
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
