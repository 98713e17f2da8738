"""Status: doctor's checks run from the page; mode, encrypt mode, which secrets are set (never their values),
the access token's age, the store's kind and health, and what admins did lately."""

import sys
import time
import urllib.parse

import web

import wechat
from handlers.console import guard
from handlers.console.page import Page, render
from wechat.record import Record

CHECK_MODES = ("cgi", "fcgid", "proxy-fcgi")


class StoreHealth(Record):
    fields = ("kind", "where", "ok", "detail", "round_trip_ms", "messages_24h")


def store_health(settings, store):
    """Which store, where (a Redis URL without its password), and whether a write and a read work now."""
    if settings.redis_url:
        parts = urllib.parse.urlsplit(settings.redis_url)
        where = "%s://%s%s" % (parts.scheme, parts.hostname or "", ":%d" % parts.port if parts.port else "") + parts.path
        kind = "Redis"
    else:
        kind, where = "SQLite", store.path
    started = time.perf_counter()
    try:
        marker = "%.6f" % time.time()
        store.set("console:health", marker, 60)
        ok = store.get("console:health") == marker
        detail = "a write and a read work" if ok else "wrote a value and read back another"
        since = time.time() - 86400
        count = sum(1 for _ in store.log_iter(since, None, ("received_at",)))
    except Exception as e:  # StoreError, and anything a broken backend raises
        return StoreHealth(kind, where, False, str(e), None, None)
    return StoreHealth(kind, where, ok, detail, (time.perf_counter() - started) * 1000, count)


def token_age(settings, store):
    """(seconds since fetched or None, seconds left) of the cached access token; None when none is cached."""
    if not settings.appid:
        return None
    from wechat.token import AccessTokens

    return AccessTokens(store, settings.appid, None).age()


def guess_check_mode(run_mode):
    """Which deployment's checks fit the way this process runs (the page lets the admin pick another)."""
    return {"cgi": "cgi", "fcgi": "fcgid"}.get(run_mode, "proxy-fcgi")


class Status(Page):
    def show(self, console):
        from admin.deploy import run_checks
        from handlers.skills.backends.rules import check_rules_file

        settings, store = console.settings, console.store
        run_mode = web.ctx.env.get("wechat.run_mode", "wsgi")
        mode = web.input(_method="get", mode="").mode
        mode = mode if mode in CHECK_MODES else guess_check_mode(run_mode)
        started = time.perf_counter()
        problems = run_checks(mode, sys.executable)
        checks_ms = (time.perf_counter() - started) * 1000
        # (name, set?, what needs it): a missing one is a problem only when something needs it
        encrypted = settings.encrypt_mode != "plain"
        secrets_set = (("Token", bool(settings.token), "every message", True),
                       ("AppID", bool(settings.appid), "the API and safe mode", encrypted),
                       ("AppSecret", bool(settings.appsecret), "the API: menus, replies from here", False),
                       ("EncodingAESKey", bool(settings.aes_key), "safe and compatible mode", encrypted))
        return render.status(wechat.__version__, run_mode, settings, secrets_set, mode, CHECK_MODES, problems,
                             checks_ms, token_age(settings, store), store_health(settings, store),
                             check_rules_file(settings.rules_file), guard.recent_actions(store), sys.version.split()[0],
                             sys.executable)
