#!/usr/bin/env python3
"""The WeChat message server: URL map, web.py app, WSGI `application`, and main() for every mode.

    python code.py [--debug] [[host:]port]   development server (default 0.0.0.0:8080)
    python code.py fcgi                      FastCGI on fd 0 (mod_fcgid's FcgidWrapper)
    python code.py fcgi 127.0.0.1:9000       FastCGI on TCP (mod_proxy_fcgi; the Windows route)
    (run by Apache as a CGI script)          CGI, through the standard library's handler
    application                              WSGI, for mod_wsgi or any WSGI server
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import web  # noqa: E402

# Before the app exists: web.py turns debug on outside CGI/FastCGI, which reloads modules on
# every request and shows tracebacks to clients. `--debug` or config turns it back on.
web.config.debug = False

from handlers.endpoint import WeChatEndpoint  # noqa: E402,F401

# Dotted names are imported by web.py on first use: a CGI process answering WeChat never loads the pages.
urls = (
    "/", "WeChatEndpoint",  # WeChat's GET (verify) and POST (messages); the welcome page for browsers
    "/welcome", "handlers.pages.Welcome",
    "/health", "handlers.pages.Health",  # JSON for monitors: mode, encrypt mode, whether secrets are set (never values)
    "/static/(.+)", "handlers.pages.Static",  # only when no Apache Alias serves static/ first
    # The web console (handlers/console/): 404 until `manage.py admin-password` sets its password.
    "/admin/?", "handlers.console.dashboard.Dashboard",
    "/admin/login", "handlers.console.login.Login",
    "/admin/logout", "handlers.console.login.Logout",
    "/admin/messages", "handlers.console.messages.Messages",
    "/admin/follower/([^/]+)", "handlers.console.messages.Follower",
    "/admin/replies", "handlers.console.replies.Replies",
    "/admin/replies/rule", "handlers.console.replies.RuleForm",
    "/admin/replies/raw", "handlers.console.replies.RawRules",
    "/admin/replies/try", "handlers.console.replies.TryIt",
    "/admin/menu", "handlers.console.menu.Menu",
    "/admin/status", "handlers.console.status.Status",
)

app = web.application(urls, globals(), autoreload=False)


def serving(mode):
    """The WSGI app for a run mode, which each request carries as environ["wechat.run_mode"].

    The mode decides how a slow skill outlives the request (a forked worker under CGI, a thread
    elsewhere) and shows on /health; passing it with the request keeps it out of global state.
    """

    def middleware(wsgi_app):
        def wrapped(environ, start_response):
            environ["wechat.run_mode"] = mode
            if not environ.get("PATH_INFO"):
                # A script mapped without a trailing slash gets no PATH_INFO, and web.py raises TypeError.
                environ["PATH_INFO"] = "/"
            return wsgi_app(environ, start_response)

        return wrapped

    return app.wsgifunc(middleware)


application = serving("wsgi")


def listening_socket_on_stdin():
    """mod_fcgid starts us with its listening socket as fd 0 (and almost no environment)."""
    import socket

    try:
        sock = socket.socket(fileno=os.dup(0))
    except OSError:
        return False
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False
    finally:
        sock.close()


def choose_mode(args, environ):
    """The one rule for how this process serves; returns (mode, address or None).

    1. first argument `fcgi` -> FastCGI: on the given host:port, else on fd 0 (mod_fcgid)
    2. GATEWAY_INTERFACE set -> CGI: Apache ran us as a script; wsgiref keeps the body bytes
    3. fd 0 is a listening socket -> FastCGI on fd 0 (FcgidWrapper without the argument)
    4. anything else -> the development server on [host:]port (default 0.0.0.0:8080)
    """
    if args and args[0] in ("fcgi", "fastcgi"):
        return "fcgi", (parse_address(args[1]) if len(args) > 1 else None)
    if "GATEWAY_INTERFACE" in environ and "REQUEST_METHOD" in environ:
        return "cgi", None
    if not args and listening_socket_on_stdin():
        return "fcgi", None
    return "dev", parse_address(args[0] if args else "8080")


def parse_address(text):
    """'8080' -> ('0.0.0.0', 8080); '127.0.0.1:9000' -> ('127.0.0.1', 9000)."""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise SystemExit("code.py: %r is not a port or host:port" % text)
    return (host.strip("[]") or "0.0.0.0", int(port))


def run_cgi():
    # app.cgirun() is wsgiref's CGIHandler: stdin stays bytes. (app.run() would go through
    # flup's CGI fallback, which decodes the body with the locale and garbles Chinese.)
    import wsgiref.handlers

    wsgiref.handlers.CGIHandler().run(serving("cgi"))


def run_fcgi(address):
    from flup.server.fcgi import WSGIServer

    # multiplexed=False: neither mod_fcgid nor mod_proxy_fcgi multiplexes requests on one connection.
    WSGIServer(serving("fcgi"), bindAddress=address, multiplexed=False, debug=False).run()


def run_dev(address, debug):
    from cheroot import wsgi

    from wechat.config import ConfigError, config_path, load_settings, write_first_config

    path = config_path()
    try:
        settings = load_settings()
        token_note = "the token in %s" % (settings.source or "WECHAT_TOKEN")
        if not os.path.exists(path) and not settings.token:
            # Zero configuration: the first run makes a config with a fresh token and says it once.
            token_note = write_first_config(path)
            print("Created %s with a new random token." % path)
            settings = load_settings()
        problems = settings.problems()
    except ConfigError as e:
        problems = [str(e)]
    if problems:
        for problem in problems:
            print("code.py: %s" % problem, file=sys.stderr)
        return 2
    web.config.debug = debug or settings.debug
    host, port = address
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print("WeChat server on http://%s:%d/  (mode dev, encrypt %s)" % (shown, port, settings.encrypt_mode))
    print("In the WeChat console (开发 > 基本配置) use URL http://<your host>:%d/ and Token %s" % (port, token_note))
    sys.stdout.flush()
    server = wsgi.Server((host, port), serving("dev"), numthreads=10)
    try:
        server.start()
    except KeyboardInterrupt:
        server.stop()
    return 0


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    mode, address = choose_mode(args, os.environ)
    if mode == "cgi":
        return run_cgi()
    if mode == "fcgi":
        return run_fcgi(address)
    return run_dev(address, debug)


if __name__ == "__main__":
    sys.exit(main())
