"""How code.py chooses its mode, and the CGI mode run for real as Apache runs it (a subprocess)."""

import os
import socket
import subprocess
import sys

import pytest

from tests.support import ROOT, TOKEN, load_server
from admin import simulator
from wechat.xmlparse import parse_xml

server = load_server()


@pytest.mark.parametrize(
    "args, environ, expected",
    [
        ([], {}, ("dev", ("0.0.0.0", 8080))),
        (["8081"], {}, ("dev", ("0.0.0.0", 8081))),
        (["127.0.0.1:9090"], {}, ("dev", ("127.0.0.1", 9090))),
        (["fcgi"], {}, ("fcgi", None)),
        (["fcgi", "127.0.0.1:9000"], {}, ("fcgi", ("127.0.0.1", 9000))),
        ([], {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST"}, ("cgi", None)),
        (["fcgi"], {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET"}, ("fcgi", None)),
    ],
)
def test_choose_mode(args, environ, expected):
    assert server.choose_mode(args, environ) == expected


def test_a_bad_address_is_a_clear_error():
    with pytest.raises(SystemExit, match="not a port"):
        server.choose_mode(["localhost:http"], {})


def run_cgi(query, body=b"", method="POST", path_info=None, extra_env=None):
    """Run code.py the way Apache's mod_cgi does: CGI variables in the environment, body on stdin."""
    env = cgi_environ(query, body, method, path_info, extra_env)
    result = subprocess.run([sys.executable, os.path.join(ROOT, "code.py")], input=body, env=env,
                            capture_output=True, timeout=30)
    head, _, content = result.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1"), content, result.stderr.decode("utf-8", "replace")


def cgi_environ(query, body=b"", method="POST", path_info=None, extra_env=None):
    env = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "Apache/2.4",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "/wechat",
        "QUERY_STRING": "&".join("%s=%s" % kv for kv in query.items()),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "text/xml",
        "LANG": "C",  # a non-UTF-8 locale: the body must still arrive as bytes
        "LC_ALL": "C",
        "WECHAT_CONFIG": os.environ["WECHAT_CONFIG"],
    }
    if path_info is not None:
        env["PATH_INFO"] = path_info
    env.update(extra_env or {})
    return env


@pytest.mark.parametrize("path_info", [None, "", "/"], ids=["no-path-info", "empty-path-info", "slash"])
def test_cgi_answers_a_chinese_message_with_bytes_intact(path_info):
    body = simulator.text("你好，世界 abc")
    head, content, _ = run_cgi(simulator.signed_query(TOKEN), body, path_info=path_info)
    assert head.startswith("Status: 200 OK")
    assert "Content-Type: application/xml; charset=utf-8" in head
    assert parse_xml(content)["Content"] == "cba 界世，好你"


def test_cgi_verification_and_forgery():
    head, content, _ = run_cgi(simulator.signed_query(TOKEN, echostr="12345"), method="GET")
    assert head.startswith("Status: 200") and content == b"12345"
    head, _, _ = run_cgi(simulator.signed_query("forged"), simulator.text("x"))
    assert head.startswith("Status: 403")


def test_cgi_without_a_token_is_503_and_the_error_log_says_why(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken =\n")
    head, content, stderr = run_cgi(simulator.signed_query(TOKEN), simulator.text("x"),
                                    extra_env={"WECHAT_CONFIG": str(config)})
    assert head.startswith("Status: 503")
    assert b"Traceback" not in content
    assert "WeChat token is not set" in stderr and "WECHAT_TOKEN" in stderr


def test_nothing_but_the_response_reaches_stdout():
    head, content, _ = run_cgi(simulator.signed_query(TOKEN), simulator.event("unsubscribe"))
    assert content == b"success"


def test_fd0_listening_socket_is_detected_as_fastcgi():
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "wechat-test-%d.sock" % os.getpid())
    if os.path.exists(path):
        os.unlink(path)
    listener.bind(path)
    listener.listen(1)
    try:
        code = "import sys; sys.argv=['code.py']; import importlib.util as u; " \
               "s=u.spec_from_file_location('m', %r); m=u.module_from_spec(s); s.loader.exec_module(m); " \
               "print(m.choose_mode([], {}))" % os.path.join(ROOT, "code.py")
        result = subprocess.run([sys.executable, "-c", code], stdin=listener.fileno(), capture_output=True,
                                text=True, timeout=30, env=dict(os.environ))
        assert result.stdout.strip() == "('fcgi', None)", result.stderr
    finally:
        listener.close()
        os.unlink(path)


@pytest.mark.parametrize("request_method, serve, expected", [
    ("POST", "wsgiref.handlers:CGIHandler.run", "False"),  # one request: no collector (CGI start-up cost)
    (None, "handlers.devserver:serve", "True"),  # the dev server lives on: it keeps its collector
])
def test_only_a_cgi_process_runs_without_the_garbage_collector(request_method, serve, expected):
    module, _, attribute = serve.partition(":")
    owner, _, name = attribute.rpartition(".")
    code = ("import gc, importlib, runpy, sys; m = importlib.import_module(%r); target = getattr(m, %r) if %r else m\n"
            "setattr(target, %r, lambda *a, **k: print('collector on:', gc.isenabled()))\n"
            "sys.argv = ['code.py', '127.0.0.1:1']; runpy.run_path(%r, run_name='__main__')"
            % (module, owner, owner, name, os.path.join(ROOT, "code.py")))
    env = dict(os.environ, GATEWAY_INTERFACE="CGI/1.1")
    if request_method:
        env["REQUEST_METHOD"] = request_method
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env,
                            stdin=subprocess.DEVNULL, cwd=ROOT)
    assert "collector on: %s" % expected in result.stdout, result.stderr


def test_each_cgi_request_reads_config_ini_as_it_is_now_and_the_environment_wins(tmp_path):
    config = tmp_path / "config.ini"
    env = {"WECHAT_CONFIG": str(config)}

    def status(token, extra_env=None):
        head, _, _ = run_cgi(simulator.signed_query(token), simulator.text("hi"), extra_env=dict(env, **(extra_env or {})))
        return head.split("\r\n")[0]

    def write(token):
        config.write_text("[wechat]\ntoken = %s\n\n[server]\ndata_dir = %s\n" % (token, tmp_path / "var"))

    write("firstToken1")
    assert status("firstToken1") == "Status: 200 OK"
    write("secondToken2")  # the admin edits config.ini: the very next request sees it
    assert (status("firstToken1"), status("secondToken2")) == ("Status: 403 Forbidden", "Status: 200 OK")
    assert status("envToken3", {"WECHAT_TOKEN": "envToken3"}) == "Status: 200 OK"
    assert status("secondToken2", {"WECHAT_TOKEN": "envToken3"}) == "Status: 403 Forbidden"


def test_the_answer_leaves_before_the_cgi_process_has_finished_exiting(tmp_path):
    """Apache (mod_cgid) ends the response when stdin/stdout close: that must not wait for Python's exit."""
    (tmp_path / "slow_exit.py").write_text(
        "import atexit, time\n"
        "def ending():\n"
        "    time.sleep(1.5)\n"
        "    open(%r, 'w').write('exit work done')\n"
        "atexit.register(ending)\n" % str(tmp_path / "exited"))
    body = simulator.text("hi")
    env = cgi_environ(simulator.signed_query(TOKEN), body,
                      extra_env={"WECHAT_SKILL_MODULES": "slow_exit", "PYTHONPATH": str(tmp_path)})
    with subprocess.Popen([sys.executable, os.path.join(ROOT, "code.py")], env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        process.stdin.write(body)
        process.stdin.close()
        answer = process.stdout.read()  # until EOF: what Apache waits for
        still_running = process.poll() is None
        assert process.wait(timeout=30) == 0
    assert answer.startswith(b"Status: 200 OK") and b"<Content><![CDATA[ih]]></Content>" in answer
    assert still_running
    assert (tmp_path / "exited").read_text() == "exit work done"  # the exit itself still runs in full
