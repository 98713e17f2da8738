"""The access token: cached in the store with its expiry, refreshed early, fetched by one process at a time.

WeChat allows 2000 fetches a day, and a new token starts the old one's end: processes that each
fetched their own would keep invalidating each other. So the token lives in the store, and a
lock in the store lets exactly one process fetch while the others wait and read what it wrote.
"""

import json
import os
import time

REFRESH_MARGIN = 300  # refresh five minutes before WeChat's expiry
LOCK_TTL = 30
WAIT_SECONDS = 20
POLL_SECONDS = 0.05


class TokenTimeout(Exception):
    pass


class AccessTokens:
    def __init__(self, store, appid, fetch):
        """fetch() -> (token, expires_in seconds): the one HTTP call, made only under the lock."""
        self.store = store
        self.key = "access_token:" + appid
        self.lock = self.key + ":lock"
        self.fetch = fetch

    def _cached(self):
        value = self.store.get(self.key)
        if not value:
            return None
        entry = json.loads(value)
        return entry if entry["expires_at"] - time.time() > REFRESH_MARGIN else None

    def age(self):
        """(seconds since the cached token was fetched or None, seconds until it expires), or None: none cached."""
        value = self.store.get(self.key)
        if not value:
            return None
        entry = json.loads(value)
        now = time.time()
        fetched_at = entry.get("fetched_at")
        return (now - fetched_at if fetched_at else None), entry["expires_at"] - now

    def get(self):
        """A valid token, from the store when it has one."""
        entry = self._cached()
        return entry["token"] if entry else self.refresh()

    def refresh(self, stale=None):
        """A token other than `stale`: fetched here if this process wins the lock, else read once the winner wrote it."""
        owner = "%d:%d" % (os.getpid(), id(self))
        deadline = time.time() + WAIT_SECONDS
        while True:
            entry = self._cached()
            if entry and entry["token"] != stale:
                return entry["token"]
            if self.store.add(self.lock, owner, LOCK_TTL):
                try:
                    entry = self._cached()  # someone may have finished between our read and our lock
                    if entry and entry["token"] != stale:
                        return entry["token"]
                    token, expires_in = self.fetch()
                    expires_in = int(expires_in or 7200)
                    now = time.time()  # fetched_at: the console shows the token's age (never its value)
                    self.store.set(self.key, json.dumps({"token": token, "expires_at": now + expires_in,
                                                         "fetched_at": now}), expires_in)
                    return token
                finally:
                    self.store.delete(self.lock, owner)
            if time.time() > deadline:
                raise TokenTimeout("waited %ds for another process to fetch the access token" % WAIT_SECONDS)
            time.sleep(POLL_SECONDS)
