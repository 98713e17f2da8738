#!/usr/bin/env python3
"""The WeChat message server: URL map, web.py app, WSGI `application`, and main() for every mode.

    python code.py [--debug] [[host:]port]   development server (default 0.0.0.0:8080)
    python code.py fcgi                      FastCGI on fd 0 (mod_fcgid's FcgidWrapper)
    python code.py fcgi 127.0.0.1:9000       FastCGI on TCP (mod_proxy_fcgi; the Windows route)
    (run by Apache as a CGI script)          CGI, through the standard library's handler
    application                              WSGI, for mod_wsgi or any WSGI server
"""

import gc
import os
import sys

if __name__ == "__main__" and "GATEWAY_INTERFACE" in os.environ:
    # A CGI process lives for one request. The cyclic collector would spend ~4 ms of it (5% of the
    # request) walking the objects that imports create, to find almost nothing: reference counting frees
    # the rest, and exit frees all. main() turns it back on in every mode but CGI.
    gc.disable()

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path[0] != HERE:  # run as a script, Python put it there already; twice costs a stat per import
    sys.path.insert(0, HERE)

try:
    import web  # noqa: E402
except ImportError:
    if __name__ != "__main__" or "GATEWAY_INTERFACE" in os.environ or sys.argv[1:2] in (["fcgi"], ["fastcgi"]):
        raise  # under Apache the traceback says what is missing; only the dev server gets a venv made
    from admin.bootstrap import run_in_venv  # stdlib only

    run_in_venv(os.path.abspath(__file__), sys.argv[1:])  # does not return

# Before the app exists: web.py turns debug on outside CGI/FastCGI, which reloads modules on
# every request and shows tracebacks to clients. `--debug` or config turns it back on.
web.config.debug = False

from handlers.application import Application  # noqa: E402
from handlers.endpoint import WeChatEndpoint  # noqa: E402,F401
from handlers.headers import security_headers  # noqa: E402

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

app = Application(urls, globals(), autoreload=False)  # web.py's, with a cheaper URL match and ctx load
app.add_processor(security_headers)


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
            result = wsgi_app(environ, start_response)
            if mode == "cgi":
                # Whatever the answer (403, 413, 503, a 404), the unread body must be drained before
                # we exit, or mod_cgid drops the answer (handlers/request_body.py).
                from handlers.request_body import drain

                result = list(result)
                drain(environ)
            return result

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
    # app.cgirun() is wsgiref's CGIHandler: stdin stays bytes. (web.py's app.run() hands CGI to flup:
    # an ImportError now that flup is not installed, and with flup a body decoded with the locale.)
    import wsgiref.handlers

    wsgiref.handlers.CGIHandler().run(serving("cgi"))
    let_the_answer_go()


def let_the_answer_go():
    """Hand Apache the end of the answer now, not when the process is gone.

    mod_cgid gives a CGI script one socket as its stdin and stdout, and ends the response when the last
    descriptor on it closes: at exit, after Python has torn down every module and object (~10 ms, an
    eighth of the request). Pointing fds 0 and 1 at /dev/null closes it once the answer is written and
    the body drained; the exit itself still runs in full (atexit, flushes, stderr to the error log).
    """
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        return  # the client is gone (or stdout closed): nothing to hand over
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)


def keep_data_dir_owner():
    """Started as root, never leave a root-owned database in a data dir that belongs to someone else."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    from admin.ownership import keep_data_dir_owner as keep
    from wechat.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError:
        return  # said when the first request loads the settings
    if not settings.redis_url:
        keep(settings.data_dir, os.path.join(settings.data_dir, "wechat.sqlite3"))


def report_crashes():
    """A long-lived process that dies of a signal (a fault in a C extension) writes every thread's Python
    stack to stderr, Apache's error log, first: otherwise the log says only "unexpected signal 11"."""
    import faulthandler

    faulthandler.enable(all_threads=True)


def run_fcgi(address):
    from handlers import fastcgi

    report_crashes()

    if address is not None:  # a backend someone started (proxy-fcgi), perhaps as root
        keep_data_dir_owner()
    fastcgi.serve(serving("fcgi"), address)


def console_hint(port, token_note):
    """What to put in WeChat's console, and the truth about ports: WeChat calls only 80 and 443."""
    console = "In the WeChat console (开发 > 基本配置 > 服务器配置) use URL http://<your public host>/ and Token %s" % token_note
    if port == 80:
        return console
    if port == 443:
        return ("Port 443 means https://, and this development server speaks only plain http: put Apache in front "
                "with `python3 manage.py deploy --https` (README: Deploying).")
    return ("WeChat calls only port 80 (http://) or 443 (https://); its console refuses port %d. To get there, put "
            "Apache in front (`python3 manage.py deploy`, README: Deploying), or for a trial run `sudo python3 code.py 80` "
            "on a host with a public address.\nThen: %s" % (port, console))


def run_dev(address, debug):
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
    # Traceback pages only from this flag, never from config: a config file travels to servers.
    web.config.debug = debug
    keep_data_dir_owner()
    host, port = address
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print("WeChat server on http://%s:%d/  (mode dev, encrypt %s)" % (shown, port, settings.encrypt_mode))
    print(console_hint(port, token_note))
    print("Try it as WeChat would: python3 manage.py simulate http://127.0.0.1:%d/" % port)
    if debug:
        print("code.py: --debug shows tracebacks to anyone who can reach %s:%d; never on a public server."
              % (host or "0.0.0.0", port), file=sys.stderr)
    sys.stdout.flush()
    from handlers.devserver import serve

    serve((host, port), serving("dev"), settings.max_body_bytes)
    return 0


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    mode, address = choose_mode(args, os.environ)
    if mode != "cgi":
        gc.enable()  # a long-lived process needs its collector (see the top of this file)
    if mode == "cgi":
        return run_cgi()
    if mode == "fcgi":
        return run_fcgi(address)
    return run_dev(address, debug)


if __name__ == "__main__":
    sys.exit(main())
