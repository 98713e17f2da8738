"""The real development server over HTTP on 127.0.0.1: first run, verification, messages, pages."""

import json
import re
import subprocess
import sys

import pytest

from tests.support import ROOT, DevServer, free_port
from admin import simulator
from wechat.xmlparse import parse_xml


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A server started with no config at all: it must create one and say the URL and token."""
    home = tmp_path_factory.mktemp("first-run")
    config = home / "config.ini"
    server = DevServer({"WECHAT_CONFIG": str(config), "WECHAT_DATA_DIR": str(home / "var")})
    with server:
        yield server, config


def test_first_run_writes_a_config_with_a_fresh_token(first_run):
    server, config = first_run
    token = re.search(r"^token = (\w+)$", config.read_text(encoding="utf-8"), re.M).group(1)
    assert len(token) == 32
    assert config.stat().st_mode & 0o077 in (0o040, 0o000)  # not world-readable: it holds secrets


def test_verification_over_http(first_run):
    server, config = first_run
    token = re.search(r"^token = (\w+)$", config.read_text(encoding="utf-8"), re.M).group(1)
    ok, response = simulator.verify_url(server.url, token)
    assert ok, response
    ok, response = simulator.verify_url(server.url, "wrong-token")
    assert not ok and response.status == 403


def test_messages_over_http(first_run):
    server, config = first_run
    token = re.search(r"^token = (\w+)$", config.read_text(encoding="utf-8"), re.M).group(1)
    response = simulator.post_message(server.url, token, simulator.text("微信 & <WeChat> ]]>"))
    assert response.status == 200 and response.content_type == "application/xml; charset=utf-8"
    assert parse_xml(response.body)["Content"] == "微信 & <WeChat> ]]>"[::-1]
    welcome = simulator.post_message(server.url, token, simulator.subscribe("42"))
    assert "帮助" in parse_xml(welcome.body)["Content"]
    assert simulator.post_message(server.url, token, simulator.event("unsubscribe")).body == b"success"
    assert simulator.post_message(server.url, "forged", simulator.text("x")).status == 403
    assert simulator.post_message(server.url, token, b"<xml><MsgType>").status == 400
    assert simulator.post_message(server.url, token, simulator.text("x" * 70000)).status == 413


def test_pages_over_http(first_run):
    server, _ = first_run
    page = simulator.http("GET", server.url)
    assert page.status == 200 and page.content_type.startswith("text/html")
    assert simulator.http("GET", server.url + "static/logo.svg").status == 200
    health = json.loads(simulator.http("GET", server.url + "health").body)
    assert health["ok"] and health["mode"] == "dev" and health["token_set"]


def test_first_run_printed_the_url_and_token(first_run):
    server, config = first_run
    server.stop()
    token = re.search(r"^token = (\w+)$", config.read_text(encoding="utf-8"), re.M).group(1)
    assert "http://127.0.0.1:%d/" % server.port in server.stdout
    assert token in server.stdout
    assert token not in server.stderr  # the request log never carries it
    assert "POST type=text outcome=reply:text status=200" in server.stderr


def test_the_banner_says_wechat_calls_only_ports_80_and_443(first_run):
    server, _ = first_run
    server.stop()
    assert "WeChat calls only port 80 (http://) or 443 (https://); its console refuses port %d" % server.port in server.stdout
    assert "sudo python3 code.py 80" in server.stdout and "README: Deploying" in server.stdout
    assert "manage.py simulate http://127.0.0.1:%d/" % server.port in server.stdout


def test_a_config_without_token_stops_the_dev_server_naming_the_setting(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = \n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "code.py", "127.0.0.1:%d" % free_port()],
        cwd=ROOT,
        env={"WECHAT_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "WECHAT_TOKEN" in result.stderr and str(config) in result.stderr


def test_the_server_runs_from_any_directory(tmp_path):
    """Templates and static files are found from code.py's folder, not the working directory."""
    server = DevServer({"WECHAT_CONFIG": str(tmp_path / "c.ini")}, cwd=str(tmp_path))
    with server:
        assert simulator.http("GET", server.url + "static/style.css").status == 200
        assert simulator.http("GET", server.url + "welcome").status == 200
