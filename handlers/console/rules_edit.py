"""Edit the rules file (replies.ini) as text: read its sections, write one back, save the file atomically.

The console judges every save with the server's own parser (handlers/skills/backends/rules.py
parse_rules), so it accepts exactly what the server will use and shows the same messages. Only the edited
section's lines change: comments and the order of everything else stay as the admin wrote them.
"""

import configparser
import os
import re

from handlers.skills.backends.rules import REPLY_KEYS, RulesError
from wechat.record import Record

SECTION_KINDS = ("rule", "click", "welcome", "default")
HEADER = re.compile(r"\[(?P<name>.+)\]")
MAX_ARTICLES = 8


class Entry(Record):
    """One section of the rules file, as the form shows it (values as written, not yet parsed)."""

    fields = ("section", "kind", "name", "match", "keywords", "pattern", "help", "enabled", "reply_kind", "value")
    defaults = {"kind": "rule", "name": "", "match": "exact", "keywords": "", "pattern": "", "help": "",
                "enabled": True, "reply_kind": "text", "value": ""}

    def parts(self, count):
        """The reply's '|'-separated fields (video, music, one news line), padded to count."""
        parts = [p.strip() for p in self.value.split("|")]
        return parts + [""] * (count - len(parts))

    def articles(self):
        """News lines as [title, description, picture, url] lists."""
        lines = [l for l in self.value.splitlines() if l.strip()] if self.reply_kind == "news" else []
        return [Entry(value=line).parts(4) for line in lines]

    @property
    def text(self):
        return self.value.replace("\\n", "\n") if self.reply_kind == "text" else ""


def _parser():
    # The same options as parse_rules: case kept, no interpolation, no DEFAULT section.
    parser = configparser.ConfigParser(interpolation=None, default_section="__defaults__")
    parser.optionxform = str
    return parser


def section_kind(section):
    if section in ("welcome", "default"):
        return section, section
    kind, _, name = section.partition(":")
    return (kind, name.strip()) if kind in ("rule", "click") and name.strip() else ("other", section)


def read_entries(text):
    """Every section as an Entry; RulesError when the file is not even an ini file."""
    parser = _parser()
    try:
        parser.read_string(text, "replies.ini")
    except configparser.Error as e:
        raise RulesError(str(e).splitlines()[0])
    entries = []
    for section in parser.sections():
        values = parser[section]
        kind, name = section_kind(section)
        present = [k for k in REPLY_KEYS if values.get(k, "").strip()]
        reply_kind = present[0] if present else "text"
        try:
            enabled = values.getboolean("enabled", True)
        except ValueError:
            enabled = True
        entries.append(Entry(section, kind, name, values.get("match", "exact").strip().lower() or "exact",
                             values.get("keywords", "").strip(), values.get("pattern", "").strip(),
                             values.get("help", "").strip(), enabled, reply_kind,
                             values.get(reply_kind, "").strip()))
    return entries


def _single_line(value):
    return " ".join(str(value).split("\n")).strip()


def _text_value(text):
    """A text reply as ini lines: indented continuation lines, or one line with \\n where a line would be lost."""
    lines = text.replace("\r\n", "\n").strip().split("\n")
    # A blank line or one starting with # or ; would end the value or be read as a comment.
    if all(line.strip() and not line.lstrip().startswith(("#", ";")) for line in lines[1:]):
        return "\n    ".join(line.rstrip() for line in lines)
    return "\\n".join(line.rstrip() for line in lines)


def section_text(entry):
    """The ini text of one section, ending in a blank line."""
    name = {"rule": "rule:%s", "click": "click:%s"}.get(entry.kind, "%s") % entry.name
    lines = ["[%s]" % name]
    if entry.kind == "rule":
        if entry.match != "exact":
            lines.append("match = %s" % entry.match)
        if entry.match == "regex":
            lines.append("pattern = %s" % _single_line(entry.pattern))
        elif entry.keywords:
            lines.append("keywords = %s" % _single_line(entry.keywords))
    value = _text_value(entry.value) if entry.reply_kind == "text" else entry.value
    if entry.reply_kind == "news":
        value = "\n    ".join(_single_line(line) for line in entry.value.splitlines() if line.strip())
    lines.append("%s = %s" % (entry.reply_kind, value if entry.reply_kind in ("text", "news") else _single_line(value)))
    if entry.kind == "rule" and entry.help:
        lines.append("help = %s" % _single_line(entry.help))
    if not entry.enabled:
        lines.append("enabled = no")
    return "\n".join(lines) + "\n\n"


def _section_spans(text):
    """{section name: (first line, end line)} with trailing blank and comment lines left to what follows."""
    lines = text.splitlines(keepends=True)
    starts = []
    for number, line in enumerate(lines):
        match = HEADER.match(line) if line[:1] == "[" else None
        if match:
            starts.append((match.group("name"), number))
    spans = {}
    for index, (name, start) in enumerate(starts):
        end = starts[index + 1][1] if index + 1 < len(starts) else len(lines)
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(("#", ";"))):
            end -= 1
        spans[name] = (start, end)
    return lines, spans


def replace_section(text, old_name, new_text):
    """text with section old_name replaced by new_text (appended when absent; removed when new_text is None)."""
    lines, spans = _section_spans(text)
    if old_name in spans:
        start, end = spans[old_name]
        replacement = [] if new_text is None else [new_text.rstrip("\n") + "\n"]
        # Keep one blank line between sections.
        while new_text is None and end < len(lines) and not lines[end].strip():
            end += 1
        result = "".join(lines[:start] + replacement + lines[end:])
        return result.rstrip("\n") + "\n" if new_text is None and end == len(lines) and result.strip() else result
    if new_text is None:
        return text
    prefix = text if not text or text.endswith("\n\n") else text.rstrip("\n") + "\n\n"
    return prefix + new_text


def read_text(path):
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except FileNotFoundError:
        return None


def save_atomically(path, text):
    """Write text to path so that a reader sees the old file or the new one, never half of one.

    The server re-reads the file when its modification time changes: the next message uses it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    partial = os.path.join(folder, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except OSError as e:
        try:
            os.remove(partial)
        except OSError:
            pass
        raise OSError("cannot save %s: %s. The server's user must be able to write its folder %s (or set rules_file "
                      "to a file in the data dir)." % (path, e.strerror or e, folder))
