"""The admin's rules file (replies.ini): greeting, default reply, keyword rules, menu clicks — no code.

Read with configparser; each section is one rule. Parsing is separate from the file cache so
`manage.py doctor` and the endpoint report the same problems.
"""

import configparser
import os
import re

from wechat.record import Record
from wechat.replies import (Article, ImageReply, MusicReply, NewsReply, TextReply, VideoReply, VoiceReply)

MATCH_KINDS = ("exact", "contains", "regex")
REPLY_KEYS = ("text", "news", "image", "voice", "video", "music")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the line and the reason."""


class Rule(Record):
    # reply: a Reply; match: one of MATCH_KINDS; pattern: the compiled regex of a regex rule
    fields = ("name", "reply", "match", "keywords", "pattern", "help")
    defaults = {"match": "exact", "keywords": (), "pattern": None, "help": ""}

    def matches(self, content):
        text = content.strip()
        if self.match == "regex":
            return bool(self.pattern.search(text))
        folded = text.lower()
        if self.match == "contains":
            return any(k in folded for k in self.keywords)
        return folded in self.keywords


class Rules(Record):
    # welcome: Reply for subscribe, or None (then the config's welcome_text); default: Reply when no rule
    # or skill answered a text; keywords: Rules, exact first, then contains, then regex; clicks: menu key -> Reply
    fields = ("welcome", "default", "keywords", "clicks")
    defaults = {"welcome": None, "default": None, "keywords": None, "clicks": None}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.keywords = [] if self.keywords is None else self.keywords
        self.clicks = {} if self.clicks is None else self.clicks

    def find(self, content):
        return next((rule for rule in self.keywords if rule.matches(content)), None)


def _split(value, count):
    parts = [p.strip() for p in value.split("|")]
    return parts + [""] * (count - len(parts))


def parse_reply(section):
    """The one reply a section defines (text, news, image, voice, video or music)."""
    present = [k for k in REPLY_KEYS if section.get(k, "").strip()]
    if len(present) != 1:
        raise ValueError("give exactly one of %s (found %s)" % (", ".join(REPLY_KEYS), ", ".join(present) or "none"))
    kind, value = present[0], section[present[0]].strip()
    if kind == "text":
        return TextReply(value.replace("\\n", "\n"))
    if kind == "news":
        articles = []
        for line in filter(None, (l.strip() for l in value.splitlines())):
            title, description, picture, url = _split(line, 4)
            if not title or not url:
                raise ValueError("each news line is 'title | description | picture URL | link URL'")
            articles.append(Article(title, description, picture, url))
        return NewsReply(articles)
    if kind == "image":
        return ImageReply(value)
    if kind == "voice":
        return VoiceReply(value)
    if kind == "video":
        media_id, title, description = _split(value, 3)
        return VideoReply(media_id, title, description)
    title, description, url, hq_url, thumb = _split(value, 5)
    if not thumb:
        raise ValueError("music is 'title | description | music URL | HQ music URL | thumb media id'")
    return MusicReply(thumb, title, description, url, hq_url or url)


def _section_line(text, name):
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() == "[%s]" % name:
            return number
    return 0


def parse_rules(text, source="replies.ini"):
    """Rules from the file's text; RulesError naming the line and reason for the first problem."""
    parser = configparser.ConfigParser(interpolation=None, default_section="__defaults__")
    parser.optionxform = str
    try:
        parser.read_string(text, source)
    except configparser.Error as e:
        line = getattr(e, "lineno", None) or (e.errors[0][0] if getattr(e, "errors", None) else "?")
        raise RulesError("%s line %s: %s" % (source, line, str(e).splitlines()[0]))
    rules = Rules()
    order = {kind: [] for kind in MATCH_KINDS}
    for name in parser.sections():
        section = parser[name]
        try:
            if not section.getboolean("enabled", True):
                continue
            if name == "welcome":
                rules.welcome = parse_reply(section)
            elif name == "default":
                rules.default = parse_reply(section)
            elif name.startswith("click:"):
                rules.clicks[name[len("click:"):].strip()] = parse_reply(section)
            elif name.startswith("rule:"):
                order_kind, rule = _keyword_rule(name, section)
                order[order_kind].append(rule)
            else:
                raise ValueError("unknown section: use [welcome], [default], [rule:NAME] or [click:MENU_KEY]")
        except (ValueError, re.error) as e:
            raise RulesError("%s line %d [%s]: %s" % (source, _section_line(text, name), name, e))
    rules.keywords = order["exact"] + order["contains"] + order["regex"]
    return rules


def _keyword_rule(name, section):
    match = section.get("match", "exact").strip().lower()
    if match not in MATCH_KINDS:
        raise ValueError("match must be exact, contains or regex, not %r" % match)
    reply = parse_reply(section)
    rule_name = name[len("rule:"):].strip()
    if match == "regex":
        pattern = section.get("pattern", "").strip()
        if not pattern:
            raise ValueError("a regex rule needs pattern = ...")
        return match, Rule(rule_name, reply, match, pattern=re.compile(pattern), help=section.get("help", ""))
    keywords = tuple(k.strip().lower() for k in re.split(r"[,，]", section.get("keywords", rule_name)) if k.strip())
    return match, Rule(rule_name, reply, match, keywords, help=section.get("help", ""))


class RulesFile:
    """The rules file, re-read when its mtime changes; a broken edit keeps the last good rules."""

    def __init__(self, path, on_error):
        self.path = path
        self.on_error = on_error  # called with the RulesError once per broken version
        self.mtime = None
        self.rules = Rules()

    def current(self):
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            mtime = None
        if mtime != self.mtime:
            self.mtime = mtime
            if mtime is None:
                self.rules = Rules()
            else:
                try:
                    with open(self.path, encoding="utf-8-sig") as f:
                        self.rules = parse_rules(f.read(), self.path)
                except (RulesError, OSError, UnicodeDecodeError) as e:
                    self.on_error(e)  # self.rules stays the last good version
        return self.rules


def check_rules_file(path):
    """Problems for `manage.py doctor`: [] when the file is absent or good."""
    if not os.path.exists(path):
        return []
    try:
        with open(path, encoding="utf-8-sig") as f:
            parse_rules(f.read(), path)
    except (RulesError, UnicodeDecodeError) as e:
        return ["The rules file is broken, so the server keeps the last good rules: %s" % e]
    return []
