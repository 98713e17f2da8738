"""The Redis store: the same interface for several hosts behind one load balancer."""

import random
import time

from wechat.store import CLAIMED, HELD, LOG_FIELDS, NEW, PRUNE_CHANCE, REPLAYED, Claim, StoreError

PREFIX = "wechat:"
LOG_INDEX = PREFIX + "log"  # sorted set: message key scored by received_at
# Short timeouts: a follower waits on these calls, and WeChat gives up after 5 s (a stopped Redis
# otherwise holds each request for the client's default of several seconds).
CONNECT_TIMEOUT, SOCKET_TIMEOUT = 0.2, 0.3
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
# KEYS: claim hash, nonce key (optional). ARGV: digest, lease_until, claim ttl ms, nonce ttl ms.
# One round trip: the replay check, the claim and the nonce memory together.
CLAIM = """
local seen = false
if #KEYS == 2 then
  seen = redis.call('get', KEYS[2])
  if seen and seen ~= ARGV[1] then return {'replayed'} end
  if not seen then redis.call('set', KEYS[2], ARGV[1], 'px', ARGV[4]) end
end
local held = redis.call('hmget', KEYS[1], 'digest', 'lease')
if held[1] then return {'held', held[1], held[2]} end
redis.call('hset', KEYS[1], 'digest', ARGV[1], 'lease', ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[3])
return {'new'}
"""
TAKEOVER = """
if redis.call('hget', KEYS[1], 'lease') == ARGV[1] then
  redis.call('hset', KEYS[1], 'lease', ARGV[2]) return 1 end
return 0
"""
# KEYS: log hash, index. ARGV: key, received_at, retention s, then field/value pairs. First record wins.
LOG_ADD = """
if redis.call('hsetnx', KEYS[1], 'key', ARGV[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], unpack(ARGV, 4))
redis.call('expire', KEYS[1], ARGV[3])
redis.call('zadd', KEYS[2], ARGV[2], ARGV[1])
return 1
"""


class RedisStore:
    local_journal = False  # other hosts must see replies and records: they go to Redis directly

    def __init__(self, url, retention_days=90):
        try:
            import redis
        except ImportError:
            raise StoreError("redis_url is set but the redis package is not installed: pip install redis")
        self._errors = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
                                           decode_responses=True)
        self.retention = retention_days * 86400
        self._claim = self.client.register_script(CLAIM)
        self._takeover = self.client.register_script(TAKEOVER)
        self._log_add = self.client.register_script(LOG_ADD)

    def _run(self, operation, *args, deadline=None):
        # A call on a pooled connection lasts at most SOCKET_TIMEOUT: one that could outlast the deadline
        # is not started.
        if deadline is not None and deadline - time.monotonic() < SOCKET_TIMEOUT:
            raise StoreError("Redis store: no time left in the reply budget for another call")
        try:
            return operation(*args)
        except self._errors as e:
            raise StoreError("Redis store: %s" % e)

    def get(self, key):
        return self._run(self.client.get, PREFIX + key)

    def snapshot(self, keys, follower):
        def read():
            pipe = self.client.pipeline(transaction=False)  # one round trip
            pipe.mget([PREFIX + key for key in keys])
            pipe.hmget(SESSION_PREFIX + follower, ["data", "version"])
            return pipe.execute()

        found, (data, version) = self._run(read)
        values = {key: value for key, value in zip(keys, found) if value is not None}
        return values, ((data, version or "") if data is not None else (None, ""))

    def set(self, key, value, ttl, follower=None):
        self._run(lambda: self.client.set(PREFIX + key, value, px=max(1, int(ttl * 1000))))

    def add(self, key, value, ttl):
        return bool(self._run(lambda: self.client.set(PREFIX + key, value, px=max(1, int(ttl * 1000)), nx=True)))

    def delete(self, key, expected=None):
        if expected is None:
            self._run(self.client.delete, PREFIX + key)
        else:
            self._run(self.client.eval, DELETE_IF_EQUAL, 1, PREFIX + key, expected)

    # --- retry claims --------------------------------------------------------------------------

    def claim(self, key, digest, nonce, lease_until, keep_seconds, deadline=None):
        keys = [PREFIX + "claim:" + key] + ([PREFIX + "nonce:" + nonce] if nonce else [])
        keep_ms = int(keep_seconds * 1000)
        found = self._run(lambda: self._claim(keys=keys, args=[digest, repr(lease_until), keep_ms, keep_ms]),
                          deadline=deadline)
        if found[0] == REPLAYED:
            return Claim(REPLAYED)
        if found[0] == NEW:
            return CLAIMED
        return Claim(HELD, found[1], float(found[2] or 0))

    def claim_takeover(self, key, old_lease_until, new_lease_until, deadline=None):
        return bool(self._run(lambda: self._takeover(keys=[PREFIX + "claim:" + key],
                                                     args=[repr(old_lease_until), repr(new_lease_until)]),
                              deadline=deadline))

    # --- message log -------------------------------------------------------------------------

    def log_merge(self, records, deadline=None):
        records = [dict(zip(LOG_FIELDS, r)) if type(r) is tuple else r for r in records]

        def args(record):
            return dict(keys=[PREFIX + "msg:" + record["key"], LOG_INDEX],
                        args=[record["key"], repr(float(record.get("received_at") or time.time())),
                              int(self.retention) or 1] + _pairs(record))

        if len(records) == 1:  # a message's own record: one EVALSHA (a pipeline adds SCRIPT EXISTS)
            added = self._run(lambda: self._log_add(**args(records[0])), deadline=deadline)
        else:
            added = 0
            for start in range(0, len(records), 500):
                batch = records[start : start + 500]

                def merge():
                    pipe = self.client.pipeline(transaction=False)
                    for record in batch:
                        self._log_add(client=pipe, **args(record))
                    return sum(pipe.execute())

                added += self._run(merge, deadline=deadline)
        if random.random() < PRUNE_CHANCE:
            self._run(self.client.zremrangebyscore, LOG_INDEX, 0, "(%s" % (time.time() - self.retention))
        return added

    def log_find(self, key, deadline=None):
        stored = self._run(self.client.hgetall, PREFIX + "msg:" + key, deadline=deadline)
        return _record(key, stored) if stored else None

    def log_iter(self, since=None, until=None, fields=LOG_FIELDS):
        keys = self._run(self.client.zrangebyscore, LOG_INDEX, since or 0, "(%s" % until if until else "+inf")
        fields = tuple(f for f in fields if f in LOG_FIELDS)
        if not fields:
            raise ValueError("log_iter needs at least one of LOG_FIELDS")
        every = set(fields) == set(LOG_FIELDS)
        # received_at is always read: a record whose hash expired has none (any other field may be empty)
        asked = fields if "received_at" in fields else fields + ("received_at",)
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]

            def fetch():
                pipe = self.client.pipeline()
                for key in batch:
                    if every:
                        pipe.hgetall(PREFIX + "msg:" + key)
                    else:  # only what the caller reads: raw and reply are most of a record
                        pipe.hmget(PREFIX + "msg:" + key, asked)
                return pipe.execute()

            for key, stored in zip(batch, self._run(fetch)):
                if not every:
                    stored = dict(zip(asked, stored))
                    stored = stored if stored.get("received_at") is not None else None
                if stored:  # else expired with the retention period
                    record = _record(key, stored)
                    yield record if every else {f: record[f] for f in fields}

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


def _pairs(record):
    pairs = []
    for field in LOG_FIELDS:
        if field != "key" and record.get(field) is not None:
            pairs += [field, record[field]]
    return pairs


def _record(key, stored):
    record = {f: stored.get(f) or None for f in LOG_FIELDS}
    record["key"] = key
    record["received_at"] = float(record["received_at"] or 0)
    for name, kind in (("latency_ms", float), ("prompt_tokens", int), ("completion_tokens", int)):
        record[name] = kind(record[name]) if record[name] else None  # Redis keeps strings
    return record
