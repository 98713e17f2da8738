"""Through a real Apache on 127.0.0.1: CGI latency, mod_fcgid throughput and p99, FastCGI memory.

    sudo python3 bench/apache_bench.py [cgi|fcgid|memory|all] [--seconds 10] [--connections 8]

Each figure is measured beside its reference in the same run (these machines drift):
  cgi     median latency of a signed text message vs a CGI script that only imports web.py   target <= 1.2x
  fcgid   requests/s of distinct signed text messages (message log on) vs a bare WSGI hello    target >= 0.7x
          under the same Apache config (wrk, bounded: N connections for S seconds); p99 too
  memory  RSS of a warm FastCGI process vs a process that only imports web.py                 target <= 1.3x
Needs root, apache2 + libapache2-mod-fcgid, and wrk (apt-get install wrk) for fcgid.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import apache  # noqa: E402
from tests.support import free_port  # noqa: E402
from admin import simulator  # noqa: E402

TOKEN = "benchToken"
IMPORT_WEB_FLOOR = '''#!{python}
import os
import sys

import web  # noqa: F401  (the floor: what any web.py CGI pays)

sys.stdin.buffer.read(int(os.environ.get("CONTENT_LENGTH") or 0))  # unread input makes mod_cgid reset
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nsuccess")
'''
BARE_WSGI = '''#!{python}
"""A bare WSGI hello-world behind flup, served the way code.py is (FcgidWrapper ... fcgi)."""
from flup.server.fcgi import WSGIServer


def application(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"success"]


WSGIServer(application, multiplexed=False, debug=False).run()
'''
WRK_SCRIPT = '''
local counter = 0
local thread_id = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  thread_id = id or 1
end
function request()
  counter = counter + 1
  local body = string.format("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[oBench%d]]></FromUserName>"
    .. "<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[bench %d 你好]]></Content>"
    .. "<MsgId>%d</MsgId></xml>", thread_id, os.time(), counter, (os.time() %% 100000) * 100000000 + thread_id * 10000000 + counter)
  return wrk.format("POST", "{path}", {{["Content-Type"] = "text/xml"}}, body)
end
'''


def deployed(mode, script=None):
    """An app copy (its code.py replaced by `script` for a reference) deployed in `mode` behind Apache."""
    python = apache.apache_venv()
    base, app = apache.make_app_copy(TOKEN)
    if script:
        with open(os.path.join(app, "code.py"), "w") as f:
            f.write(script.format(python=python))
        os.chmod(os.path.join(app, "code.py"), 0o755)
    port = free_port()
    vhost = os.path.join(base, "vhost.conf")
    command = [python, os.path.join(app, "manage.py"), "deploy", "--mode", mode, "--port", str(port),
               "--server-name", "127.0.0.1", "--output", vhost]
    if script:
        command.append("--dry-run")  # keep the reference script's own first line
    subprocess.run(command, check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(app, "config.ini")})
    server = apache.Apache(base, vhost, port).start()
    server.app, server.python, server.base = app, python, base
    return server


def cgi_latency(requests=60):
    ours, floor = deployed("cgi"), deployed("cgi", IMPORT_WEB_FLOOR)
    try:
        times = {"ours": [], "floor": []}
        query = simulator.signed_query(TOKEN)
        for i in range(requests):  # interleaved, so drift hits both alike
            for name, server in (("ours", ours), ("floor", floor)):
                body = simulator.text("cgi bench %d" % i)
                started = time.perf_counter()
                response = simulator.http("POST", server.url, query, body)
                times[name].append((time.perf_counter() - started) * 1000)
                assert response.status == 200, response
        ours_ms, floor_ms = statistics.median(times["ours"]), statistics.median(times["floor"])
        ratio = ours_ms / floor_ms
        print("cgi     median %.1f ms vs import-web floor %.1f ms: %.2fx (target <= 1.2x: %s)"
              % (ours_ms, floor_ms, ratio, "meets" if ratio <= 1.2 else "MISSES"))
        return ratio
    finally:
        ours.stop()
        floor.stop()


def wrk_run(url, seconds, connections, script):
    result = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", "%ds" % seconds, "--latency", "-s", script, url],
                            capture_output=True, text=True, timeout=seconds + 60)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", result.stdout)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    return rate, p99_ms, int(errors.group(1)) if errors else 0


def fcgid_throughput(seconds, connections):
    if not shutil.which("wrk"):
        print("fcgid   skipped: wrk is not installed (apt-get install wrk)")
        return None
    ours, bare = deployed("fcgid"), deployed("fcgid", BARE_WSGI)
    try:
        query = "&".join("%s=%s" % kv for kv in simulator.signed_query(TOKEN).items())
        script = os.path.join(tempfile.mkdtemp(), "messages.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT.replace("%%", "%").format(path="/?" + query))
        for server in (ours, bare):  # warm: Apache starts the FastCGI processes
            wrk_run(server.url, 5, connections, script)
        ours_rate, ours_p99, ours_errors = wrk_run(ours.url, seconds, connections, script)
        bare_rate, bare_p99, bare_errors = wrk_run(bare.url, seconds, connections, script)
        ratio = ours_rate / bare_rate
        print("fcgid   %.0f req/s (p99 %.1f ms, %d errors) vs bare WSGI %.0f req/s (p99 %.1f ms): %.2fx (target >= 0.7x: %s)"
              % (ours_rate, ours_p99, ours_errors, bare_rate, bare_p99, ratio, "meets" if ratio >= 0.7 else "MISSES"))
        return ours
    finally:
        bare.stop()


def rss_kb(pid):
    with open("/proc/%s/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def memory(server=None):
    own = server is None
    server = server or deployed("fcgid")
    try:
        for i in range(200):  # warm: every module a message path uses is loaded
            simulator.post_message(server.url, TOKEN, simulator.text("warm %d" % i))
        pids = subprocess.run(["pgrep", "-f", os.path.join(server.app, "code.py") + " fcgi"],
                              capture_output=True, text=True).stdout.split()
        ours = max(rss_kb(pid) for pid in pids)
        reference = subprocess.Popen([server.python, "-c", "import web, time; time.sleep(30)"])
        time.sleep(1.5)
        floor = rss_kb(reference.pid)
        reference.kill()
        ratio = ours / floor
        print("memory  warm FastCGI process %.1f MiB vs import-web %.1f MiB: %.2fx (target <= 1.3x: %s)"
              % (ours / 1024, floor / 1024, ratio, "meets" if ratio <= 1.3 else "MISSES"))
        return ratio
    finally:
        if own or server is not None:
            server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all", choices=("cgi", "fcgid", "memory", "all"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)
    reason = apache.why_not_available()
    if reason:
        print("cannot run: %s" % reason)
        return 2
    if args.what in ("cgi", "all"):
        cgi_latency()
    server = None
    if args.what in ("fcgid", "all"):
        server = fcgid_throughput(args.seconds, args.connections)
    if args.what in ("memory", "all"):
        memory(server)
    elif server:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
