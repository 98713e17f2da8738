"""Test helpers: load code.py as a module, call the app in-process, run the real dev server."""

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TOKEN = "testtoken"


def load_server():
    """code.py as a module. It cannot be imported as `code`: that name is the standard library's."""
    if "wechat_server" not in sys.modules:
        spec = importlib.util.spec_from_file_location("wechat_server", os.path.join(ROOT, "code.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["wechat_server"] = module
        spec.loader.exec_module(module)
    return sys.modules["wechat_server"]


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".xml"), "rb") as f:
        return f.read()


def call(method, query=None, body=None, path="/", headers=None, environ=None):
    """One request through the WSGI `application` in-process (bytes bodies, as Apache sends them).

    Returns a storage with status, headers (dict) and data (bytes), like web.py's app.request,
    which cannot carry a body that is not UTF-8 text.
    """
    from io import BytesIO
    from wsgiref.util import setup_testing_defaults

    import web

    extra_environ = environ
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": urllib.parse.unquote(path),
        "QUERY_STRING": urllib.parse.urlencode(query or {}),
        "wsgi.input": BytesIO(body or b""),
    }
    if body is not None:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.update(extra_environ or {})  # REMOTE_ADDR, HTTPS ...
    setup_testing_defaults(environ)
    response = web.storage()

    def start_response(status, response_headers, exc_info=None):
        response.status = status
        response.headers = dict(response_headers)
        response.header_list = list(response_headers)  # repeated headers (Set-Cookie) kept

    response.data = b"".join(load_server().application(environ, start_response))
    return response


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url, timeout=15.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("server exited with %s" % process.returncode)
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing answered at %s within %ss" % (url, timeout))


def wait_for_port(port, timeout=15.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process is not None and process.poll() is not None:
            raise RuntimeError("server exited with %s" % process.returncode)
        time.sleep(0.05)
    raise RuntimeError("nothing listened on port %d within %ss" % (port, timeout))


def stop_process(process, grace=5):
    """Terminate, then kill if it does not go within `grace` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LoopbackHTTPServer:
    """A threaded HTTP server on 127.0.0.1 (any free port) for fake services; `url` has no trailing slash."""

    def __init__(self, handler_class):
        import threading
        from http.server import ThreadingHTTPServer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class DevServer:
    """`python code.py 127.0.0.1:PORT` in a subprocess, with its own environment."""

    def __init__(self, env, args=(), cwd=None):
        self.cwd = cwd
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.env = dict(os.environ, **env)
        self.args = list(args)
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "code.py"), *self.args, "127.0.0.1:%d" % self.port],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
        )
        wait_for_http(self.url + "health", process=self.process)
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        stop_process(self.process)
        out, err = self.process.communicate() if self.process else (b"", b"")
        self.stdout, self.stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def fill_disk(path):
    """Write zeros to a new file at `path` until its file system is full (ENOSPC)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # ENOSPC: the disk is full now
        pass
    finally:
        os.close(fd)


def modules_loaded_by_a_plain_post(prefixes):
    """The modules under these top-level or dotted prefixes that a fresh process has loaded after answering
    one plain text message through code.py's application (what a CGI request would pay for)."""
    code = (
        "import sys, importlib.util as u; sys.path.insert(0, %r)\n"
        "s = u.spec_from_file_location('m', %r); m = u.module_from_spec(s); s.loader.exec_module(m)\n"
        "from tests.support import call\n"
        "from admin import simulator\n"
        "r = call('POST', simulator.signed_query('testtoken'), simulator.text('hi'))\n"
        "assert r.status == '200 OK', r\n"
        "print('\\n'.join(sorted(n for n in sys.modules if any(n == p or n.startswith(p + '.') for p in %r))))\n"
    ) % (ROOT, os.path.join(ROOT, "code.py"), tuple(prefixes))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()
