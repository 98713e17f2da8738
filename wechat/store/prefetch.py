"""One store call instead of several: what a message's skills read about its follower, fetched together.

Every text message asks the store whether the follower is owed the rest of an answer, a late answer,
or an answer to a question (the session). Read one by one that is three store calls (three SQLite
statements, or three Redis round trips) per message, almost always finding nothing; this view makes
them one, on the first of those reads, and hands each value out once. Everything else, writes
included, goes straight to the store.
"""


class PrefetchingStore:
    def __init__(self, store, keys, follower):
        self._store = store
        self._keys = keys
        self._follower = follower
        self._values = None  # {key: value} once fetched
        self._pending = ()  # the keys not handed out yet
        self._session = None  # session_get()'s answer once fetched; False once handed out

    def _fetch(self):
        if self._values is None:
            self._values, self._session = self._store.snapshot(self._keys, self._follower)
            self._pending = set(self._keys)
        return self._values

    def may_have_state(self):
        """Whether the follower has anything stored that this view covers (one store call, shared with the reads)."""
        try:
            values = self._fetch()
        except Exception:  # a store that fails (StoreError, a data dir gone): the skills meet it, as before
            return True
        # A session already handed out may have been anything: then say yes, and the skill reads it
        return bool(values) or self._session is False or self._session[0] is not None

    def get(self, key):
        if key in self._keys and (self._values is None or key in self._pending):
            values = self._fetch()
            self._pending.discard(key)  # read once from the snapshot: a later read sees later writes
            return values.get(key)
        return self._store.get(key)

    def session_get(self, follower):
        if follower == self._follower and self._session is not False:
            self._fetch()
            session, self._session = self._session, False
            return session
        return self._store.session_get(follower)

    def __getattr__(self, name):
        return getattr(self._store, name)
