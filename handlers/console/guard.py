"""Who may use the console: sessions and CSRF tokens in the store, the login lockout, the admin action log.

Everything lives in the store (get/set/add), because under CGI each request is another process and
under FastCGI there are several: a lockout or a session kept in memory would hold for one process only.
No web.py here: page.py turns these answers into cookies, redirects and status codes.
"""

import hashlib
import hmac
import json
import secrets
import time

from wechat.log import log

FAIL_LIMIT = 5  # failed logins from one address ...
LOCK_SECONDS = 15 * 60  # ... within this long lock that address out for this long
AUDIT_KEEP = 100  # admin actions shown on the status page (all of them go to the log)
AUDIT_SECONDS = 90 * 86400



def _session_key(token):
    # The store holds a hash of the cookie, so a copy of the store does not hand out live sessions.
    return "console:session:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:40]


class Session:
    """A signed-in admin: the cookie's token, the CSRF token for forms, where and when it started."""

    def __init__(self, token, csrf, address, started):
        self.token, self.csrf, self.address, self.started = token, csrf, address, started

    @property
    def who(self):
        return "admin@%s" % self.address

    def csrf_ok(self, sent):
        return bool(sent) and hmac.compare_digest(str(sent).encode("utf-8"), self.csrf.encode("utf-8"))


def start_session(store, address, idle_seconds):
    """A new session, stored for idle_seconds (each use renews it)."""
    session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), address, time.time())
    _save(store, session, idle_seconds)
    return session


def _save(store, session, idle_seconds):
    value = json.dumps({"csrf": session.csrf, "address": session.address, "started": session.started})
    store.set(_session_key(session.token), value, idle_seconds)


def resume_session(store, token, idle_seconds):
    """The session for a cookie's token, renewed for another idle period; None when unknown or expired."""
    if not token or len(token) > 100:
        return None
    value = store.get(_session_key(token))
    if not value:
        return None
    entry = json.loads(value)
    session = Session(token, entry["csrf"], entry["address"], entry["started"])
    _save(store, session, idle_seconds)
    return session


def end_session(store, token):
    if token:
        store.delete(_session_key(token))


# --- the lockout ------------------------------------------------------------------------------
# The store has no atomic increment, but add() is atomic: failure n takes slot n. Each slot lives
# LOCK_SECONDS, so what counts is failures within the last 15 minutes; the one that takes the last
# slot locks the address. Two processes failing at once take two different slots.

def _fail_slot(address, n):
    return "console:login-failed:%s:%d" % (address, n)


def _lock_key(address):
    return "console:locked:" + address


def locked_for(store, address):
    """Seconds this address stays locked out; 0 when it may try to sign in."""
    value = store.get(_lock_key(address))
    return max(0, int(float(value) - time.time()) + 1) if value else 0


def record_failure(store, address):
    """Count a failed login; returns how many tries are left (0: now locked for LOCK_SECONDS)."""
    for n in range(1, FAIL_LIMIT + 1):
        if store.add(_fail_slot(address, n), "%.3f" % time.time(), LOCK_SECONDS):
            break
    else:
        n = FAIL_LIMIT  # every slot taken by a concurrent failure
    if n >= FAIL_LIMIT:
        store.set(_lock_key(address), "%.3f" % (time.time() + LOCK_SECONDS), LOCK_SECONDS)
    return FAIL_LIMIT - n


def clear_failures(store, address):
    for n in range(1, FAIL_LIMIT + 1):
        store.delete(_fail_slot(address, n))


# --- what admins did --------------------------------------------------------------------------

def audit(store, who, what):
    """Log one admin action (who, what; the logger adds when) and keep it for the status page.

    `what` must never hold a secret: callers pass descriptions ("pushed menu, 3 buttons"), not values.
    """
    log.info("console: %s %s", who, what)
    if store is None:
        return
    try:
        entries = json.loads(store.get("console:audit") or "[]")
        entries.append({"at": time.time(), "who": who, "what": what})
        # Read-modify-write: two admins acting in the same instant may lose one entry here; the log
        # line above has every one.
        store.set("console:audit", json.dumps(entries[-AUDIT_KEEP:], ensure_ascii=False), AUDIT_SECONDS)
    except Exception as e:  # the action happened; failing to remember it must not undo the page
        log.error("console: could not keep the action log in the store: %s", e)


def recent_actions(store):
    """The last admin actions, newest first."""
    return list(reversed(json.loads(store.get("console:audit") or "[]")))
