"""manage.py as people expect a command line to behave: help for every sub-command, the export format from the
file's name, a closed pipe that ends quietly, the simulate URL anywhere, and our own errors named as ours."""

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT, TOKEN, DevServer
from admin import simulator

COMMANDS = ("deploy", "precompile", "doctor", "simulate", "token", "menu", "send", "export", "jokes")


def manage(args, env=None, timeout=60):
    return subprocess.run([sys.executable, os.path.join(ROOT, "manage.py")] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A dev server whose message log holds a few long messages (enough output to fill a pipe)."""
    home = tmp_path_factory.mktemp("cli")
    env = {"WECHAT_CONFIG": str(home / "none.ini"), "WECHAT_TOKEN": TOKEN, "WECHAT_DATA_DIR": str(home / "var")}
    with DevServer(env) as running:
        for i in range(12):
            response = simulator.post_message(running.url, TOKEN, simulator.text("消息 %d " % i + "长" * 6000, source="oLongWriter"))
            assert response.status == 200
        running.env = env
        yield running


@pytest.mark.parametrize("name", COMMANDS)
def test_every_sub_command_has_a_description(name):
    result = manage([name, "-h"])
    assert result.returncode == 0
    description = result.stdout.split("\n\n")[1].strip()  # after the usage paragraph
    assert description and not description.startswith(("positional arguments", "options")), result.stdout


def test_export_takes_its_format_from_the_file_name(server, tmp_path):
    as_csv, as_jsonl = tmp_path / "log.csv", tmp_path / "log.jsonl"
    assert manage(["export", "--output", str(as_csv)], server.env).returncode == 0
    rows = list(csv.DictReader(as_csv.open(encoding="utf-8")))
    assert len(rows) == 12 and rows[0]["msg_type"] == "text" and rows[0]["summary"].startswith("消息 0")
    assert manage(["export", "--output", str(as_jsonl)], server.env).returncode == 0
    assert [json.loads(line)["msg_type"] for line in as_jsonl.read_text(encoding="utf-8").splitlines()] == ["text"] * 12
    # --format still wins; a name that says nothing is refused with what to do
    assert manage(["export", "--format", "jsonl", "--output", str(as_csv)], server.env).returncode == 0
    assert as_csv.read_text(encoding="utf-8").startswith("{")
    refused = manage(["export", "--output", str(tmp_path / "log.json")], server.env)
    assert refused.returncode == 2 and "--format" in refused.stderr and not (tmp_path / "log.json").exists()


def test_export_into_a_closed_pipe_ends_quietly(server):
    result = subprocess.run("%s %s export | head -c 100 > /dev/null" % (sys.executable, os.path.join(ROOT, "manage.py")),
                            shell=True, capture_output=True, text=True, timeout=60, env=dict(os.environ, **server.env),
                            executable="/bin/bash")
    assert result.returncode == 0  # head's status
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr and "Exception" not in result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("args", [
    ["{url}", "-m", "text", "你好"],
    ["-m", "text", "你好", "{url}"],  # -m used to swallow the URL
    ["-m", "text", "你好", "-m", "subscribe", "{url}"],
    ["-m", "link", "https://mp.weixin.qq.com/", "{url}"],
    ["--no-verify", "-m", "text", "你好", "{url}", "--token", TOKEN],
])
def test_simulate_takes_the_url_anywhere(server, args):
    result = manage(["simulate"] + [a.replace("{url}", server.url) for a in args], server.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout and ("text: 好你" in result.stdout or "link" in result.stdout)


def test_simulate_without_a_url_says_so(server):
    result = manage(["simulate", "-m", "link", "https://mp.weixin.qq.com/"], server.env)
    assert result.returncode == 2 and "needs one server URL" in result.stderr


def test_simulate_with_another_token_says_the_tokens_differ(server):
    result = manage(["simulate", server.url, "--token", "notTheServers"], server.env)
    assert result.returncode == 1
    assert "signature check failed: the token given with --token and the server's token differ" in result.stdout


def test_api_commands_without_credentials_name_our_settings_not_wechat(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = t\nappid = wx123\n[server]\ndata_dir = %s\n" % (tmp_path / "var"))
    for args in (["token"], ["menu", "push", os.path.join(ROOT, "menu.json")], ["send", "o1", "hi"]):
        result = manage(args, {"WECHAT_CONFIG": str(config)})
        assert result.returncode == 1
        assert "WeChat API error" not in result.stderr
        assert "appsecret is not set" in result.stderr and str(config) in result.stderr
        assert "WECHAT_APPID and WECHAT_APPSECRET" in result.stderr
    assert not (tmp_path / "var").exists()  # said before anything was touched
