"""Auto-replies: the rules file as a list and a form, as raw text, and the "try it" box that sends nothing."""

import os

import web

from handlers.console import rules_edit
from handlers.console.page import Page, describe_reply, render
from handlers.skills.backends.rules import MATCH_KINDS, REPLY_KEYS, RulesError, parse_rules
from wechat.config import ROOT

REPLY_FIELDS = {  # the form's inputs for each reply kind, in the order the rules file joins them with |
    "image": ("image_media_id",),
    "voice": ("voice_media_id",),
    "video": ("video_media_id", "video_title", "video_description"),
    "music": ("music_title", "music_description", "music_url", "music_hq_url", "music_thumb"),
}
ARTICLE_FIELDS = ("title", "description", "picture", "url")
TRY_KINDS = ("text", "click", "subscribe")


class FormProblem(ValueError):
    """The form cannot become a section; the message says which field and why."""


def entry_from_form(form):
    kind = form.get("kind") if form.get("kind") in rules_edit.SECTION_KINDS else "rule"
    reply_kind = form.get("reply_kind") if form.get("reply_kind") in REPLY_KEYS else "text"
    name = (form.get("name") or "").strip() if kind in ("rule", "click") else kind
    if kind in ("rule", "click") and (not name or "]" in name or "\n" in name):
        raise FormProblem("Give the %s a name without ']' (for a click, the menu button's key)." % kind)
    if reply_kind == "text":
        value = (form.get("text") or "").strip()
    elif reply_kind == "news":
        lines = []
        for i in range(rules_edit.MAX_ARTICLES):
            parts = [(form.get("article%d_%s" % (i, f)) or "").strip() for f in ARTICLE_FIELDS]
            if any(parts):
                lines.append(parts)
        value = "\n".join(" | ".join(parts) for parts in lines)
        if any("|" in p for parts in lines for p in parts):
            raise FormProblem("News fields cannot contain '|' (the rules file separates fields with it).")
    else:
        parts = [(form.get(f) or "").strip() for f in REPLY_FIELDS[reply_kind]]
        if any("|" in p for p in parts):
            raise FormProblem("Fields cannot contain '|' (the rules file separates fields with it).")
        value = " | ".join(parts).rstrip(" |")
    match = form.get("match") if form.get("match") in MATCH_KINDS else "exact"
    return rules_edit.Entry("", kind, name, match, (form.get("keywords") or "").strip(),
                            (form.get("pattern") or "").strip(), (form.get("help") or "").strip(),
                            form.get("enabled") == "yes", reply_kind, value)


def reply_of(rules, entry):
    """The Reply the parsed rules hold for entry's section."""
    if entry.kind in ("welcome", "default"):
        return getattr(rules, entry.kind)
    if entry.kind == "click":
        return rules.clicks.get(entry.name)
    return next((rule.reply for rule in rules.keywords if rule.name == entry.name), None)


def rules_state(settings):
    """(file text or None, entries, the server's problem with the file or "")."""
    text = rules_edit.read_text(settings.rules_file)
    if text is None:
        return None, [], ""
    problem = ""
    try:
        parse_rules(text, settings.rules_file)
    except RulesError as e:
        problem = str(e)
    try:
        entries = rules_edit.read_entries(text)
    except RulesError:
        entries = []
    return text, entries, problem


def try_text(console, kind, text):
    """What the skills would answer to a follower's text (or click, or subscribe), sending nothing.

    Returns (who answered, what it would say). Skills that call out run with no API credentials and
    in a thread, so a slow answer is dropped instead of being sent to anyone later.
    """
    from admin import simulator
    from handlers.render import as_reply, render_reply
    from handlers.skills import load_skills
    from wechat.messages import parse_message

    settings = console.settings.replace(appid="", appsecret="")
    follower = "console-try-it"
    if kind == "click":
        xml = simulator.message_xml("event", {"Event": "CLICK", "EventKey": text}, source=follower)
    elif kind == "subscribe":
        xml = simulator.message_xml("event", {"Event": "subscribe", "EventKey": ""}, source=follower)
    else:
        xml = simulator.message_xml("text", {"Content": text, "MsgId": simulator.new_msg_id()}, source=follower)
    message = parse_message(xml)
    skills = load_skills(settings.skill_modules)
    ctx = skills.context(settings, console.store, "dev")
    answer = skills.dispatch(message, ctx)
    if ctx.skill_failed:
        return "the skill %s, which raised an error (the server's log has it)" % ctx.answered_by, \
               "success — nothing shown to the follower"
    body = render_reply(as_reply(answer), message).decode("utf-8")
    who = describe_skill(console.settings, ctx.answered_by, message)
    if ctx.answered_by and body == "success" and answer is not None:
        return who, "nothing in time: it would answer later through the customer-service API"
    return who, describe_reply(body)


def describe_skill(settings, name, message):
    """Which rule or skill `name` is, in the admin's words."""
    if name is None:
        return "nothing matches: the follower gets success (no reply)"
    if name == "admin_rules":
        from handlers.skills.admin_rules import current_rules

        if message.is_event:
            section = "[welcome]" if message.event == "subscribe" else "[click:%s]" % message.key
            return "the rules file, section %s" % section
        rule = current_rules(settings).find(message.content)
        return "the rules file, rule [rule:%s] (%s match)" % (rule.name, rule.match) if rule else "the rules file"
    if name == "default_reply":
        return "the rules file, section [default]"
    return "the built-in skill %s" % name


class Replies(Page):
    def show(self, console, notice="", tried=None):
        text, entries, problem = rules_state(console.settings)
        if notice == "" and web.input(_method="get", saved="").saved:
            notice = "Saved. The server uses the new rules from the next message on."
        return render.replies(console.settings.rules_file, text is not None, entries, problem, notice, tried,
                              TRY_KINDS)


class TryIt(Page):
    def act(self, console, form):
        kind = form.get("kind") if form.get("kind") in TRY_KINDS else "text"
        text = (form.get("text") or "").strip()
        who, said = try_text(console, kind, text)
        return Replies().show(console, tried=(kind, text, who, said))


class RuleForm(Page):
    def show(self, console, entry=None, original=None, error=""):
        if entry is None:
            original = web.input(_method="get", section="").section
            text = rules_edit.read_text(console.settings.rules_file) or ""
            try:
                entries = rules_edit.read_entries(text)
            except RulesError as e:
                entries, error = [], "The rules file cannot be read as a form (%s): use the text editor." % e
            entry = next((e for e in entries if e.section == original), None)
            if entry is None:
                original, entry = "", rules_edit.Entry("", enabled=True)
        return render.rule(entry, original, error, MATCH_KINDS, REPLY_KEYS, rules_edit.SECTION_KINDS,
                           rules_edit.MAX_ARTICLES)

    def act(self, console, form):
        path = console.settings.rules_file
        original = form.get("original") or ""
        text = rules_edit.read_text(path) or ""
        if form.get("delete"):
            if not original:
                raise web.seeother("/admin/replies")
            return self.save(console, rules_edit.replace_section(text, original, None), "deleted [%s]" % original,
                             lambda e: self.show(console, rules_edit.Entry(original), original, e))
        try:
            entry = entry_from_form(form)
        except FormProblem as e:
            return self.show(console, rules_edit.Entry(""), original, str(e))
        section = {"rule": "rule:%s", "click": "click:%s"}.get(entry.kind, "%s") % entry.name
        entry = entry.replace(section=section)
        existing = {e.section for e in rules_edit.read_entries(text)} if text else set()
        if section != original and section in existing:
            return self.show(console, entry, original, "There is already a section [%s]; edit that one or pick "
                                                       "another name." % section)
        new_text = rules_edit.replace_section(text, original or section, rules_edit.section_text(entry))
        problem = self.exact_problem(entry)
        if problem:
            return self.show(console, entry, original, problem)
        return self.save(console, new_text, "saved [%s] in the rules file" % section,
                         lambda e: self.show(console, entry, original, e))

    @staticmethod
    def exact_problem(entry):
        """Why the section, once written, would not say exactly what the form says; "" when it would."""
        alone = rules_edit.section_text(entry.replace(enabled=True))
        try:
            reply = reply_of(parse_rules(alone, "this rule"), entry)
        except RulesError:
            return ""  # save() reports the parser's own message
        if entry.reply_kind == "text" and reply is not None:
            typed = "\n".join(line.rstrip() for line in entry.value.replace("\r\n", "\n").strip().split("\n"))
            if reply.content != typed:
                return "This text cannot be stored exactly as typed (it contains a literal \\n); please reword it."
        return ""

    def save(self, console, new_text, what, on_error):
        try:
            parse_rules(new_text, console.settings.rules_file)
        except RulesError as e:
            return on_error("Not saved — the server would refuse these rules: %s" % e)
        try:
            rules_edit.save_atomically(console.settings.rules_file, new_text)
        except OSError as e:
            return on_error("Not saved — %s" % e)
        console.audit(what)
        raise web.seeother("/admin/replies?saved=1")


class RawRules(Page):
    def show(self, console, text=None, error=""):
        exists = True
        if text is None:
            text = rules_edit.read_text(console.settings.rules_file)
            if text is None:
                exists = False
                text = rules_edit.read_text(os.path.join(ROOT, "replies.example.ini")) or ""
        return render.raw_rules(console.settings.rules_file, text, exists, error)

    def act(self, console, form):
        text = (form.get("text") or "").replace("\r\n", "\n")
        try:
            parse_rules(text, console.settings.rules_file)
        except RulesError as e:
            return self.show(console, text, "Not saved — the server would refuse these rules: %s" % e)
        try:
            rules_edit.save_atomically(console.settings.rules_file, text)
        except OSError as e:
            return self.show(console, text, "Not saved — %s" % e)
        console.audit("saved the rules file as text (%d lines)" % len(text.splitlines()))
        raise web.seeother("/admin/replies?saved=1")
