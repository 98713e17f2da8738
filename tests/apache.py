"""A real Apache 2.4 on 127.0.0.1 for tests: an app copy it may read, a venv it may run, its own config.

Apache's user (www-data) cannot read a Python under /root (mode 700), so the app runs on a venv
built from the system's /usr/bin/python3, cached under /var/tmp between runs.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile

from admin.deploy import APP_PACKAGES
from tests.support import ROOT, free_port, stop_process, wait_for_http, wait_for_port

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
APP_PARTS = ("code.py", "manage.py", *APP_PACKAGES, "templates", "static", "apache", "requirements.txt",
             "config.example.ini")
SYSTEM_PYTHON = "/usr/bin/python3"


def why_not_available():
    """A reason to skip, or None when a real Apache test can run here."""
    if not os.path.exists(APACHE):
        return "apache2 is not installed (bash tests/run.sh installs it as root)"
    if not os.path.exists(os.path.join(MODULES, "mod_fcgid.so")):
        return "libapache2-mod-fcgid is not installed"
    if os.geteuid() != 0:
        return "Apache tests start Apache as root so that it runs the app as www-data"
    if not os.path.exists(SYSTEM_PYTHON):
        return "no system Python at /usr/bin/python3 for a venv www-data can read"
    return None


def apache_venv():
    """A venv on the system Python with requirements.txt installed, readable by everyone."""
    return system_venv("requirements.txt", "wechat-apache-venv")


def system_venv(requirements, prefix):
    """A venv on the system Python (www-data can run it) with ROOT/requirements installed, made once per
    version of that file; returns its python."""
    with open(os.path.join(ROOT, requirements), "rb") as f:
        digest = hashlib.sha1(f.read()).hexdigest()[:10]
    home = "/var/tmp/%s-%s" % (prefix, digest)
    python = os.path.join(home, "bin", "python")
    if not os.path.exists(os.path.join(home, ".complete")):
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", home], check=True, capture_output=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
                        os.path.join(ROOT, requirements)], check=True, capture_output=True, timeout=600, cwd=ROOT)
        subprocess.run(["chmod", "-R", "a+rX", home], check=True)
        open(os.path.join(home, ".complete"), "w").close()
    return python


def make_app_copy(token):
    """A copy of the app where www-data can read it, with secrets and private folders to probe for."""
    base = tempfile.mkdtemp(prefix="wechat-apache-")
    os.chmod(base, 0o755)
    app = os.path.join(base, "app")
    os.mkdir(app)
    for part in APP_PARTS:
        source = os.path.join(ROOT, part)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(app, part), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, os.path.join(app, part))
    with open(os.path.join(app, "config.ini"), "w") as f:
        f.write("[wechat]\ntoken = %s\n" % token)
    for private in (".git", "tests", "var"):
        os.makedirs(os.path.join(app, private), exist_ok=True)
    with open(os.path.join(app, ".git", "config"), "w") as f:
        f.write("[core]\nsecret-marker = git\n")
    with open(os.path.join(app, "tests", "secret.txt"), "w") as f:
        f.write("secret-marker tests\n")
    with open(os.path.join(app, "var", "messages.log"), "w") as f:
        f.write("secret-marker data\n")
    subprocess.run(["chmod", "-R", "a+rX", app], check=True)
    subprocess.run(["chown", "-R", "www-data:www-data", os.path.join(app, "var")], check=True)
    os.chmod(os.path.join(app, "config.ini"), 0o644)
    return base, app


HTTPD_CONF = """\
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {run}/httpd.pid
DefaultRuntimeDir {run}
Mutex file:{run}
ErrorLog {run}/error.log
LogLevel warn
User www-data
Group www-data
Define APACHE_LOG_DIR {run}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_host_module {modules}/mod_authz_host.so
LoadModule mime_module {modules}/mod_mime.so
LoadModule alias_module {modules}/mod_alias.so
# Debian enables mod_reqtimeout by default; the vhosts set its body timeout.
LoadModule reqtimeout_module {modules}/mod_reqtimeout.so
LoadModule cgid_module {modules}/mod_cgid.so
LoadModule fcgid_module {modules}/mod_fcgid.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_fcgi_module {modules}/mod_proxy_fcgi.so
TypesConfig /etc/mime.types
ScriptSock {run}/cgisock
FcgidIPCDir {run}/fcgid
FcgidProcessTableFile {run}/fcgid_shm
{extra}Include {vhost}
"""


class Apache:
    """apache2 -DFOREGROUND with a generated httpd.conf that includes one rendered vhost."""

    def __init__(self, base, vhost_path, port, more_ports=(), tls=False):
        """tls: the vhost on `port` speaks https (mod_ssl is loaded); more_ports: other ports to listen on."""
        self.run_dir = os.path.join(base, "run")
        os.makedirs(os.path.join(self.run_dir, "fcgid"), exist_ok=True)
        subprocess.run(["chown", "www-data:www-data", os.path.join(self.run_dir, "fcgid")], check=True)
        self.port = port
        self.url = "%s://127.0.0.1:%d/" % ("https" if tls else "http", port)
        self.conf = os.path.join(self.run_dir, "httpd.conf")
        extra = "".join("Listen 127.0.0.1:%d\n" % p for p in more_ports)
        if tls:
            extra += "LoadModule ssl_module {0}/mod_ssl.so\nLoadModule socache_shmcb_module {0}/mod_socache_shmcb.so\n" \
                     "SSLSessionCache shmcb:{1}/ssl_scache(512000)\n".format(MODULES, self.run_dir)
        with open(self.conf, "w") as f:
            f.write(HTTPD_CONF.format(port=port, run=self.run_dir, modules=MODULES, vhost=vhost_path, extra=extra))
        self.tls = tls
        self.process = None

    def check_syntax(self):
        return subprocess.run([APACHE, "-t", "-f", self.conf], capture_output=True, text=True)

    def start(self):
        self.process = subprocess.Popen([APACHE, "-f", self.conf, "-DFOREGROUND"], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        if self.tls:  # a self-signed certificate: the port answering is the sign of life
            wait_for_port(self.port, timeout=20, process=self.process)
        else:
            wait_for_http(self.url + "static/style.css", timeout=20, process=self.process)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def error_log(self):
        text = ""
        for name in ("error.log", "wechat-error.log"):
            path = os.path.join(self.run_dir, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    text += f.read()
        return text


class Backend:
    """`python code.py fcgi 127.0.0.1:PORT`, the FastCGI backend mod_proxy_fcgi talks to."""

    def __init__(self, python, app):
        self.port = free_port()
        self.process = subprocess.Popen([python, os.path.join(app, "code.py"), "fcgi", "127.0.0.1:%d" % self.port],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=app,
                                        env={"PATH": "/usr/bin:/bin"})  # its own config.ini, as deployed
        wait_for_port(self.port, process=self.process)

    def stop(self):
        stop_process(self.process, grace=10)
