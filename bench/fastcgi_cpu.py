"""CPU a FastCGI server spends per request, ours (handlers/fastcgi.py) beside flup, for a bare WSGI hello.

    python3 bench/fastcgi_cpu.py [--requests 8000] [--rounds 3]     (flup from requirements-bench.txt)

Each server runs as mod_fcgid runs it: a Unix listening socket as fd 0, a new connection per request,
the ~30 parameters Apache sends. The client here plays mod_fcgid; the figure is the server process's
user and system time (/proc/PID/stat) over the requests, so the client's own cost is not in it.
Linux only. Rounds alternate the two servers (these machines drift); medians.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import fastcgi_client  # noqa: E402

SERVER = '''
import sys
sys.path.insert(0, %(root)r)


def application(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"success"]


if sys.argv[1] == "flup":
    from flup.server.fcgi import WSGIServer

    WSGIServer(application, multiplexed=False, debug=False).run()
else:
    from handlers import fastcgi

    fastcgi.serve(application)
'''

# What Apache 2.4 with mod_fcgid sent for a POST in the test harness, less the variable parts.
APACHE_PARAMS = {
    "HTTP_HOST": "127.0.0.1:8080", "HTTP_USER_AGENT": "Mozilla/4.0", "CONTENT_TYPE": "text/xml",
    "PATH": "/usr/local/bin:/usr/bin:/bin", "SERVER_SIGNATURE": "", "SERVER_SOFTWARE": "Apache/2.4 (Debian)",
    "SERVER_NAME": "127.0.0.1", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "8080", "REMOTE_ADDR": "127.0.0.1",
    "DOCUMENT_ROOT": "/var/www/wechat/static", "REQUEST_SCHEME": "http", "CONTEXT_PREFIX": "",
    "CONTEXT_DOCUMENT_ROOT": "/var/www/wechat/static", "SERVER_ADMIN": "webmaster@localhost",
    "SCRIPT_FILENAME": "/var/www/wechat/code.py", "REMOTE_PORT": "51234", "GATEWAY_INTERFACE": "CGI/1.1",
    "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": "POST", "REQUEST_URI": "/?signature=...",
    "QUERY_STRING": "signature=3f2a8c9d0e1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d&timestamp=1763700000&nonce=123456789",
    "SCRIPT_NAME": "", "PATH_INFO": "/", "PATH_TRANSLATED": "/var/www/wechat/static/", "FCGI_ROLE": "RESPONDER",
    "UNIQUE_ID": "aB3xQ", "CONTENT_LENGTH": "13",
}


def process_times(pid):
    """(user, system) seconds of a process."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def measure(which, requests, folder):
    script = os.path.join(folder, "server.py")
    with open(script, "w") as f:
        f.write(SERVER % {"root": ROOT})
    path = os.path.join(folder, "socket-%s" % which)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    process = subprocess.Popen([sys.executable, script, which], stdin=listener.fileno())
    listener.close()
    try:
        body = b"<xml>hi</xml>"
        for _ in range(200):  # warm
            fastcgi_client.fetch(path, APACHE_PARAMS, body)
        user, system = process_times(process.pid)
        statuses = [fastcgi_client.fetch(path, APACHE_PARAMS, body)[0] for _ in range(requests)]
        assert set(statuses) == {200}, set(statuses)
        user_after, system_after = process_times(process.pid)
        return (user_after - user) / requests * 1e6, (system_after - system) / requests * 1e6
    finally:
        process.kill()
        process.wait()
        os.unlink(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="wechat-fastcgi-bench-")
    results = {"flup": [], "ours": []}
    for round_ in range(args.rounds):
        for which in ("flup", "ours") if round_ % 2 == 0 else ("ours", "flup"):
            results[which].append(measure(which, args.requests, folder))
    print("server CPU per request, medians of %d rounds of %d requests (user + system)" % (args.rounds, args.requests))
    totals = {}
    for which, runs in results.items():
        user = statistics.median(r[0] for r in runs)
        system = statistics.median(r[1] for r in runs)
        totals[which] = statistics.median(r[0] + r[1] for r in runs)
        print("  %-5s %5.0f us  (user %3.0f, system %3.0f)" % (which, totals[which], user, system))
    print("ours/flup: %.2fx" % (totals["ours"] / totals["flup"]))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
