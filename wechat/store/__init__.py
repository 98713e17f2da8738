"""State that survives processes: one small interface, SQLite by default, Redis for several hosts.

The interface is a key/value store with expiry (plus an atomic add and a compare-and-delete, which
make locks) and a message log whose append is atomic per key, so it doubles as the claim that
de-duplicates WeChat's retries:

    get(key) -> str | None            set(key, value, ttl)          add(key, value, ttl) -> bool
    delete(key, expected=None)
    log_append(key, record) -> bool (True: first record of this key)
    log_update(key, **fields)         log_reply(key) -> (logged, reply or None)
    log_iter(since=None, until=None) -> records, oldest first       log_prune(before) -> count

A log record is a dict of LOG_FIELDS; `raw` is the message's XML as received; `latency_ms` (optional,
None when unknown) is how long the reply took from the message's arrival until it was ready.

Sessions (a follower's conversation state, handlers/skills/session.py) are one JSON document per
follower with a version; a write succeeds only against the version it read (compare-and-set), so two
processes racing on one follower cannot overwrite each other unseen:

    session_get(follower) -> (data or None, version or "")
    session_put(follower, data, expected_version, new_version, ttl) -> bool (False: someone wrote first)
    session_iter() -> (follower, data, expires_at) of every live session
"""

import os

PRUNE_CHANCE = 0.01  # expired entries are swept on about one write in a hundred
LOG_FIELDS = ("received_at", "key", "msg_type", "source", "target", "summary", "raw", "reply", "outcome",
              "latency_ms")


class StoreError(Exception):
    """The store cannot be used (read-only or full disk, Redis down); requests must still be answered."""


def open_store(settings):
    """The configured store: Redis when redis_url is set, else SQLite in data_dir. Imports lazily."""
    if settings.redis_url:
        from wechat.store.redis_store import RedisStore

        return RedisStore(settings.redis_url, settings.log_retention_days)
    from wechat.store.sqlite_store import SQLiteStore

    return SQLiteStore(os.path.join(settings.data_dir, "wechat.sqlite3"), settings.log_retention_days)
