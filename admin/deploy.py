"""`manage.py deploy` and `doctor`: render the Apache vhost for this folder and Python, and find what breaks deployments."""

import os
import re
import subprocess
import sys

from wechat.config import ROOT, ConfigError, config_path, load_settings

MODES = ("cgi", "fcgid", "proxy-fcgi")
APP_PACKAGES = ("wechat", "handlers", "admin")  # the app's Python packages, byte-compiled by deploy
FLAVOURS = ("debian", "wamp")

# The paths and names the shipped files in apache/ are written for; rendering replaces them.
SHIPPED = {
    "debian": {"root": "/var/www/wechat", "python": "/var/www/wechat/.venv/bin/python"},
    "wamp": {"root": "C:/wamp64/www/wechat", "python": "C:/Python311/python.exe"},
}
SHIPPED_SERVER_NAME = "wechat.example.com"
SHIPPED_BACKEND = "127.0.0.1:9000"
SHIPPED_BODY_LIMIT = "65536"  # LimitRequestBody and friends: rendered as the app's max_body_bytes
FCGID_ON_WINDOWS = (
    "mod_fcgid cannot run this app on Windows: it hands the child a named pipe and the app speaks FastCGI "
    "only over sockets. Use --mode proxy-fcgi (code.py fcgi on TCP 127.0.0.1 behind mod_proxy_fcgi)."
)


class DeployError(Exception):
    """A vhost that cannot be rendered as asked; the message says what to do instead."""


def apache_path(path):
    """Apache on Windows wants forward slashes too."""
    return path.replace("\\", "/")


def render_vhost(mode, flavour, root=ROOT, python=sys.executable, server_name=SHIPPED_SERVER_NAME,
                 port=None, backend_port=9000, https=False, cert=None, key=None, redirect_http=False, http_port=80,
                 admin_allow=()):
    """The vhost for this folder and Python: the shipped file for mode and flavour with its paths and names
    replaced, and a header that says what to enable, where each log line lands, and (https) which certificate."""
    if mode not in MODES or flavour not in FLAVOURS:
        raise DeployError("mode must be one of %s and flavour one of %s" % (", ".join(MODES), ", ".join(FLAVOURS)))
    if mode == "fcgid" and flavour == "wamp":
        raise DeployError(FCGID_ON_WINDOWS)
    root, python = apache_path(os.path.abspath(root) if flavour == "debian" else root), apache_path(python)
    if mode == "fcgid" and (" " in root or " " in python):
        raise DeployError("FcgidWrapper cannot take paths with spaces (%s, %s): move the app or the venv." % (root, python))
    port = int(port or (443 if https else 80))
    with open(os.path.join(ROOT, "apache", "%s.%s.conf" % (mode, flavour)), encoding="utf-8") as f:
        text = f.read()
    shipped = SHIPPED[flavour]
    # The shipped Python path contains the shipped root: replace it first.
    text = text.replace(shipped["python"], python).replace(shipped["root"], root.rstrip("/"))
    text = text.replace(SHIPPED_SERVER_NAME, server_name)
    text = text.replace("<VirtualHost *:80>", "<VirtualHost *:%d>" % port)
    text = text.replace(SHIPPED_BACKEND, "127.0.0.1:%d" % int(backend_port))
    text = text.replace(SHIPPED_BODY_LIMIT, str(body_limit()))
    if admin_allow:
        text = text.replace("</VirtualHost>", console_location(admin_allow) + "</VirtualHost>")
    header = ["# Rendered by `manage.py deploy --mode %s --flavour %s` for %s" % (mode, flavour, root)]
    if https:
        from admin.https import default_certificate, with_https

        default_cert, default_key = default_certificate(flavour, server_name)
        text, more = with_https(text, flavour, server_name, apache_path(cert or default_cert),
                                apache_path(key or default_key), port, redirect_http, int(http_port))
        header += more
    listening = [port] + ([int(http_port)] if https and redirect_http else [])
    for number in listening:
        if number not in (80, 443):
            header.append("# Apache must listen on this port: add `Listen %d` (Debian: /etc/apache2/ports.conf). "
                          "WeChat itself calls only ports 80 and 443." % number)
    header += log_notes(mode, flavour)
    return "\n".join(header) + "\n" + text


def log_notes(mode, flavour):
    """Header lines saying which log file holds which line in this mode (measured with Apache 2.4.71)."""
    vhost_log = "${APACHE_LOG_DIR}/wechat-error.log" if flavour == "debian" else "logs/wechat-error.log"
    main_log = "/var/log/apache2/error.log" if flavour == "debian" else "logs/apache_error.log"
    if mode == "cgi" and flavour == "debian":
        return [
            "# Logs. mod_cgid (Debian's default, event MPM): the app's lines (one per request, its tracebacks and",
            "#   settings errors) and `AH01241: exec of ... failed` go to Apache's main log, %s;" % main_log,
            "#   %s has `End of script output before headers` and `AH01257`." % vhost_log,
            "#   Under mod_cgi (prefork MPM, e.g. with PHP) the app's lines land in %s as `AH01215: stderr from`." % vhost_log,
            "#   Set log_file in config.ini (e.g. in the data dir) to have the app's lines in a file of their own.",
        ]
    if mode == "cgi":
        return ["# Logs: the app's lines (one per request, its tracebacks) land in %s as `AH01215: stderr from`;" % vhost_log,
                "#   Apache's own start-up lines are in %s." % main_log]
    if mode == "fcgid":
        return [
            "# Logs: the app's lines (one per request, settings errors) go to Apache's main log, %s" % main_log,
            "#   (mod_fcgid's processes write there); %s has tracebacks of requests that failed" % vhost_log,
            "#   (`mod_fcgid: stderr:`) and mod_fcgid's own errors. Set log_file in config.ini for a file of their own.",
        ]
    return ["# Logs: %s has Apache's lines (`AH01079` when the backend is down); the app's lines go to" % vhost_log,
            "#   the backend's own output (the terminal, `journalctl -u wechat-backend`, or %s)." %
            ("its log file" if flavour == "debian" else "var/backend.log with the scheduled task")]


def body_limit():
    """The app's max_body_bytes, for Apache's limits to match (the shipped value when config is unreadable)."""
    try:
        return load_settings().max_body_bytes or int(SHIPPED_BODY_LIMIT)  # Apache reads 0 as "no limit"
    except ConfigError:
        return int(SHIPPED_BODY_LIMIT)


def console_location(networks):
    """A <Location /admin> that lets only these networks reach the console (its login is the second lock)."""
    import ipaddress

    allowed = []
    for network in networks:
        try:
            allowed.append(str(ipaddress.ip_network(network.strip(), strict=False)))
        except ValueError:
            raise DeployError("--admin-allow %r is not an address or network (e.g. 203.0.113.7 or 10.0.0.0/8)"
                              % network)
    return ("\n    # The web console (/admin): only from these addresses (manage.py deploy --admin-allow).\n"
            "    <Location \"/admin\">\n        Require ip %s\n    </Location>\n" % " ".join(allowed))


def shebang(python):
    """The CGI script's first line for this interpreter; quoted when the path has spaces (Windows)."""
    path = apache_path(python)
    return "#!%s" % ('"%s"' % path if " " in path else path)


def fix_script(python, script=None):
    """Give code.py the interpreter's first line, LF line endings, and (on Unix) the exec bit."""
    script = script or os.path.join(ROOT, "code.py")
    with open(script, "rb") as f:
        text = f.read().decode("utf-8").replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[0].startswith("#!"):
        lines[0] = shebang(python)
    else:
        lines.insert(0, shebang(python))
    with open(script, "wb") as f:
        f.write("\n".join(lines).encode("utf-8"))
    if os.name != "nt":
        os.chmod(script, os.stat(script).st_mode | 0o755)


def compile_app(python, root=ROOT):
    """Byte-compile the app with the interpreter Apache runs: its user usually cannot write __pycache__,
    and without .pyc files every CGI request compiles every module again (tens of milliseconds)."""
    if re.match(r"^[A-Za-z]:", python) and os.name != "nt":
        return False  # a Windows interpreter, rendered from elsewhere
    # `manage.py precompile` run by that interpreter: bytecode, and the compiled templates
    # (see handlers.render.CachedTemplate).
    result = subprocess.run([python, os.path.join(root, "manage.py"), "precompile"],
                            capture_output=True, text=True, timeout=300)
    return result.returncode == 0


# --- checks -------------------------------------------------------------------------------------

def _identity(user):
    """(uid, gids) of a local user, or None when there is no such user (or no pwd module: Windows)."""
    try:
        import grp
        import pwd

        entry = pwd.getpwnam(user)
    except (ImportError, KeyError):
        return None
    gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    return entry.pw_uid, gids


def _allowed(path, identity, need):
    """Whether identity (uid, gids) has the `need` bits (4 r, 2 w, 1 x) on path by its mode bits."""
    uid, gids = identity
    if uid == 0:
        return True
    st = os.stat(path)
    if st.st_uid == uid:
        bits = st.st_mode >> 6
    elif st.st_gid in gids:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & need == need


def first_blocked(path, identity, need):
    """The first path component `identity` cannot pass (or the file itself without `need`), or None."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        directory = os.sep.join(parts[:i]) or os.sep
        if not _allowed(directory, identity, 1):
            return directory
    return None if _allowed(path, identity, need) else path


def check_config():
    path = config_path()
    if not os.path.exists(path) and not os.environ.get("WECHAT_TOKEN"):
        return ["There is no config at %s: run `python code.py` once to create one, or copy "
                "config.example.ini there and set token." % path]
    try:
        settings = load_settings()
    except ConfigError as e:
        return [str(e)]
    from handlers.skills.backends.rules import check_rules_file

    return settings.problems() + check_rules_file(settings.rules_file)


def check_templates(root=ROOT):
    from handlers.render import ENVELOPE_TEMPLATE
    from wechat.replies import reply_templates

    missing = [n for n in reply_templates() + [ENVELOPE_TEMPLATE] if not os.path.exists(os.path.join(root, "templates", n + ".xml"))]
    return ["Reply templates are missing from %s: %s; restore them from the release." %
            (os.path.join(root, "templates"), ", ".join(missing))] if missing else []


def check_script(python, root=ROOT):
    """code.py as a CGI script: first line, line ending, exec bit."""
    script = os.path.join(root, "code.py")
    with open(script, "rb") as f:
        first = f.readline()
    fix = "run `python manage.py deploy --mode cgi` with the Python that has web.py"
    problems = []
    if first.endswith(b"\r\n"):
        problems.append("code.py's first line ends in CRLF, so Apache looks for an interpreter named "
                        "'python\\r' (\"No such file or directory\"): %s." % fix)
    interpreter = first[2:].strip().strip(b'"').decode("utf-8", "replace") if first.startswith(b"#!") else ""
    if not interpreter:
        problems.append("code.py has no #! first line naming its interpreter (\"Exec format error\"): %s." % fix)
    elif os.name != "nt" and not interpreter.startswith("/usr/bin/env") and not os.path.exists(interpreter):
        problems.append("code.py's first line names %s, which does not exist: %s." % (interpreter, fix))
    if os.name != "nt" and not os.access(script, os.X_OK):
        problems.append("code.py is not executable (\"Permission denied\"): run `chmod 755 %s`." % script)
    return problems


def check_interpreter(python, identity, user):
    problems = []
    if identity is not None:
        blocked = first_blocked(python, identity, 5)
        if blocked:
            problems.append(
                "The server's user %s cannot run %s (%s is closed to it), e.g. a Python under root's home: build a "
                "venv from a system Python (`/usr/bin/python3 -m venv /var/www/wechat/.venv`) and deploy with it."
                % (user, python, blocked))
            return problems
    if os.path.exists(python):
        result = subprocess.run([python, "-c", "import web"], capture_output=True, text=True, timeout=60)
        if result.returncode:
            problems.append("%s cannot import web.py: run `%s -m pip install -r %s`." %
                            (python, python, os.path.join(ROOT, "requirements.txt")))
    return problems


def _owner_name(path):
    try:
        import pwd

        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return "another user"


def _writable(path, identity, need):
    if identity is None:
        return os.access(path, os.W_OK)
    return first_blocked(path, identity, need) is None


def restart_hint(mode):
    """After an ownership fix: FastCGI processes keep the database they opened read-only until they restart."""
    if mode == "fcgid":
        return (", then `sudo systemctl restart apache2`: a FastCGI process that opened the database read-only "
                "keeps failing until it restarts")
    if mode == "proxy-fcgi":
        return (", then restart the backend: a process that opened the database read-only keeps failing until "
                "it restarts")
    return ""


def check_data_dir(identity, user, mode=None):
    """The data dir and every file and folder in it writable by the server's user, not only the dir."""
    try:
        settings = load_settings()
    except ConfigError:
        return []
    data_dir = settings.data_dir
    fix = "`sudo mkdir -p %s && sudo chown -R %s: %s`" % (data_dir, user, data_dir)
    if not os.path.isdir(data_dir):
        target = data_dir
        while not os.path.exists(target):
            target = os.path.dirname(target)
        if _writable(target, identity, 3):
            return []
        return ["The data dir %s does not exist and %s cannot create it: run %s." % (data_dir, user, fix)]
    if identity is not None:
        closed = first_blocked(data_dir, identity, 3)
        if closed is not None and closed != os.path.realpath(data_dir):
            return ["%s cannot reach the data dir %s: %s is closed to it. Move the data dir (data_dir in config.ini) "
                    "or run `sudo chmod o+x %s`." % (user, data_dir, closed, closed)]
    blocked = [] if _writable(data_dir, identity, 3) else [data_dir]
    for directory, folders, files in os.walk(data_dir):
        blocked += [os.path.join(directory, name) for name in folders
                    if not _writable(os.path.join(directory, name), identity, 7)]
        blocked += [os.path.join(directory, name) for name in files
                    if not _writable(os.path.join(directory, name), identity, 6)]
    if not blocked:
        return []
    example = blocked[0]
    if example == data_dir:
        what = "The data dir %s (owned by %s) is" % (data_dir, _owner_name(example))
    else:
        what = "%d of the files and folders in the data dir %s are" % (len(blocked), data_dir)
        what += " (e.g. %s, owned by %s)" % (os.path.relpath(example, data_dir), _owner_name(example))
        what = what.replace(" are (", " (", 1) + " are"
    return ["%s not writable by %s: every message then logs `attempt to write a readonly database` or `unable to "
            "open database file`. Run `sudo chown -R %s: %s`%s." % (what, user, user, data_dir, restart_hint(mode))]


def check_config_readable(identity, user):
    """config.ini readable by the user the server runs as (a root-made 600 file is not)."""
    path = config_path()
    if identity is None or not os.path.exists(path):
        return []
    blocked = first_blocked(path, identity, 4)
    if blocked is None:
        return []
    where = "" if blocked == os.path.realpath(path) else " (%s is closed to it)" % blocked
    return ["%s cannot read %s%s: every request gets 503 and the log says `Cannot read %s`. Run `sudo chgrp %s %s "
            "&& sudo chmod 640 %s`." % (user, path, where, path, user, path, path)]


def check_bytecode(root=ROOT):
    """Every module has a current .pyc (see compile_app)."""
    import importlib.util

    stale = []
    for folder in APP_PACKAGES:
        for directory, _, files in os.walk(os.path.join(root, folder)):
            if "__pycache__" in directory:
                continue
            for name in files:
                if name.endswith(".py"):
                    source = os.path.join(directory, name)
                    cached = importlib.util.cache_from_source(source)
                    if not os.path.exists(cached) or os.path.getmtime(cached) < os.path.getmtime(source):
                        stale.append(os.path.relpath(source, root))
    if not stale:
        return []
    return ["%d modules have no current .pyc (e.g. %s), so each CGI request compiles them again: run "
            "`python manage.py deploy ...` or `python -m compileall %s`." % (len(stale), stale[0], root)]


def check_app_readable(root, identity, user):
    if identity is None:
        return []
    blocked = first_blocked(os.path.join(root, "code.py"), identity, 4)
    if blocked:
        return ["The server's user %s cannot read the app (%s is closed to it): run `chmod o+rx` on the folders "
                "and `chmod o+r` on the files, or move the app under /var/www." % (user, blocked)]
    return []


def check_certificate(vhost_text):
    """--https: the certificate and key the vhost names exist (Apache reads them as root, at start-up)."""
    problems = []
    for directive, path in re.findall(r'^\s*(SSLCertificate(?:Key)?File) "([^"]+)"', vhost_text, re.M):
        if not os.path.isfile(path) or not os.path.getsize(path):
            name = re.search(r"^\s*ServerName (\S+)", vhost_text, re.M)
            problems.append(
                "%s %s does not exist (or is empty), and Apache will not start without it: get a certificate with `sudo certbot "
                "certonly --apache -d %s` (while the plain-http vhost is enabled), or pass --cert and --key."
                % (directive, path, name.group(1) if name else "your.host"))
    return problems


def run_checks(mode, python=sys.executable, apache_user="www-data", root=ROOT, backend=None):
    """Every problem found, one sentence each with its fix; [] when the deployment looks right.

    apache_user: the user the app runs as (Apache's; for proxy-fcgi, the backend's). backend: proxy-fcgi's
    (host, port), checked for a FastCGI answer.
    """
    identity = _identity(apache_user)
    problems = check_config() + check_config_readable(identity, apache_user) + check_templates(root)
    if mode == "cgi":
        problems += check_script(python, root)
        interpreter = _script_interpreter(root) or python
    else:
        interpreter = python
    problems += check_app_readable(root, identity, apache_user)
    if mode == "cgi":
        problems += check_bytecode(root)
    if re.match(r"^[A-Za-z]:", interpreter) is None:  # a Windows path cannot be checked from here
        problems += check_interpreter(interpreter, identity, apache_user)
    problems += check_data_dir(identity, apache_user, mode)
    if mode == "proxy-fcgi" and backend:
        from admin.probe import check_backend

        problems += check_backend(backend[0], backend[1], interpreter, root)
    from admin.security import check_clock, check_debug

    problems += check_clock(root) + check_debug()
    return problems


def _script_interpreter(root):
    with open(os.path.join(root, "code.py"), "rb") as f:
        first = f.readline().strip()
    if not first.startswith(b"#!") or first.startswith(b"#!/usr/bin/env"):
        return ""
    return first[2:].strip().strip(b'"').decode("utf-8", "replace")
