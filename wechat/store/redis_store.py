"""The Redis store: the same interface for several hosts behind one load balancer."""

import random
import time

from wechat.store import LOG_FIELDS, PRUNE_CHANCE, StoreError

PREFIX = "wechat:"
LOG_INDEX = PREFIX + "log"  # sorted set: message key scored by received_at
# Delete only when the value is still ours: a lock holder must never release another's lock.
# Replace a session only when its version is still the one the writer read ("" = there was none).
PUT_IF_VERSION = """
local current = redis.call('hget', KEYS[1], 'version') or ''
if current ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[1], 'data', ARGV[2], 'version', ARGV[3])
redis.call('pexpire', KEYS[1], ARGV[4])
return 1
"""
SESSION_PREFIX = PREFIX + "session:"
DELETE_IF_EQUAL = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisStore:
    def __init__(self, url, retention_days=90):
        try:
            import redis
        except ImportError:
            raise StoreError("redis_url is set but the redis package is not installed: pip install redis")
        self._errors = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, decode_responses=True)
        self.retention = retention_days * 86400

    def _run(self, operation, *args):
        try:
            return operation(*args)
        except self._errors as e:
            raise StoreError("Redis store: %s" % e)

    def get(self, key):
        return self._run(self.client.get, PREFIX + key)

    def set(self, key, value, ttl):
        self._run(lambda: self.client.set(PREFIX + key, value, px=max(1, int(ttl * 1000))))

    def add(self, key, value, ttl):
        return bool(self._run(lambda: self.client.set(PREFIX + key, value, px=max(1, int(ttl * 1000)), nx=True)))

    def delete(self, key, expected=None):
        if expected is None:
            self._run(self.client.delete, PREFIX + key)
        else:
            self._run(self.client.eval, DELETE_IF_EQUAL, 1, PREFIX + key, expected)

    def log_append(self, key, record):
        record = {f: _field(record.get(f)) for f in LOG_FIELDS if f in record}
        name = PREFIX + "msg:" + key

        def append():
            if not self.client.hsetnx(name, "key", key):
                return False  # logged already: the first record of a message stands
            pipe = self.client.pipeline()
            pipe.hset(name, mapping=record)
            pipe.expire(name, int(self.retention) or 1)
            pipe.zadd(LOG_INDEX, {key: float(record.get("received_at", time.time()))})
            pipe.execute()
            if random.random() < PRUNE_CHANCE:
                self.client.zremrangebyscore(LOG_INDEX, 0, "(%s" % (time.time() - self.retention))
            return True

        return self._run(append)

    def log_reply(self, key):
        logged, reply = self._run(self.client.hmget, PREFIX + "msg:" + key, ["key", "reply"])
        return (True, reply or None) if logged else (False, None)

    def log_update(self, key, **fields):
        fields = {f: _field(v) for f, v in fields.items() if f in LOG_FIELDS}
        self._run(lambda: self.client.hset(PREFIX + "msg:" + key, mapping=fields))

    def log_iter(self, since=None, until=None):
        keys = self._run(self.client.zrangebyscore, LOG_INDEX, since or 0, "(%s" % until if until else "+inf")
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]

            def fetch():
                pipe = self.client.pipeline()
                for key in batch:
                    pipe.hgetall(PREFIX + "msg:" + key)
                return pipe.execute()

            for key, stored in zip(batch, self._run(fetch)):
                if not stored:
                    continue  # expired with the retention period
                record = {f: stored.get(f) for f in LOG_FIELDS}
                record["key"] = key
                record["received_at"] = float(record["received_at"] or 0)
                record["latency_ms"] = float(record["latency_ms"]) if record["latency_ms"] else None
                yield record

    def log_prune(self, before):
        # The hashes expire by themselves; the index entries are removed here.
        return self._run(self.client.zremrangebyscore, LOG_INDEX, 0, "(%s" % before)

    # --- sessions: one hash per follower (data, version), expiring with the session ---------------

    def session_get(self, follower):
        data, version = self._run(self.client.hmget, SESSION_PREFIX + follower, ["data", "version"])
        return (data, version or "") if data is not None else (None, "")

    def session_put(self, follower, data, expected, version, ttl):
        return bool(self._run(self.client.eval, PUT_IF_VERSION, 1, SESSION_PREFIX + follower, expected, data,
                              version, max(1, int(ttl * 1000))))

    def session_iter(self):
        def read():
            found = []
            for name in sorted(self.client.scan_iter(match=SESSION_PREFIX + "*", count=500)):
                data, ttl = self.client.hget(name, "data"), self.client.pttl(name)
                if data is not None and ttl > 0:
                    found.append((name[len(SESSION_PREFIX):], data, time.time() + ttl / 1000.0))
            return found

        yield from self._run(read)


def _field(value):
    return "" if value is None else value
