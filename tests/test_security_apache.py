"""Attacks on the shipped vhosts through a real Apache in each Linux mode: what the access log keeps, huge,
chunked and short bodies, a forged signature with a body, static/code.py, and a broken or unreadable config."""

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from admin import simulator
from tests import apache
from tests.support import free_port
from tests.test_security import chunked_body, peak_rss_kib, post_head, raw_request

REASON = apache.why_not_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
TOKEN = "apacheSecurityToken7"


@pytest.fixture(scope="module", params=["cgi", "fcgid", "proxy-fcgi"])
def site(request):
    """The app deployed in one mode behind a running Apache, as `manage.py deploy` renders it."""
    python = apache.apache_venv()
    mode = request.param
    base, app = apache.make_app_copy(TOKEN)
    port = free_port()
    backend = apache.Backend(python, app) if mode == "proxy-fcgi" else None
    vhost = os.path.join(base, "vhost.conf")
    command = [python, os.path.join(app, "manage.py"), "deploy", "--mode", mode, "--server-name", "127.0.0.1",
               "--port", str(port), "--output", vhost]
    if backend:
        command += ["--backend-port", str(backend.port)]
    subprocess.run(command, check=True, capture_output=True, cwd=app, timeout=120,
                   env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(app, "config.ini")})
    server = apache.Apache(base, vhost, port).start()
    server.mode, server.app, server.backend = mode, app, backend
    yield server
    server.stop()
    if backend:
        backend.stop()


def still_serving(site):
    response = simulator.post_message(site.url, TOKEN, simulator.text("还在吗"))
    assert response.status == 200 and "吗在还".encode() in response.body


def test_the_access_log_keeps_no_query_string(site):
    assert simulator.post_message(site.url, TOKEN, simulator.text("x")).status == 200
    assert simulator.verify_url(site.url, TOKEN)[0]
    deadline = time.monotonic() + 5
    while True:  # Apache writes the line after the answer has gone
        with open(os.path.join(site.run_dir, "wechat-access.log"), encoding="utf-8") as f:
            log = f.read()
        if '"GET / HTTP/1.1" 200' in log or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert '"POST / HTTP/1.1" 200' in log and '"GET / HTTP/1.1" 200' in log
    assert "signature" not in log and "nonce" not in log and "?" not in log


def test_a_400_mib_chunked_body_is_refused_up_front(site):
    backend_pid = site.backend.process.pid if site.backend else None
    before = peak_rss_kib(backend_pid) if backend_pid else 0
    sent, status, _ = raw_request(site.port, post_head(simulator.signed_query(TOKEN), "Transfer-Encoding: chunked"),
                                  chunked_body(400 << 20))
    # mod_fcgid cannot refuse a chunked body that grows too large except with a 500, so its vhost refuses
    # chunked bodies before reading any (WeChat always sends Content-Length).
    assert status.split()[1] == ("411" if site.mode == "fcgid" else "413"), status
    assert sent < 16 << 20
    if backend_pid:
        assert peak_rss_kib(backend_pid) - before < 10 * 1024
    still_serving(site)


def test_a_content_length_over_the_limit_is_413_before_anything_reads_it(site):
    megabyte = b"x" * (1 << 20)
    sent, status, _ = raw_request(site.port, post_head(simulator.signed_query(TOKEN), "Content-Length: %d" % (2 << 20)),
                                  [megabyte] * 2)
    assert status.split()[1] == "413", status
    limit = simulator.post_message(site.url, TOKEN, simulator.text("x" * 66000))
    assert limit.status == 413  # just over, from whichever layer: the same number everywhere
    still_serving(site)


@pytest.mark.parametrize("framing", ["Content-Length", "chunked"])
def test_a_forged_signature_gets_a_whole_answer_whatever_the_body(site, framing):
    body = b"<xml>" + b"x" * 60000 + b"</xml>"  # under the limit: Apache hands it on
    head = "Content-Length: %d" % len(body) if framing == "Content-Length" else "Transfer-Encoding: chunked"
    pieces = [body] if framing == "Content-Length" else [b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"]
    sent, status, answer = raw_request(site.port, post_head(simulator.signed_query("forged"), head), pieces)
    if site.mode == "fcgid" and framing == "chunked":
        assert status.split()[1] == "411"
    else:
        assert status.split()[1] == "403" and b"signature check failed" in answer, (status, answer)
    still_serving(site)


def test_a_short_body_is_answered_promptly(site):
    """Content-Length larger than the body: once the client stops sending, Apache answers at once
    (mod_fcgid says 500: it turns every body it cannot read whole into one); a client that keeps
    waiting gets 408 after the vhost's 5 s body timeout instead of a process held for Apache's Timeout.
    The wait is tried live under CGI only (5 s each); every vhost carries the same timeout."""
    with open(os.path.join(site.run_dir, "..", "vhost.conf"), encoding="utf-8") as f:
        assert "RequestReadTimeout body=5,MinRate=500" in f.read()
    body = simulator.text("short")
    head = post_head(simulator.signed_query(TOKEN), "Content-Length: %d" % (len(body) + 500))
    results = {}

    def client(name, half_close):
        sock = socket.create_connection(("127.0.0.1", site.port))
        sock.sendall(head + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        sock.settimeout(15)
        started = time.monotonic()
        try:
            status = sock.recv(4096).split(b"\r\n")[0].decode()
        except OSError as e:
            status = str(e)
        results[name] = (status, time.monotonic() - started)
        sock.close()

    threads = [threading.Thread(target=client, args=("stops", True))]
    if site.mode == "cgi":
        threads.append(threading.Thread(target=client, args=("waits", False)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    status, seconds = results["stops"]
    assert status.split()[1] == ("500" if site.mode == "fcgid" else "400") and seconds < 2, results
    if "waits" in results:
        status, seconds = results["waits"]
        assert status.split()[1] == "408" and seconds < 8, results
    still_serving(site)


@pytest.mark.parametrize("path", ["static/code.py", "static/code.py/", "static/code.py/health", "static/x/code.py"])
def test_only_the_top_level_code_py_runs(site, path):
    response = simulator.http("GET", site.url + path)
    assert response.status in (403, 404), (path, response.status)
    assert "公众号".encode() not in response.body and b'"ok"' not in response.body


@pytest.mark.parametrize("fault", ["broken", "unreadable"])
def test_a_bad_config_gets_503_with_a_whole_body_and_no_path(site, fault):
    if fault == "unreadable" and site.mode == "proxy-fcgi":
        pytest.skip("the proxy-fcgi backend runs as root here, which reads any file")
    config = os.path.join(site.app, "config.ini")
    with open(config, encoding="utf-8") as f:
        good = f.read()
    try:
        if fault == "broken":
            with open(config, "w", encoding="utf-8") as f:
                f.write("[wechat\ntoken = %s\n" % TOKEN)
        else:
            os.chmod(config, 0o600)  # root's file: www-data cannot read it
        post = simulator.post_message(site.url, TOKEN, simulator.text("x" * 30000))  # a body to drain under CGI
        health = simulator.http("GET", site.url + "health")
    finally:
        with open(config, "w", encoding="utf-8") as f:
            f.write(good)
        os.chmod(config, 0o644)
    state = "invalid" if fault == "broken" else "unreadable"
    assert post.status == 503 and post.body == (
        "server not configured (config: %s); see the server's error log\n" % state).encode()
    assert health.status == 503 and json.loads(health.body)["config"] == state
    for response in (post, health):
        assert site.app.encode() not in response.body and b"Traceback" not in response.body
    log = site.error_log()
    if site.mode != "proxy-fcgi":  # the backend's log is its own stderr
        assert config in log and "Traceback" not in log
        if fault == "unreadable":
            assert "as user www-data" in log and "chgrp" in log
    still_serving(site)
