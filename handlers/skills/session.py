"""A follower's conversation state (ctx.session): a dict a skill reads and writes, kept in the store.

    ctx.session["city"] = "广州"             # any JSON value; gone after session_ttl_seconds without a write
    ctx.session.increment("asked")           # counters and lists that add up across racing messages
    ctx.session.expect("book_title")         # the follower's next text goes to @on.reply_to("book_title")

Nothing is read from the store until a skill touches the session, and nothing is written unless it
changed. Two messages from one follower handled at once (two CGI processes, two hosts) both keep what
they wrote: a save is a compare-and-set on the session's version, and when another writer got in
first, this skill's changes are replayed onto what that writer saved (a key set here wins over the
same key set there; increment() and append() add up; other keys are left as the other writer left them).
"""

import random
import secrets
import time

from wechat.log import log
from wechat.store import StoreError



def _json():
    # Most messages touch no session, or an empty one: a CGI process answering them never imports json.
    import json

    return json
SAVE_ATTEMPTS = 8  # writers that keep getting in first; each retry re-reads and replays


def _dump(value):
    return _json().dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _unchanged(values, baseline):
    return baseline == "{}" if not values else _dump(values) == baseline


def _decode(document):
    """(values, waiting_for) from a stored document; a missing or unreadable one is an empty session."""
    try:
        parsed = _json().loads(document) if document else {}
    except ValueError:
        parsed = {}
    values = parsed.get("values") if isinstance(parsed, dict) else None
    waiting = parsed.get("waiting_for") if isinstance(parsed, dict) else None
    return (values if isinstance(values, dict) else {}), (waiting if isinstance(waiting, str) else None)


def _replay(operations, values, waiting):
    """Apply recorded operations to a session's (values, waiting_for); returns the new pair."""
    for operation in operations:
        kind = operation[0]
        if kind == "set":
            values[operation[1]] = _json().loads(operation[2])
        elif kind == "delete":
            values.pop(operation[1], None)
        elif kind == "increment":
            current = values.get(operation[1])
            numeric = isinstance(current, (int, float)) and not isinstance(current, bool)
            values[operation[1]] = (current if numeric else 0) + operation[2]
        elif kind == "append":
            current = values.get(operation[1])
            values[operation[1]] = (current if isinstance(current, list) else []) + [_json().loads(operation[2])]
        elif kind == "clear":
            values.clear()
        elif kind == "wait":
            waiting = operation[1]
    return values, waiting


class Session:
    """One follower's session; a mapping of str keys to JSON values, plus what the account waits for."""

    def __init__(self, store, follower, ttl):
        self._store = store
        self._follower = follower
        self._ttl = ttl
        self._loaded = False
        self._document = None  # as read (or last saved): what the operations apply to
        self._version = ""
        self._values, self._waiting = {}, None
        self._baseline = "{}"  # the values as read or last saved, to see changes made in place
        self._operations = []

    # --- loading and saving ----------------------------------------------------------------------

    def _state(self):
        if not self._loaded:
            self._loaded = True
            self._read()
        return self._values

    def _read(self):
        document, version = None, ""
        if self._store is not None and self._follower:
            try:
                document, version = self._store.session_get(self._follower)
            except StoreError as e:
                log.error("session of %s not read, starting empty: %s", self._follower, e)
        self._document, self._version = document, version
        self._values, self._waiting = _decode(document)
        self._baseline = _dump(self._values) if self._values else "{}"

    def pending(self):
        """The operations a save would write: those recorded, and any value changed in place."""
        if not self._loaded or not self._operations and _unchanged(self._values, self._baseline):
            return []  # the common case, checked cheaply: untouched, or only read
        operations = list(self._operations)
        expected, _ = _replay(operations, *_decode(self._document))
        for key in sorted(set(expected) | set(self._values)):
            if key not in self._values:
                operations.append(("delete", key))
            elif key not in expected or _dump(expected[key]) != _dump(self._values[key]):
                operations.append(("set", key, _dump(self._values[key])))
        return operations

    def save(self):
        """Write the changes, if any; True when written. Never raises: a store failure is logged."""
        operations = self.pending()
        if not operations:
            return False
        if self._store is None or not self._follower:
            log.warning("session of %r not kept: %s", self._follower,
                        "the store is unavailable" if self._follower else "the message names no follower")
            return False
        try:
            for attempt in range(SAVE_ATTEMPTS):
                document = _dump({"values": self._values, "waiting_for": self._waiting})
                version = secrets.token_hex(8)
                if self._store.session_put(self._follower, document, self._version, version, self._ttl):
                    self._document, self._version, self._operations = document, version, []
                    self._baseline = _dump(self._values)
                    return True
                # Another message of this follower saved first: start from what it wrote, redo ours.
                time.sleep(random.random() * 0.002 * attempt)
                self._read()
                self._values, self._waiting = _replay(operations, self._values, self._waiting)
            log.error("session of %s not saved: other writers got in first %d times", self._follower, SAVE_ATTEMPTS)
        except StoreError as e:
            log.error("session of %s not saved: %s", self._follower, e)
        return False

    def mark(self):
        """A point to roll back to (before a skill runs; the skill before it has been saved)."""
        return self._loaded, len(self._operations)

    def rollback(self, mark):
        """Forget the changes made since mark (a skill that raised): the session is as it was before it ran."""
        loaded, count = mark
        if not loaded:
            self._loaded, self._operations = False, []
            self._values, self._waiting, self._baseline = {}, None, "{}"
            return
        del self._operations[count:]
        self._values, self._waiting = _replay(self._operations, *_decode(self._document))

    # --- the mapping -----------------------------------------------------------------------------

    def __getitem__(self, key):
        return self._state()[key]

    def get(self, key, default=None):
        return self._state().get(key, default)

    def __contains__(self, key):
        return key in self._state()

    def __iter__(self):
        return iter(list(self._state()))

    def __len__(self):
        return len(self._state())

    def keys(self):
        return list(self._state())

    def items(self):
        return list(self._state().items())

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError("session keys are strings, not %s" % type(key).__name__)
        text = _dump(value)  # raises TypeError now, in the skill, for what cannot be stored
        self._state()[key] = _json().loads(text)
        self._operations.append(("set", key, text))

    def __delitem__(self, key):
        del self._state()[key]
        self._operations.append(("delete", key))

    def pop(self, key, default=None):
        if key not in self._state():
            return default
        value = self._values[key]
        del self[key]
        return value

    def setdefault(self, key, default=None):
        if key not in self._state():
            self[key] = default
        return self._values[key]

    def increment(self, key, by=1):
        """Add to a number (0 when absent); racing messages' increments add up. Returns the new value."""
        if not isinstance(by, (int, float)) or isinstance(by, bool):
            raise TypeError("increment by a number, not %r" % (by,))
        self._values, self._waiting = _replay([("increment", key, by)], self._state(), self._waiting)
        self._operations.append(("increment", key, by))
        return self._values[key]

    def append(self, key, item):
        """Add an item to a list (a new list when absent); racing messages' items are all kept."""
        text = _dump(item)
        self._values, self._waiting = _replay([("append", key, text)], self._state(), self._waiting)
        self._operations.append(("append", key, text))
        return self._values[key]

    def clear(self):
        """Forget every value (and any wait)."""
        self._state().clear()
        self._waiting = None
        self._operations += [("clear",), ("wait", None)]

    # --- waiting for the follower's answer -------------------------------------------------------

    @property
    def waiting_for(self):
        """The topic the follower's next text answers (set by expect()), or None."""
        self._state()
        return self._waiting

    def expect(self, topic):
        """Send the follower's next text to the skill registered with @on.reply_to(topic)."""
        if not isinstance(topic, str) or not topic:
            raise TypeError("expect() needs a topic name")
        self._state()
        self._waiting = topic
        self._operations.append(("wait", topic))

    def stop_waiting(self):
        """End any wait (取消 / cancel does this; so does answering it)."""
        if self.waiting_for is not None:
            self._waiting = None
            self._operations.append(("wait", None))

    def __repr__(self):
        if not self._loaded:
            return "<Session of %s (not loaded)>" % self._follower
        return "<Session of %s %r waiting_for=%r>" % (self._follower, self._values, self._waiting)
