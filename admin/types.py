"""`manage.py types`: every message and event type the server parses to its own class, from the registry."""

from wechat.messages import all_types
from wechat.messages.base import Event, Item, Items, Message, Nested, attributes

BEGIN, END = "<!-- types:begin (python3 manage.py types --markdown) -->", "<!-- types:end -->"


def rows():
    """(MsgType, Event, what, class name, attributes) for every registered class, messages first."""
    message_types, event_types = all_types()
    found = []
    for cls in message_types.values():
        found.append((cls.type, "", cls, attributes(cls, stop=Message)))
    for cls in event_types.values():
        msg_type = "event"
        if cls.type.startswith("device_"):  # hardware: its own MsgTypes
            msg_type = "device_text" if cls.type == "device_text" else "device_event"
        found.append((msg_type, cls.type, cls, attributes(cls, stop=Event)))
    return found


def describe_attribute(owner, name, kind):
    descriptor = getattr(owner, name, None)
    if isinstance(descriptor, (Items, Nested)):
        inner = ", ".join(n for n, _ in attributes(descriptor.of, stop=Item))
        return "%s%s" % (name, "[%s]" % inner if isinstance(descriptor, Items) else "{%s}" % inner)
    return "%s: %s" % (name, kind) if kind and kind not in ("str", "text") else name


def markdown():
    lines = [BEGIN, "", "| MsgType | event (`on.event` name) | what | class | attributes |", "|---|---|---|---|---|"]
    for msg_type, event, cls, fields in rows():
        what = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        names = ", ".join(describe_attribute(cls, n, k) for n, k in fields) or "—"
        event = "`%s`%s" % (event, " (%s)" % cls.when if cls.when else "") if event else ""
        lines.append("| `%s` | %s | %s | `%s` | %s |" % (
            msg_type, event.replace("|", "\\|"), what.replace("|", "\\|"), cls.__name__, names.replace("|", "\\|")))
    lines += ["", END]
    return "\n".join(lines) + "\n"


def plain():
    return "".join("%-16s %-34s %s\n" % (msg_type, event or "-", cls.__name__) for msg_type, event, cls, _ in rows())
