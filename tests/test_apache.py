"""A real Apache 2.4 on 127.0.0.1 in each Linux mode, configured by `manage.py deploy`, driven by `manage.py simulate`."""

import os
import subprocess

import pytest

from tests import apache
from tests.support import free_port
from admin import simulator

REASON = apache.why_not_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
TOKEN = "apacheTestToken42"


@pytest.fixture(scope="module")
def venv_python():
    return apache.apache_venv()


@pytest.fixture(scope="module", params=["cgi", "fcgid", "proxy-fcgi"])
def deployed(request, venv_python):
    """The app copied where www-data can read it, deployed in one mode, behind a running Apache."""
    mode = request.param
    base, app = apache.make_app_copy(TOKEN)
    port = free_port()
    backend = apache.Backend(venv_python, app) if mode == "proxy-fcgi" else None
    vhost = os.path.join(base, "vhost.conf")
    command = [venv_python, os.path.join(app, "manage.py"), "deploy", "--mode", mode, "--flavour", "debian",
               "--server-name", "127.0.0.1", "--port", str(port), "--output", vhost]
    if backend:
        command += ["--backend-port", str(backend.port)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=app, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(app, "config.ini")})
    assert result.returncode == 0, result.stderr
    server = apache.Apache(base, vhost, port)
    syntax = server.check_syntax()
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    server.start()
    server.mode, server.app, server.deploy_output, server.venv_python = mode, app, result.stderr, venv_python
    yield server
    server.stop()
    if backend:
        backend.stop()


def test_deploy_found_nothing_wrong(deployed):
    assert "checks: all passed" in deployed.deploy_output, deployed.deploy_output


def test_simulate_verification_chinese_text_subscribe_and_forgery(deployed):
    result = subprocess.run(
        [deployed.venv_python, os.path.join(deployed.app, "manage.py"), "simulate", deployed.url, "--token", TOKEN,
         "-m", "text", "你好，阿帕奇", "-m", "subscribe"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": "/nonexistent"},
    )
    assert result.returncode == 0, result.stdout + result.stderr + deployed.error_log()
    assert "text: 奇帕阿，好你" in result.stdout
    assert "a wrong signature got HTTP 403" in result.stdout
    assert "感谢关注" in result.stdout


def test_reply_headers_through_apache(deployed):
    response = simulator.post_message(deployed.url, TOKEN, simulator.text("abc"))
    assert response.status == 200 and response.content_type == "application/xml; charset=utf-8"
    assert simulator.post_message(deployed.url, TOKEN, b"<xml><MsgType>").status == 400


def test_static_is_served(deployed):
    response = simulator.http("GET", deployed.url + "static/style.css")
    assert response.status == 200 and b"body" in response.body and response.content_type.startswith("text/css")


@pytest.mark.parametrize("path", ["config.ini", "var/messages.log", ".git/config", "tests/secret.txt", "code.py",
                                  "static/../config.ini", "static/..%2fconfig.ini", "requirements.txt"])
def test_private_files_are_not_served(deployed, path):
    response = simulator.http("GET", deployed.url + path)
    assert response.status in (400, 403, 404), (path, response.status)
    assert b"secret-marker" not in response.body and TOKEN.encode() not in response.body
    assert b"import web" not in response.body


def test_welcome_page_through_apache(deployed):
    response = simulator.http("GET", deployed.url)
    assert response.status == 200 and "公众号".encode() in response.body
