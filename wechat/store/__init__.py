"""State that survives processes: one small interface, SQLite by default, Redis for several hosts.

A key/value store with expiry (plus an atomic add and a compare-and-delete, which make locks), the
retry claims of the message journal (wechat/journal.py) and the message log:

    get(key) -> str | None            set(key, value, ttl, follower=None)          add(key, value, ttl) -> bool
    delete(key, expected=None)
        set(..., follower=openid): the key is that follower's state (`<prefix>:<openid>`), one snapshot() reads

    claim(key, digest, nonce, lease_until, keep_seconds, deadline=None) -> Claim
        one atomic write: claims `key` for the body `digest` until `lease_until` (Unix time) and
        remembers `nonce` ("timestamp:nonce", or None) with that digest, unless either is known
    claim_takeover(key, old_lease_until, new_lease_until, deadline=None) -> bool
        takes over an expired claim, if no one else did first

    local_journal: True when every process using the store shares this host's data dir (SQLite): the
        journal batches records into the log; False (Redis): records go to the store at once

    log_merge(records, deadline=None) -> how many were new (idempotent per record key: first one wins);
        a record is a dict of LOG_FIELDS, or a tuple of their values in that order (the journal's rows)
    log_find(key, deadline=None) -> record | None
    log_iter(since=None, until=None, fields=LOG_FIELDS) -> records (dicts of those fields), oldest first
    log_prune(before) -> count

`deadline` is a time.monotonic() value: a call that cannot finish by then raises StoreError rather
than keep a follower waiting. A log record is a dict of LOG_FIELDS; `raw` is the message's XML as
received, `digest` a digest of it. `latency_ms` (optional, None when
unknown) is how long the reply took from the message's arrival until it was ready; `prompt_tokens` and
`completion_tokens` (optional) what a language model used for the answer.

Sessions (a follower's conversation state, handlers/skills/session.py) are one JSON document per
follower with a version; a write succeeds only against the version it read (compare-and-set), so two
processes racing on one follower cannot overwrite each other unseen:

    session_get(follower) -> (data or None, version or "")
    session_put(follower, data, expected_version, new_version, ttl) -> bool (False: someone wrote first)
    session_iter() -> (follower, data, expires_at) of every live session

    snapshot(keys, follower) -> ({key: value} of the keys found, session_get(follower)), in one call:
        what dispatch may read for every message of a follower (prefetch.py)
"""

import os

from wechat.record import Record

PRUNE_CHANCE = 0.01  # expired entries are swept on about one write in a hundred
LOG_FIELDS = ("received_at", "key", "digest", "msg_type", "source", "target", "summary", "raw", "reply", "outcome",
              "latency_ms", "prompt_tokens", "completion_tokens")
NEW, HELD, REPLAYED = "new", "held", "replayed"


class StoreError(Exception):
    """The store cannot be used (read-only or full disk, Redis down); requests must still be answered."""


class Claim(Record):
    """What claim() found. state: NEW (ours now), HELD (the key was claimed before, for `digest`, until
    `lease_until`), REPLAYED (the nonce was used before with another body)."""

    fields = ("state", "digest", "lease_until")
    defaults = {"digest": None, "lease_until": 0.0}


CLAIMED = Claim(NEW)  # what nearly every claim returns: shared, never changed


def open_store(settings):
    """The configured store: Redis when redis_url is set, else SQLite in data_dir. Imports lazily."""
    if settings.redis_url:
        from wechat.store.redis_store import RedisStore

        return RedisStore(settings.redis_url, settings.log_retention_days)
    from wechat.store.sqlite_store import SQLiteStore

    return SQLiteStore(os.path.join(settings.data_dir, "wechat.sqlite3"), settings.log_retention_days)
