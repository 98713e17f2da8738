"""The SQLite store: one file in the data dir, WAL mode, safe with many processes (CGI, fcgid) at once.

Retry claims live beside it in a memory-mapped table (claim_table.py), so a message's path commits
nothing to SQLite: the journal merges its records in batches. sqlite3 itself is imported only when
the database is used (a CGI request that neither merges nor reads the log never loads it).
"""

import os
import random
import threading
import time

from wechat.store import CLAIMED, HELD, LOG_FIELDS, PRUNE_CHANCE, REPLAYED, Claim, StoreError

SCHEMA_VERSION = 3  # 1: kv + messages keyed by MsgId; 2: + messages.digest; 3: + latency_ms and tokens
# Columns added since version 1 (SCHEMA below), with their types: _migrate adds them to a new log and to one
# written by an older version alike.
ADDED_COLUMNS = (("digest", "TEXT"), ("latency_ms", "REAL"), ("prompt_tokens", "INTEGER"),
                 ("completion_tokens", "INTEGER"))
SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    key TEXT NOT NULL UNIQUE,
    msg_type TEXT, source TEXT, target TEXT, summary TEXT, raw TEXT, reply TEXT, outcome TEXT
);
CREATE INDEX IF NOT EXISTS messages_received_at ON messages (received_at);
"""
MERGE = "INSERT OR IGNORE INTO messages (%s) VALUES (%s)" % (", ".join(LOG_FIELDS), ", ".join("?" * len(LOG_FIELDS)))

# Conversation state (sessions); created on first use, so processes that never touch a session skip it.
SESSIONS_SCHEMA = ("CREATE TABLE IF NOT EXISTS sessions "
                   "(follower TEXT PRIMARY KEY, data TEXT NOT NULL, version TEXT NOT NULL, expires REAL NOT NULL)")

BUSY_SECONDS = 10  # how long a statement waits for another process's write, unless a deadline says less

_local = threading.local()  # one connection per thread and file: a FastCGI backend on TCP serves on threads
if hasattr(os, "register_at_fork"):
    # A SQLite connection must not cross a fork (the CGI late-answer worker): the child opens its own.
    os.register_at_fork(after_in_child=lambda: _local.__dict__.clear())


class SQLiteStore:
    local_journal = True  # every process using this file shares the data dir, so the journal file too

    def __init__(self, path, retention_days=90):
        from wechat.store.claim_table import ClaimTable
        from wechat.store.follower_marks import FollowerMarks

        self.path = path
        self.retention_days = retention_days
        self._sessions_ready = False
        self.claims = ClaimTable(os.path.join(os.path.dirname(path), "claims.map"))
        self.marks = FollowerMarks(os.path.join(os.path.dirname(path), "followers.map"), self._follower_rows)

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
        import sqlite3

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
        if self._retrying(lambda: db.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
            self._retrying(lambda: self._migrate(db))
        return db

    def _migrate(self, db):
        """Create the schema, or bring a log written by an older version up to date, in place."""
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            columns = [row[1] for row in db.execute("PRAGMA table_info(messages)")]
            for name, kind in ADDED_COLUMNS:
                if name not in columns:
                    db.execute("ALTER TABLE messages ADD COLUMN %s %s" % (name, kind))
            db.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _run(self, sql, args=(), deadline=None):
        return self._retrying(lambda: self.db.execute(sql, args), deadline)

    def _retrying(self, step, deadline=None):
        """step(), retried while another process holds the write lock (until BUSY_SECONDS or the
        deadline, a time.monotonic() value); StoreError for anything else."""
        import sqlite3

        limit = None
        pause = 0.0002
        while True:
            try:
                return step()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise StoreError("SQLite store %s: %s" % (self.path, e))
                now = time.monotonic()
                if limit is None:
                    limit = now + BUSY_SECONDS if deadline is None else min(now + BUSY_SECONDS, deadline)
                if now >= limit:
                    raise StoreError("SQLite store %s: still locked by another process after %.1fs"
                                     % (self.path, now - limit + (BUSY_SECONDS if deadline is None else 0)))
                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, 0.005)
            except (sqlite3.Error, OSError) as e:
                raise StoreError("SQLite store %s unusable: %s" % (self.path, e))

    # --- key/value ---------------------------------------------------------------------------

    def get(self, key):
        row = self._run("SELECT value FROM kv WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return row[0] if row else None

    def snapshot(self, keys, follower):
        now = time.time()
        try:
            if self.marks.until(follower) <= now:
                return {}, (None, "")  # nothing was written for this follower that could still be live
        except OSError as e:
            from wechat.log import log

            log.warning("follower marks unusable (%s): the store is read for every message", e)
        self._sessions()
        # One statement for what every message of a follower may read: the kv keys, then the session.
        rows = self._run("SELECT key, value, NULL FROM kv WHERE key IN (%s) AND expires > ? UNION ALL "
                         "SELECT NULL, data, version FROM sessions WHERE follower = ? AND expires > ?"
                         % ",".join("?" * len(keys)), (*keys, now, follower, now)).fetchall()
        values = {key: value for key, value, _ in rows if key is not None}
        session = next(((data, version) for key, data, version in rows if key is None), (None, ""))
        return values, session

    def _mark(self, follower, until):
        """Raise the follower's mark before writing their state, or refuse the write (StoreError)."""
        try:
            self.marks.raise_to(follower, until)
        except OSError as e:
            raise StoreError("follower marks %s unusable: %s" % (self.marks.path, e))

    def _follower_rows(self):
        """(follower, expires) of the live state a new marks file must start from: every session, and
        every key under the text after its first colon (`owed:<openid>`; other keys mark harmlessly)."""
        now = time.time()
        self._sessions()
        rows = self._run("SELECT follower, expires FROM sessions WHERE expires > ?", (now,)).fetchall()
        keys = self._run("SELECT key, expires FROM kv WHERE expires > ? AND key LIKE '%:%'", (now,)).fetchall()
        return rows + [(key.split(":", 1)[1], expires) for key, expires in keys]

    def set(self, key, value, ttl, follower=None):
        if follower is not None:
            self._mark(follower, time.time() + ttl)
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

    # --- retry claims --------------------------------------------------------------------------

    def claim(self, key, digest, nonce, lease_until, keep_seconds, deadline=None):
        try:
            state, same, held_lease = self.claims.claim(key, digest, nonce, lease_until, keep_seconds)
        except (OSError, ValueError) as e:  # ValueError: mmap of a file that is not what it should be
            raise StoreError("claim table in %s unusable: %s" % (os.path.dirname(self.path), e))
        if state == HELD:
            # The table keeps a hash of the digest: equal, or "another" (never equal to a real digest).
            return Claim(HELD, digest if same else "another body", held_lease)
        return Claim(REPLAYED) if state == REPLAYED else CLAIMED

    def claim_takeover(self, key, old_lease_until, new_lease_until, deadline=None, keep_seconds=3600.0):
        try:
            return self.claims.takeover(key, old_lease_until, new_lease_until, keep_seconds)
        except (OSError, ValueError) as e:  # ValueError: mmap of a file that is not what it should be
            raise StoreError("claim table in %s unusable: %s" % (os.path.dirname(self.path), e))

    # --- message log -------------------------------------------------------------------------

    def log_merge(self, records, deadline=None):
        rows = [r if type(r) is tuple else tuple(r.get(f) for f in LOG_FIELDS) for r in records]
        db = self.db

        def merge():
            db.execute("BEGIN IMMEDIATE")
            try:
                before = db.total_changes
                db.executemany(MERGE, rows)
                added = db.total_changes - before
                now = time.time()
                if random.random() < PRUNE_CHANCE * 10:
                    db.execute("DELETE FROM messages WHERE received_at < ?", (now - self.retention_days * 86400,))
                db.execute("COMMIT")
                return added
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

        return self._retrying(merge, deadline) if rows else 0

    def log_find(self, key, deadline=None):
        row = self._run("SELECT %s FROM messages WHERE key = ?" % ", ".join(LOG_FIELDS), (key,), deadline).fetchone()
        return dict(zip(LOG_FIELDS, row)) if row else None

    def log_iter(self, since=None, until=None, fields=LOG_FIELDS):
        """fields: the ones the caller reads (the dashboard leaves out raw and reply, most of a row's bytes)."""
        fields = tuple(f for f in fields if f in LOG_FIELDS)  # names go into the SQL: only known ones
        if not fields:
            raise ValueError("log_iter needs at least one of LOG_FIELDS")
        cursor = self._run(
            "SELECT %s FROM messages WHERE received_at >= ? AND received_at < ? ORDER BY received_at, id"
            % ", ".join(fields),
            (since or 0, until or float("inf")),
        )
        for row in cursor:
            yield dict(zip(fields, row))

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
        self._mark(follower, now + ttl)
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
