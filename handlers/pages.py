"""Pages for people: the welcome page, /health for monitors, and /static when no Apache serves it."""

import json
import mimetypes
import os

import web

import wechat
from handlers.render import templates
from handlers.runtime import current_settings, current_store, log
from wechat.config import ROOT, ConfigError

STATIC = os.path.join(ROOT, "static")


def welcome_page():
    # homepath keeps links right when the app is mounted below a prefix (ScriptAlias /wechat).
    return templates.welcome(wechat.__version__, web.ctx.homepath)  # .html: web.py sets text/html


class Welcome:
    def GET(self):
        return welcome_page()


class Health:
    """What a monitor needs to know, and never a secret's value, a path or a parser's message: each part
    says `ok` or what is wrong with it (config: unreadable, store: unavailable); the log says the rest."""

    def GET(self):
        web.header("Content-Type", "application/json")
        report = {"ok": True, "version": wechat.__version__, "mode": web.ctx.env.get("wechat.run_mode", "wsgi")}
        try:
            settings = current_settings()
        except ConfigError as e:
            log.error("%s", e)
            report.update(ok=False, config=e.state)
            settings = None
        else:
            report["config"] = "ok" if settings.token else "incomplete"
            report["ok"] = bool(settings.token)
        if settings is not None:
            report.update(
                encrypt_mode=settings.encrypt_mode,
                token_set=bool(settings.token),
                appid_set=bool(settings.appid),
                aes_key_set=bool(settings.aes_key),
            )
            store = current_store(settings)  # logs why when it cannot be opened
            report["store"] = "ok" if store is not None else "unavailable"
            report["ok"] = report["ok"] and store is not None
        if not report["ok"]:
            web.ctx.status = "503 Service Unavailable"
        return json.dumps(report)


class Static:
    """Files under static/, for the dev server and WSGI; under Apache an Alias serves them."""

    def GET(self, name):
        if "\0" in name:  # realpath() raises on a NUL byte (/static/%00): that is a 404, not a 500
            raise web.notfound("not found\n")
        path = os.path.realpath(os.path.join(STATIC, name))
        if not path.startswith(os.path.realpath(STATIC) + os.sep) or not os.path.isfile(path):
            raise web.notfound("not found\n")
        web.header("Content-Type", mimetypes.guess_type(path)[0] or "application/octet-stream")
        web.header("Cache-Control", "public, max-age=3600")
        with open(path, "rb") as f:
            return f.read()
