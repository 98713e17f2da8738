"""The SQLite store: one file in the data dir, WAL mode, safe with many processes (CGI, fcgid) at once."""

import os
import random
import sqlite3
import threading
import time

from wechat.store import LOG_FIELDS, PRUNE_CHANCE, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    key TEXT NOT NULL UNIQUE,
    msg_type TEXT, source TEXT, target TEXT, summary TEXT, raw TEXT, reply TEXT, outcome TEXT, latency_ms REAL
);
CREATE INDEX IF NOT EXISTS messages_received_at ON messages (received_at);
"""

# Conversation state (sessions); created on first use, so processes that never touch a session skip it.
SESSIONS_SCHEMA = ("CREATE TABLE IF NOT EXISTS sessions "
                   "(follower TEXT PRIMARY KEY, data TEXT NOT NULL, version TEXT NOT NULL, expires REAL NOT NULL)")

BUSY_SECONDS = 10  # how long a statement waits for another process's write before giving up

_local = threading.local()  # one connection per thread and file: flup serves on threads
if hasattr(os, "register_at_fork"):
    # A SQLite connection must not cross a fork (the CGI late-answer worker): the child opens its own.
    os.register_at_fork(after_in_child=lambda: _local.__dict__.clear())


class SQLiteStore:
    def __init__(self, path, retention_days=90):
        self.path = path
        self.retention_days = retention_days
        self._sessions_ready = False

    @property
    def db(self):
        connections = getattr(_local, "connections", None)
        if connections is None:
            connections = _local.connections = {}
        db = connections.get(self.path)
        if db is None:
            db = connections[self.path] = self._connect()
        return db

    def _connect(self):
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            # isolation_level=None: autocommit, one short transaction per statement.
            # timeout=0: SQLite's own busy handler sleeps 1, 2, 5 ... 100 ms while another process
            # writes; with several FastCGI processes that made p99 latency ~850 ms. _retrying retries
            # in steps of a fraction of a millisecond instead.
            db = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        except (sqlite3.Error, OSError) as e:
            raise StoreError("SQLite store %s unusable: %s" % (self.path, e))
        if self._retrying(lambda: db.execute("PRAGMA journal_mode").fetchone()[0].lower()) != "wal":
            self._retrying(lambda: db.execute("PRAGMA journal_mode = WAL"))  # readers never block the writer
        db.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
        self._retrying(lambda: db.executescript(SCHEMA))
        columns = {row[1] for row in self._retrying(lambda: db.execute("PRAGMA table_info(messages)").fetchall())}
        if "latency_ms" not in columns:  # a log written before latency was recorded
            try:
                self._retrying(lambda: db.execute("ALTER TABLE messages ADD COLUMN latency_ms REAL"))
            except StoreError as e:
                if "duplicate column" not in str(e):  # another process added it first
                    raise
        return db

    def _run(self, sql, args=()):
        return self._retrying(lambda: self.db.execute(sql, args))

    def _retrying(self, step):
        """step(), retried while another process holds the write lock; StoreError for anything else."""
        deadline = None
        pause = 0.0002
        while True:
            try:
                return step()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise StoreError("SQLite store %s: %s" % (self.path, e))
                now = time.monotonic()
                deadline = deadline or now + BUSY_SECONDS
                if now > deadline:
                    raise StoreError("SQLite store %s: still locked after %ds" % (self.path, BUSY_SECONDS))
                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, 0.005)
            except (sqlite3.Error, OSError) as e:
                raise StoreError("SQLite store %s unusable: %s" % (self.path, e))

    # --- key/value ---------------------------------------------------------------------------

    def get(self, key):
        row = self._run("SELECT value FROM kv WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return row[0] if row else None

    def set(self, key, value, ttl):
        self._run("INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)", (key, value, time.time() + ttl))
        if random.random() < PRUNE_CHANCE:
            self._run("DELETE FROM kv WHERE expires <= ?", (time.time(),))

    def add(self, key, value, ttl):
        """Set only if absent (or expired); True when this call set it. Atomic across processes."""
        now = time.time()
        cursor = self._run(
            "INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires "
            "WHERE kv.expires <= ?",
            (key, value, now + ttl, now),
        )
        return cursor.rowcount == 1

    def delete(self, key, expected=None):
        if expected is None:
            self._run("DELETE FROM kv WHERE key = ?", (key,))
        else:
            self._run("DELETE FROM kv WHERE key = ? AND value = ?", (key, expected))

    # --- message log -------------------------------------------------------------------------

    def log_append(self, key, record):
        record = dict(record, key=key)
        columns = [f for f in LOG_FIELDS if f in record]
        cursor = self._run(
            "INSERT OR IGNORE INTO messages (%s) VALUES (%s)" % (", ".join(columns), ", ".join("?" * len(columns))),
            [record[c] for c in columns],
        )
        if random.random() < PRUNE_CHANCE:
            self.log_prune(time.time() - self.retention_days * 86400)
        return cursor.rowcount == 1

    def log_reply(self, key):
        row = self._run("SELECT reply FROM messages WHERE key = ?", (key,)).fetchone()
        return (True, row[0]) if row else (False, None)

    def log_update(self, key, **fields):
        columns = [f for f in fields if f in LOG_FIELDS]
        self._run("UPDATE messages SET %s WHERE key = ?" % ", ".join("%s = ?" % c for c in columns),
                  [fields[c] for c in columns] + [key])

    def log_iter(self, since=None, until=None):
        cursor = self._run(
            "SELECT %s FROM messages WHERE received_at >= ? AND received_at < ? ORDER BY received_at, id"
            % ", ".join(LOG_FIELDS),
            (since or 0, until or float("inf")),
        )
        for row in cursor:
            yield dict(zip(LOG_FIELDS, row))

    def log_prune(self, before):
        return self._run("DELETE FROM messages WHERE received_at < ?", (before,)).rowcount

    # --- sessions: one JSON document per follower, replaced only by whoever read its current version ---

    def _sessions(self):
        if not self._sessions_ready:
            self._run(SESSIONS_SCHEMA)
            self._sessions_ready = True

    def session_get(self, follower):
        self._sessions()
        row = self._run("SELECT data, version FROM sessions WHERE follower = ? AND expires > ?",
                        (follower, time.time())).fetchone()
        return (row[0], row[1]) if row else (None, "")

    def session_put(self, follower, data, expected, version, ttl):
        self._sessions()
        now = time.time()
        if expected:
            cursor = self._run("UPDATE sessions SET data = ?, version = ?, expires = ? WHERE follower = ? AND version = ?",
                               (data, version, now + ttl, follower, expected))
        else:  # none was found: succeed only if there still is none (or only an expired one)
            cursor = self._run(
                "INSERT INTO sessions (follower, data, version, expires) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (follower) DO UPDATE SET data = excluded.data, version = excluded.version, "
                "expires = excluded.expires WHERE sessions.expires <= ?",
                (follower, data, version, now + ttl, now))
        if random.random() < PRUNE_CHANCE:
            self._run("DELETE FROM sessions WHERE expires <= ?", (now,))
        return cursor.rowcount == 1

    def session_iter(self):
        self._sessions()
        cursor = self._run("SELECT follower, data, expires FROM sessions WHERE expires > ? ORDER BY follower",
                           (time.time(),))
        yield from cursor.fetchall()
