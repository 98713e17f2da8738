"""The base of every console page: 404 without a password, sign-in without a session, CSRF on every POST.

A page class defines show(console, *args) for GET and act(console, form, *args) for POST. Both get a
Console (settings, store, session); neither runs unless the admin is signed in, and act() never runs
without the session's CSRF token. Templates are web.py's, HTML-escaped: `$value` is always safe for
what a follower or admin typed.
"""

import os
import time
import traceback
import urllib.parse

import web

from admin.passwords import read_password_hash
from handlers.console import guard
from handlers.console.stats import outcome_kind
from handlers.render import TEMPLATES, CachedRender
from handlers.runtime import current_journal, current_settings, current_store, log
from wechat.config import ConfigError
from wechat.record import Record
from wechat.store import StoreError

SESSION_COOKIE = "wxconsole"
MAX_FORM_BYTES = 1024 * 1024  # the raw rules editor is the largest form
# No script anywhere in the console: the policy forbids it, so even a value that escaped escaping
# could not run. Styles only from static/.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Console(Record):
    """What a page works with: settings, the open store, the signed-in session."""

    fields = ("settings", "store", "session")

    def audit(self, what):
        guard.audit(self.store, self.session.who, what)


def url(path="", **query):
    """A console URL below wherever the app is mounted; query values that are None are left out."""
    query = {k: v for k, v in query.items() if v not in (None, "")}
    return web.ctx.homepath + "/admin" + path + ("?" + urllib.parse.urlencode(query) if query else "")


def static(name):
    return web.ctx.homepath + "/static/" + name


def when(timestamp, seconds=False):
    """A Unix time as the server's local date and time."""
    if not timestamp:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.localtime(float(timestamp)))


def duration(seconds):
    """3 s, 12 min, 5 h 20 min, 2 d 3 h: how long, for people."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return "%d s" % seconds
    if seconds < 3600:
        return "%d min" % (seconds // 60)
    if seconds < 86400:
        return "%d h %d min" % (seconds // 3600, seconds % 3600 // 60)
    return "%d d %d h" % (seconds // 86400, seconds % 86400 // 3600)


def describe_reply(reply):
    """One line for a logged reply body: its type and content, or what `success` means."""
    if reply is None:
        return "(no reply recorded)"
    if reply in ("", "success"):
        return "success — nothing shown to the follower"
    from admin.simulate import describe_reply as describe
    from wechat.xmlparse import ParseError

    try:
        described = describe(reply.encode("utf-8"))
    except ParseError:
        return reply[:200]
    return described[len("text: "):] if described.startswith("text: ") else described  # text is the usual kind


def follower_url(openid):
    return url("/follower/" + urllib.parse.quote(openid or "-", safe=""))


def ms(value):
    """A latency in milliseconds for people; a dash when nothing was measured."""
    if value is None:
        return "—"
    return "%.0f ms" % value if value >= 10 else "%.1f ms" % value


def chart(figure, series):
    """A chart (charts.Chart) as inline SVG, from chart.html without the page layout around it."""
    return render._template("chart")(figure, series)


def menu_button(*args):
    """One button's fields in the menu form (menu_button.html, without the layout)."""
    return render._template("menu_button")(*args)


NAV_ITEMS = (("/", "Dashboard"), ("/messages", "Messages"), ("/replies", "Auto-replies"), ("/menu", "Menu"),
             ("/status", "Status"))

render = CachedRender(os.path.join(TEMPLATES, "console"), base="layout", globals={
    "ctx": web.ctx, "url": url, "static": static, "when": when, "duration": duration, "ms": ms,
    "describe_reply": describe_reply, "follower_url": follower_url, "chart": chart, "menu_button": menu_button, "nav_items": NAV_ITEMS,
    "outcome_kind": outcome_kind, "sorted": sorted, "round": round, "str": str,
})


def precompile():
    """Fill the compiled-template cache for the console (manage.py precompile)."""
    folder = os.path.join(TEMPLATES, "console")
    names = sorted({os.path.splitext(n)[0] for n in os.listdir(folder) if n.endswith(".html")})
    for name in names:
        render._template(name)
    return names


def refuse(status, title, message):
    """An HTTPError carrying a console error page."""
    web.ctx.status = status
    send_security_headers()  # unique: already sent when the console was opened
    body = str(render.error(title, message))
    return web.HTTPError(status, {"Content-Type": "text/html; charset=utf-8"}, body)


def send_security_headers():
    for name, value in SECURITY_HEADERS.items():
        web.header(name, value, unique=True)


def open_console():
    """(settings, store) for a console request; 404 when no password is set, 503 when the store is down."""
    send_security_headers()
    web.ctx.console = None
    try:
        settings = current_settings()
    except ConfigError as e:
        log.error("console: %s", e)
        raise refuse("503 Service Unavailable", "Not configured", "The settings cannot be read; the server's "
                                                                   "error log says why.")
    if read_password_hash(settings) is None:
        # Off until `manage.py admin-password`: as if there were no console at all. (Under CGI, code.py's
        # middleware drains an unread body before any answer.)
        raise web.notfound("not found\n")
    store = current_store(settings)
    if store is None:
        raise refuse("503 Service Unavailable", "Store unavailable", "The store cannot be opened (the server's "
                                                                     "error log says why), so nobody can sign in.")
    journal = current_journal(settings, web.ctx.env.get("wechat.run_mode", "wsgi"))
    if journal is not None:
        journal.merge(store)  # the newest messages wait in the journal file; the pages read the store's log
    return settings, store


def form_input():
    """The POSTed form, refusing bodies over MAX_FORM_BYTES before reading them."""
    declared = (web.ctx.env.get("CONTENT_LENGTH") or "").strip()
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise refuse("413 Request Entity Too Large", "Too large", "That form is larger than %d KiB."
                     % (MAX_FORM_BYTES // 1024))
    try:
        return web.input(_method="post")
    except Exception:  # not a form, or not UTF-8
        raise refuse("400 Bad Request", "Unreadable form", "The form could not be read; reload the page and try again.")


def guarded(work):
    """Run work(); a store failure becomes a 503 page, anything unexpected a logged 500 page, never a traceback."""
    try:
        return work()
    except web.HTTPError:
        raise
    except StoreError as e:
        log.error("console: store unavailable: %s", e)
        raise refuse("503 Service Unavailable", "Store unavailable", "The store stopped answering: %s" % e)
    except Exception:
        log.error("console page %s failed:\n%s", web.ctx.path, traceback.format_exc().rstrip())
        raise refuse("500 Internal Server Error", "Something broke", "This page failed; the server's error log "
                                                                      "has the details.")


class Page:
    """GET -> show(console, *args); POST -> act(console, form, *args), signed in and with the CSRF token."""

    def GET(self, *args):
        return guarded(lambda: self._enter(False, lambda console: self.show(console, *args)))

    def POST(self, *args):
        return guarded(lambda: self._enter(True, lambda console: self.act(console, form_input(), *args)))

    def _enter(self, posted, work):
        settings, store = open_console()
        idle = max(60, settings.console_session_minutes * 60)
        session = guard.resume_session(store, web.cookies().get(SESSION_COOKIE), idle)
        if session is None:
            if posted:
                form_input()  # read the body: under CGI an unread body resets the connection
            target = web.ctx.path + web.ctx.query if not posted else ""
            raise web.seeother("/admin/login" + ("?" + urllib.parse.urlencode({"next": target}) if target else ""))
        console = web.ctx.console = Console(settings, store, session)
        if posted and not session.csrf_ok(form_input().get("csrf")):
            guard.audit(store, session.who, "refused a POST to %s without a valid CSRF token" % web.ctx.path)
            raise refuse("403 Forbidden", "Form expired", "This form's security token is missing or wrong, so "
                                                          "nothing was done. Reload the page and submit again.")
        return work(console)

    def show(self, console, *args):
        raise web.nomethod()

    def act(self, console, form, *args):
        raise web.nomethod()
