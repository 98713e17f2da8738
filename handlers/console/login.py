"""Sign in (password, lockout after repeated failures) and sign out."""

import hmac
import secrets

import web

from admin.passwords import read_password_hash, verify_password
from handlers.console import guard
from handlers.console.page import SESSION_COOKIE, Page, form_input, guarded, open_console, render, url

# The sign-in form's CSRF token: no session exists yet, so it is a cookie the form must repeat.
LOGIN_COOKIE = "wxconsole_login"


def set_cookie(name, value, expires=""):
    """Console cookies: HttpOnly, SameSite=Strict, Secure when the request came over HTTPS, path /admin."""
    web.setcookie(name, value, expires=expires, path=url(""), httponly=True, secure=web.ctx.protocol == "https",
                  samesite="Strict")


def safe_next(target):
    """Where to go after signing in: only a console path, never another site."""
    home = url("")
    if target and target.startswith(home) and not target.startswith("//"):
        return target
    return home + "/"


def login_page(message="", status="200 OK", target=""):
    web.ctx.status = status
    token = secrets.token_urlsafe(24)
    set_cookie(LOGIN_COOKIE, token)
    return render.login(token, message, not status.startswith("200"), target)


class Login:
    def GET(self):
        def show():
            open_console()
            query = web.input(_method="get", next="", out="")
            message = "You have signed out." if query.out else ""
            return login_page(message, target=query.next)

        return guarded(show)

    def POST(self):
        return guarded(self.sign_in)

    def sign_in(self):
        settings, store = open_console()
        form = form_input()
        address = web.ctx.ip or "unknown"
        target = form.get("next", "")
        wait = guard.locked_for(store, address)
        if wait:
            guard.audit(store, "someone@%s" % address, "tried to sign in while locked out")
            return login_page("Too many failed sign-ins from your address: locked for %d more minutes."
                              % ((wait + 59) // 60), "429 Too Many Requests", target)
        sent = form.get("login_token", "")
        expected = web.cookies().get(LOGIN_COOKIE, "")
        if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return login_page("The sign-in form expired; please type the password again.", "403 Forbidden", target)
        stored = read_password_hash(settings)
        if not verify_password(form.get("password", ""), stored or ""):
            left = guard.record_failure(store, address)
            guard.audit(store, "someone@%s" % address, "failed to sign in (%d tries left)" % left)
            if left == 0:
                return login_page("Wrong password. Too many failed sign-ins from your address: locked for %d minutes."
                                  % (guard.LOCK_SECONDS // 60), "429 Too Many Requests", target)
            return login_page("Wrong password (%d more tries before a %d-minute lockout)."
                              % (left, guard.LOCK_SECONDS // 60), "401 Unauthorized", target)
        guard.clear_failures(store, address)
        session = guard.start_session(store, address, max(60, settings.console_session_minutes * 60))
        set_cookie(SESSION_COOKIE, session.token)
        set_cookie(LOGIN_COOKIE, "", expires=-1)
        guard.audit(store, session.who, "signed in")
        raise web.seeother(safe_next(target)[len(web.ctx.homepath):])


class Logout(Page):
    def act(self, console, form):
        guard.end_session(console.store, console.session.token)
        set_cookie(SESSION_COOKIE, "", expires=-1)
        console.audit("signed out")
        raise web.seeother("/admin/login?out=1")
