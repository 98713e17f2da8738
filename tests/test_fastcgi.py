"""handlers/fastcgi.py spoken to as a web server would, on a Unix socket handed over as fd 0 (mod_fcgid's way)
and on TCP (mod_proxy_fcgi's): requests, the protocol's corners, a body the app does not read, a crashing app,
SIGTERM, and a slow request beside a quick one."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tests import fastcgi_client as fc
from tests.support import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = r'''
import json, os, sys, time
sys.path.insert(0, %(root)r)
from handlers import fastcgi

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/crash":
        raise RuntimeError("the app broke")
    if path == "/slow":
        time.sleep(1.5)
    if path == "/peek":  # reads 10 bytes of the body, whatever its size
        body = environ["wsgi.input"].read(10)
    else:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    seen = {name: environ[name] for name in ("PATH_INFO", "QUERY_STRING", "SCRIPT_NAME", "REQUEST_METHOD",
                                            "wsgi.url_scheme", "wsgi.multithread") if name in environ}
    seen["body"] = body.decode("utf-8")
    seen["long"] = environ.get("HTTP_X_LONG", "")
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Pid", str(os.getpid()))])
    return [json.dumps(seen).encode()]

for name in ("REQUEST_SECONDS", "MAX_THREADS", "WAKE_SECONDS"):  # tests shorten the server's bounds
    if "TEST_" + name in os.environ:
        setattr(fastcgi, name, type(getattr(fastcgi, name))(os.environ["TEST_" + name]))
fastcgi.serve(application, None if sys.argv[1] == "fd0" else ("127.0.0.1", int(sys.argv[1])))
'''


class Server:
    def __init__(self, tcp=False, env=None, preexec_fn=None):
        self.folder = folder = tempfile.mkdtemp(prefix="wechat-fastcgi-")
        script = os.path.join(folder, "app.py")
        with open(script, "w") as f:
            f.write(APP % {"root": ROOT})
        self.stderr = open(os.path.join(folder, "stderr"), "w+")
        if tcp:
            port = free_port()
            self.address = ("127.0.0.1", port)
            self.process = subprocess.Popen([sys.executable, script, str(port)], stderr=self.stderr,
                                            env=dict(os.environ, **(env or {})), preexec_fn=preexec_fn)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(self.address, timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
        else:
            self.address = os.path.join(folder, "socket")
            listener = socket.socket(socket.AF_UNIX)
            listener.bind(self.address)
            listener.listen(16)
            self.process = subprocess.Popen([sys.executable, script, "fd0"], stdin=listener.fileno(), stderr=self.stderr,
                                            env=dict(os.environ, **(env or {})), preexec_fn=preexec_fn)
            listener.close()

    def errors(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(params=["fd0", "tcp"])
def server(request):
    server = Server(tcp=request.param == "tcp")
    yield server
    server.stop()


def params(path="/", query="", body=b"", **extra):
    values = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
              "CONTENT_LENGTH": str(len(body)), "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
              "SERVER_PROTOCOL": "HTTP/1.1"}
    values.update(extra)
    return values


def test_a_request_gets_the_apps_status_headers_and_body(server):
    body = "你好 fastcgi".encode("utf-8")
    status, headers, answer, protocol = fc.fetch(server.address, params("/x", "a=1&b=2", body), body)
    assert (status, protocol) == (201, 0)
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(answer))  # Apache need not chunk it
    seen = json.loads(answer)
    assert seen["body"] == "你好 fastcgi" and seen["PATH_INFO"] == "/x" and seen["QUERY_STRING"] == "a=1&b=2"
    assert seen["wsgi.url_scheme"] == "http" and seen["wsgi.multithread"] == (server.address[0] == "127.0.0.1")
    assert server.errors() == ""  # nothing for Apache's error log on the normal path


def test_https_params_and_long_values_and_split_records(server):
    long_value = "v" * 70000  # a 4-byte length, and parameters spread over two records
    body = b"b" * 150000  # a body in three STDIN records
    with fc.connect(server.address) as sock:
        sock.sendall(fc.request_records(params(body=body, HTTPS="on", HTTP_X_LONG=long_value), body))
        status, _, answer, _ = fc.response_of(fc.read_records(sock))
    seen = json.loads(answer)
    assert status == 201 and seen["wsgi.url_scheme"] == "https"
    assert seen["long"] == long_value and len(seen["body"]) == 150000


def test_padded_records_are_read(server):
    encoded = fc.pairs(params(body=b"hello").items())
    records = (fc.record(fc.BEGIN_REQUEST, 1, struct.pack("!HB5x", 1, 0)) + fc.record(fc.PARAMS, 1, encoded, padding=5)
               + fc.record(fc.PARAMS, 1, padding=3) + fc.record(fc.STDIN, 1, b"hello", padding=3) + fc.record(fc.STDIN, 1))
    with fc.connect(server.address) as sock:
        sock.sendall(records)
        status, _, answer, _ = fc.response_of(fc.read_records(sock))
    assert status == 201 and json.loads(answer)["body"] == "hello"


def test_requests_in_turn_on_a_kept_connection(server):
    with fc.connect(server.address) as sock:
        for i in (1, 2, 3):
            body = ("message %d" % i).encode()
            sock.sendall(fc.request_records(params(body=body), body, request_id=i, keep=True))
            records = fc.read_records(sock)
            status, _, answer, protocol = fc.response_of(records)
            assert status == 201 and json.loads(answer)["body"] == "message %d" % i and protocol == 0
            assert {request_id for _, request_id, _ in records} == {i}


def test_a_second_request_at_once_is_refused_and_the_first_still_answered(server):
    with fc.connect(server.address) as sock:
        sock.sendall(fc.record(fc.BEGIN_REQUEST, 1, struct.pack("!HB5x", 1, 0))
                     + fc.record(fc.BEGIN_REQUEST, 2, struct.pack("!HB5x", 1, 0)))
        kind, request_id, content = fc.read_records(sock)[0]
        assert (kind, request_id, content[4]) == (fc.END_REQUEST, 2, 1)  # FCGI_CANT_MPX_CONN
        rest = fc.request_records(params(body=b"one"), b"one")
        sock.sendall(rest[16:])  # request 1's PARAMS and STDIN (its BEGIN_REQUEST is already sent)
        status, _, answer, _ = fc.response_of(fc.read_records(sock))
    assert status == 201 and json.loads(answer)["body"] == "one"


def test_management_records_and_unknown_roles(server):
    with fc.connect(server.address) as sock:
        sock.sendall(fc.record(fc.GET_VALUES, 0, fc.pairs([("FCGI_MPXS_CONNS", ""), ("FCGI_MAX_REQS", ""), ("X", "")])))
        kind, _, content = fc.read_records(sock)[0]
        values = fc.read_pairs(content)
        assert kind == fc.GET_VALUES_RESULT and values[b"FCGI_MPXS_CONNS"] == b"0"
        assert set(values) == {b"FCGI_MPXS_CONNS", b"FCGI_MAX_REQS"}
        # mod_fcgid's process serves one request at a time; the TCP backend one per thread
        assert values[b"FCGI_MAX_REQS"] == (b"64" if isinstance(server.address, tuple) else b"1")
        sock.sendall(fc.record(42, 0, b"?"))
        kind, _, content = fc.read_records(sock)[0]
        assert kind == fc.UNKNOWN_TYPE and content[0] == 42
        sock.sendall(fc.record(fc.BEGIN_REQUEST, 7, struct.pack("!HB5x", 2, 0)))  # the authorizer role
        kind, request_id, content = fc.read_records(sock)[0]
        assert (kind, request_id, content[4]) == (fc.END_REQUEST, 7, 3)  # FCGI_UNKNOWN_ROLE


def test_a_body_the_app_does_not_read_does_not_cost_the_answer(server):
    big = b"x" * (8 << 20)
    started = time.monotonic()
    with fc.connect(server.address) as sock:
        sender = threading.Thread(target=lambda: _send_quietly(sock, fc.request_records(params("/peek", body=big), big)))
        sender.start()
        status, _, answer, protocol = fc.response_of(fc.read_records(sock))
        sock.shutdown(socket.SHUT_RDWR)
        sender.join(10)
    assert status == 201 and json.loads(answer)["body"] == "x" * 10 and protocol == 0
    assert time.monotonic() - started < 5
    status, _, _, _ = fc.fetch(server.address, params(body=b"next"), b"next")
    assert status == 201


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass  # the server stopped reading once it had answered


def test_a_crashing_app_is_a_500_with_its_traceback_in_the_sites_error_log(server):
    with fc.connect(server.address) as sock:
        sock.sendall(fc.request_records(params("/crash")))
        records = fc.read_records(sock)
    status, _, answer, protocol = fc.response_of(records)
    assert (status, protocol) == (500, 0) and b"Traceback" not in answer
    # FCGI_STDERR: the web server writes it to the site's error log ("mod_fcgid: stderr: ...")
    stderr = b"".join(content for kind, _, content in records if kind == fc.STDERR).decode()
    assert "RuntimeError: the app broke" in stderr and "Traceback" in stderr
    assert records[-1][0] == fc.END_REQUEST
    assert fc.fetch(server.address, params(body=b"ok"), b"ok")[0] == 201


def test_garbage_closes_that_connection_only(server):
    with fc.connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert fc.read_records(sock) == []  # closed without an answer
    assert fc.fetch(server.address, params(body=b"ok"), b"ok")[0] == 201


def test_sigterm_lets_the_request_in_hand_finish_then_exits(server):
    result = {}
    thread = threading.Thread(target=lambda: result.update(answer=fc.fetch(server.address, params("/slow"))))
    thread.start()
    time.sleep(0.5)
    server.process.send_signal(signal.SIGTERM)
    thread.join(10)
    assert result["answer"][0] == 201
    assert server.process.wait(5) == 0


def test_sigterm_between_requests_exits_at_once(server):
    assert fc.fetch(server.address, params(body=b"ok"), b"ok")[0] == 201
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(5) == 0 and time.monotonic() - started < 2


def test_tcp_serves_a_quick_request_beside_a_slow_one():
    server = Server(tcp=True)
    try:
        slow = {}
        thread = threading.Thread(target=lambda: slow.update(answer=fc.fetch(server.address, params("/slow"))))
        thread.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert fc.fetch(server.address, params(body=b"quick"), b"quick")[0] == 201
        assert time.monotonic() - started < 1.0  # not queued behind the 1.5 s one
        thread.join(10)
        assert slow["answer"][0] == 201
    finally:
        server.stop()


def test_requests_pipelined_on_a_kept_connection_are_answered_in_order(server):
    with fc.connect(server.address) as sock:
        sock.sendall(b"".join(fc.request_records(params(body=b"m%d" % i), b"m%d" % i, request_id=i, keep=True)
                              for i in (1, 2, 3)))
        for i in (1, 2, 3):
            status, _, answer, _ = fc.response_of(fc.read_records(sock))
            assert status == 201 and json.loads(answer)["body"] == "m%d" % i


def test_an_abort_while_the_app_reads_the_body_ends_the_request_at_once(server):
    with fc.connect(server.address) as sock:
        records = fc.request_records(params(body=b"x" * 100), b"x" * 100)
        sock.sendall(records[: records.index(fc.record(fc.PARAMS, 1)) + 8])  # parameters done, no body yet
        time.sleep(0.2)  # the app is waiting for the body
        started = time.monotonic()
        sock.sendall(fc.record(fc.ABORT_REQUEST, 1))
        got = fc.read_records(sock)
    assert got[-1][0] == fc.END_REQUEST and time.monotonic() - started < 2
    assert fc.fetch(server.address, params(body=b"ok"), b"ok")[0] == 201


def test_connections_that_send_nothing_cannot_hold_every_thread():
    server = Server(tcp=True, env={"TEST_REQUEST_SECONDS": "1", "TEST_MAX_THREADS": "3", "TEST_WAKE_SECONDS": "0.2"})
    try:
        idle = [fc.connect(server.address) for _ in range(3)]  # every thread, waiting for a request
        started = time.monotonic()
        assert fc.fetch(server.address, params(body=b"ok"), b"ok")[0] == 201
        assert time.monotonic() - started < 3  # after the idle ones were dropped, not 60 s later
        for sock in idle:
            sock.close()
    finally:
        server.stop()


def test_running_out_of_descriptors_costs_connections_not_the_server():
    import resource

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))

    server = Server(tcp=True, env={"TEST_REQUEST_SECONDS": "1", "TEST_WAKE_SECONDS": "0.2"}, preexec_fn=few_descriptors)
    try:
        idle = []
        for _ in range(40):  # more than the process can accept
            try:
                idle.append(fc.connect(server.address))
            except OSError:
                break
        time.sleep(0.5)
        for sock in idle:
            sock.close()
        time.sleep(1.5)  # the accepted ones time out; the rest were never accepted
        assert server.process.poll() is None, server.errors()
        assert fc.fetch(server.address, params(body=b"ok"), b"ok")[0] == 201
    finally:
        server.stop()


def test_an_idle_server_writes_nothing_to_the_error_log():
    for tcp in (False, True):
        server = Server(tcp=tcp, env={"TEST_WAKE_SECONDS": "0.2", "TEST_REQUEST_SECONDS": "0.5"})
        try:
            with fc.connect(server.address):  # a connection left idle past REQUEST_SECONDS is closed quietly
                time.sleep(1.0)  # five wake-ups of the kernel's receive timeout
                assert fc.fetch(server.address, params(body=b"ok"), b"ok")[0] == 201
            assert server.errors() == ""
        finally:
            server.stop()


def test_a_refused_body_is_answered_before_the_rest_of_it_arrives(server):
    body = b"y" * 50000
    with fc.connect(server.address) as sock:
        records = fc.request_records(params("/peek", body=body), body, chunk=8192)  # as mod_proxy_fcgi sends it
        sock.sendall(records[:-30000])  # the app reads 10 bytes and answers; the rest of the body comes late
        started = time.monotonic()
        status, _, answer, _ = fc.response_of(fc.read_records(sock))
        assert status == 201 and time.monotonic() - started < 1.0
        sock.sendall(records[-30000:])
