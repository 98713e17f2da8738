"""What every message and event shares: how a field is read, the registration tables, the unknown fallbacks."""

# How a field's text is read, the way the peers (which parse with xmltodict) read it: surrounding
# whitespace is layout, not value, so structural fields (types, names, keys, ids, numbers) are
# stripped; an element holding only whitespace is absent; TEXT fields (what a person wrote) keep
# every character they were sent with. `message.raw` keeps the text as parsed either way.
TEXT = "text"


def flag(text):
    """0/1 flags (IsGiveByFriend ...) as bool."""
    try:
        return int(text) != 0
    except ValueError:
        return text.lower() == "true"


DEFAULTS = {str: "", TEXT: "", int: 0, float: 0.0, flag: False}
KIND_NAMES = {str: "str", TEXT: "text", int: "int", float: "float", flag: "bool"}


def walk(raw, path):
    """The value at path in a parsed body (dicts of dicts), or None."""
    value = raw
    for key in path:
        value = value.get(key) if type(value) is dict else None
    return value


def as_list(value):
    """A field that may hold one item or several, always as a list (empty when absent)."""
    if value is None or value == "":
        return []
    return value if type(value) is list else [value]


class Field:
    """An attribute read from the raw fields by path; tolerant: missing or unreadable gives the kind's default."""

    def __init__(self, *path, kind=str):
        self.path = path
        self.kind = kind
        self.default = DEFAULTS[kind]
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, message, owner=None):
        if message is None:
            return self
        # Read once: the value is kept in the instance, which then shadows this (non-data) descriptor;
        # dispatch asks each message's type, source and content many times.
        value = message.__dict__[self.name] = self.read(message.raw)
        return value

    def read(self, raw):
        value = raw
        for key in self.path:
            value = value.get(key) if type(value) is dict else None
        if type(value) is not str:
            return self.default
        kind = self.kind
        if kind is TEXT:
            return value if value.strip() else ""
        value = value.strip()
        if kind is str or not value:
            return value or self.default
        try:
            return kind(value)
        except (ValueError, OverflowError):
            return self.default

    def describe(self):
        return KIND_NAMES[self.kind]


class Item:
    """One entry of a nested block or list (a beacon, a picture, an article); its attributes are Fields
    read from `raw`, the entry's own dict."""

    def __init__(self, raw):
        self.raw = raw if type(raw) is dict else {}

    def values(self):
        """{attribute: value} of every field: what equality compares (not the raw text)."""
        return {name: getattr(self, name) for name, _ in attributes(type(self))}

    def __eq__(self, other):
        return type(self) is type(other) and self.values() == other.values()

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % item for item in self.values().items()))


class Nested:
    """One nested block as an Item (an empty one when absent): `chosen_beacon = Nested("ChosenBeacon", of=Beacon)`."""

    def __init__(self, *path, of):
        self.path = path
        self.of = of

    def __get__(self, message, owner=None):
        if message is None:
            return self
        return self.read(walk(message.raw, self.path))

    def read(self, value):
        return self.of(value)

    def describe(self):
        return self.of.__name__


class Items(Nested):
    """A nested list as Items, one or many entries alike (empty when absent)."""

    def read(self, value):
        return [self.of(entry) for entry in as_list(value) if type(entry) is dict]

    def describe(self):
        return "[%s]" % self.of.__name__


def attributes(cls, stop=None):
    """(name, kind) of the fields and properties a class adds over `stop` (a base class), in definition order."""
    inherited = set(dir(stop)) if stop else set()
    seen, found = set(), []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if name.startswith("_") or name in inherited or name in seen:
                continue
            if isinstance(value, (Field, Nested, Items)):
                found.append((name, value.describe()))
            elif isinstance(value, property):
                found.append((name, ""))
            else:
                continue
            seen.add(name)
    return found


MESSAGE_TYPES = {}  # MsgType, lower-cased -> class
EVENT_TYPES = {}  # Event, lower-cased (WeChat mixes "SCAN" and "subscribe") -> class


def message_type(name):
    def register(cls):
        cls.type = name
        MESSAGE_TYPES[name.lower()] = cls
        return cls

    return register


def event_type(name, also=()):
    """Register an event class under WeChat's spelling of its name; `also`: the wider names a skill can
    register for and still get it (a QR-code subscribe is also a "subscribe")."""

    def register(cls):
        cls.type = name
        cls.names = (name.lower(),) + tuple(also)
        EVENT_TYPES[name.lower()] = cls
        return cls

    return register


class Message:
    """What every message and event has; `raw` keeps every field as parsed."""

    type = "unknown"
    is_event = False
    when = ""  # for a variant: what selects it (README's table)
    source = Field("FromUserName")  # the follower's OpenID
    target = Field("ToUserName")  # our account's original ID
    create_time = Field("CreateTime", kind=int)
    msg_type = Field("MsgType")

    def __init__(self, raw):
        self.raw = raw

    @property
    def message_id(self):
        # Template and mass-send job events spell it MsgID.
        value = self.raw.get("MsgId") or self.raw.get("MsgID")
        return value.strip() if type(value) is str else ""

    @property
    def dedupe_key(self):
        """What identifies one message across WeChat's retries, always scoped to its sender: a MsgId
        names a message only together with its FromUserName, and one follower's events in one
        second differ by Event and EventKey (subscribe, then SCAN).

        The part that grows with time (MsgId, CreateTime) comes first: the message log's index on
        the key then takes new keys at its end. Sender first scattered them over the whole index,
        and with 100,000 messages logged an insert cost 12 us instead of 4.
        """
        if not self.is_event:
            message_id = self.message_id
            if message_id:
                return "msg:%s:%s" % (message_id, self.source)
        event, key = self.raw.get("Event"), self.raw.get("EventKey")
        return "evt:%s:%s:%s:%s" % (self.create_time, self.source, event.strip() if type(event) is str else "",
                                    key.strip() if type(key) is str else "")

    def summary(self):
        """Content or media id, for the message log."""
        return ""

    def __repr__(self):
        return "<%s from %s at %s>" % (type(self).__name__, self.source, self.create_time)

    @classmethod
    def refine(cls, raw):
        """The class for this body: a registered class may hand a variant on (a product-scan subscribe)."""
        return cls


class UnknownMessage(Message):
    """A MsgType we do not know yet; every field stays in `raw`."""


class Event(Message):
    is_event = True
    names = ()  # lower-cased names skills can register this class under (set by event_type)
    event = Field("Event")
    key = Field("EventKey")

    @property
    def event_names(self):
        """The names a skill's on.event() can match this event by, lower-cased."""
        return self.names or (self.event.lower(),)

    def summary(self):
        return self.key


class UnknownEvent(Event):
    """An Event we do not know yet; every field stays in `raw`."""
