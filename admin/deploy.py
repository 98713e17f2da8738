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
FCGID_ON_WINDOWS = (
    "mod_fcgid cannot run this app on Windows: it hands the child a named pipe and flup speaks FastCGI "
    "only over sockets. Use --mode proxy-fcgi (flup on TCP 127.0.0.1 behind mod_proxy_fcgi)."
)


class DeployError(Exception):
    """A vhost that cannot be rendered as asked; the message says what to do instead."""


def apache_path(path):
    """Apache on Windows wants forward slashes too."""
    return path.replace("\\", "/")


def render_vhost(mode, flavour, root=ROOT, python=sys.executable, server_name=SHIPPED_SERVER_NAME,
                 port=80, backend_port=9000, admin_allow=()):
    if mode not in MODES or flavour not in FLAVOURS:
        raise DeployError("mode must be one of %s and flavour one of %s" % (", ".join(MODES), ", ".join(FLAVOURS)))
    if mode == "fcgid" and flavour == "wamp":
        raise DeployError(FCGID_ON_WINDOWS)
    root, python = apache_path(os.path.abspath(root) if flavour == "debian" else root), apache_path(python)
    if mode == "fcgid" and (" " in root or " " in python):
        raise DeployError("FcgidWrapper cannot take paths with spaces (%s, %s): move the app or the venv." % (root, python))
    with open(os.path.join(ROOT, "apache", "%s.%s.conf" % (mode, flavour)), encoding="utf-8") as f:
        text = f.read()
    shipped = SHIPPED[flavour]
    # The shipped Python path contains the shipped root: replace it first.
    text = text.replace(shipped["python"], python).replace(shipped["root"], root.rstrip("/"))
    text = text.replace(SHIPPED_SERVER_NAME, server_name)
    text = text.replace("<VirtualHost *:80>", "<VirtualHost *:%d>" % int(port))
    text = text.replace(SHIPPED_BACKEND, "127.0.0.1:%d" % int(backend_port))
    if admin_allow:
        text = text.replace("</VirtualHost>", console_location(admin_allow) + "</VirtualHost>")
    header = "# Rendered by `manage.py deploy --mode %s --flavour %s` for %s\n" % (mode, flavour, root)
    if int(port) not in (80, 443):
        header += "# Apache must listen on this port: add `Listen %d` (Debian: /etc/apache2/ports.conf).\n" % int(port)
    return header + text


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
                "Apache's user %s cannot run %s (%s is closed to it), e.g. a Python under root's home: build a "
                "venv from a system Python (`/usr/bin/python3 -m venv /var/www/wechat/.venv`) and deploy with it."
                % (user, python, blocked))
            return problems
    if os.path.exists(python):
        result = subprocess.run([python, "-c", "import web, flup"], capture_output=True, text=True, timeout=60)
        if result.returncode:
            problems.append("%s cannot import web.py and flup: run `%s -m pip install -r %s`." %
                            (python, python, os.path.join(ROOT, "requirements.txt")))
    return problems


def check_data_dir(identity, user):
    try:
        data_dir = load_settings().data_dir
    except ConfigError:
        return []
    target = data_dir
    while not os.path.exists(target):
        target = os.path.dirname(target)
    if identity is None:
        writable = os.access(target, os.W_OK)
    else:
        writable = first_blocked(target, identity, 3) is None
    if writable:
        return []
    return ["The data dir %s is not writable by %s: run `mkdir -p %s && chown %s %s`." %
            (data_dir, user, data_dir, user, data_dir)]


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
        return ["Apache's user %s cannot read the app (%s is closed to it): run `chmod o+rx` on the folders "
                "and `chmod o+r` on the files, or move the app under /var/www." % (user, blocked)]
    return []


def run_checks(mode, python=sys.executable, apache_user="www-data", root=ROOT):
    """Every problem found, one sentence each with its fix; [] when the deployment looks right."""
    identity = _identity(apache_user) if mode in ("cgi", "fcgid") else None
    problems = check_config() + check_templates(root)
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
    problems += check_data_dir(identity, apache_user)
    return problems


def _script_interpreter(root):
    with open(os.path.join(root, "code.py"), "rb") as f:
        first = f.readline().strip()
    if not first.startswith(b"#!") or first.startswith(b"#!/usr/bin/env"):
        return ""
    return first[2:].strip().strip(b'"').decode("utf-8", "replace")
