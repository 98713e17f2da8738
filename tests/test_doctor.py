"""`manage.py doctor` finds each way a new admin's server silently failed, made for real: files chowned away,
a config the server's user cannot read, a stopped FastCGI backend, a live server with another token; and
commands run as root leave the data dir's files to the data dir's owner."""

import os
import pathlib
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.support import ROOT, TOKEN, DevServer, free_port, stop_process, wait_for_port
from admin import deploy, probe

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0 or deploy._identity("nobody") is None,
                             reason="needs root and the user nobody")


def manage(args, env, timeout=60):
    return subprocess.run([sys.executable, os.path.join(ROOT, "manage.py")] + args, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **env))


def world_readable_dir():
    """A temporary folder other users can reach (pytest's tmp_path is mode 700)."""
    path = tempfile.mkdtemp(prefix="wechat-doctor-")
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def shared_dir():
    path = world_readable_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nobody():
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


# --- the data dir: every file in it, not only the folder ----------------------------------------------

@pytest.fixture
def server_data_dir(shared_dir, monkeypatch):
    """A config whose data dir the user nobody can reach, and that data dir (not made yet)."""
    config = os.path.join(shared_dir, "config.ini")
    data = os.path.join(shared_dir, "var")
    with open(config, "w") as f:
        f.write("[wechat]\ntoken = %s\n[server]\ndata_dir = %s\n" % (TOKEN, data))
    os.chmod(config, 0o644)
    monkeypatch.setenv("WECHAT_CONFIG", config)
    return pathlib.Path(data)


@AS_ROOT
def test_a_root_owned_database_in_the_servers_data_dir_is_named_with_chown_r_and_restart(server_data_dir):
    data = server_data_dir
    data.mkdir()
    (data / "wechat.sqlite3").write_bytes(b"")  # what a root-run command or a copied folder leaves
    os.chown(data, *nobody())  # the folder itself is the server's: the old check passed here
    problems = deploy.check_data_dir(deploy._identity("nobody"), "nobody", "fcgid")
    assert len(problems) == 1, problems
    assert "wechat.sqlite3, owned by root" in problems[0] and "not writable by nobody" in problems[0]
    assert "`sudo chown -R nobody: %s`" % data in problems[0]
    assert "systemctl restart apache2" in problems[0]  # warm FastCGI processes keep the read-only database
    assert "restart the backend" in deploy.check_data_dir(deploy._identity("nobody"), "nobody", "proxy-fcgi")[0]

    subprocess.run(["chown", "-R", "nobody:", str(data)], check=True)  # the fix it names
    assert deploy.check_data_dir(deploy._identity("nobody"), "nobody", "fcgid") == []


@AS_ROOT
def test_doctor_does_not_say_all_passed_over_a_root_owned_database(server_data_dir):
    data = server_data_dir
    data.mkdir()
    os.chown(data, *nobody())
    (data / "wechat.sqlite3-wal").write_bytes(b"")
    result = manage(["doctor", "--mode", "fcgid", "--user", "nobody"], {})
    assert result.returncode == 1
    assert "wechat.sqlite3-wal, owned by root" in result.stderr and "all passed" not in result.stderr


# --- config.ini readable by the server's user ---------------------------------------------------------

@AS_ROOT
def test_a_config_the_servers_user_cannot_read_is_named_and_fixed_by_its_sentence(shared_dir, monkeypatch):
    config = os.path.join(shared_dir, "config.ini")
    with open(config, "w") as f:
        f.write("[wechat]\ntoken = %s\n" % TOKEN)
    os.chmod(config, 0o600)  # what `sudo python3 code.py` writes: root's alone
    monkeypatch.setenv("WECHAT_CONFIG", config)
    problems = deploy.check_config_readable(deploy._identity("nobody"), "nobody")
    assert len(problems) == 1 and "nobody cannot read %s" % config in problems[0]
    assert "`sudo chgrp nobody %s && sudo chmod 640 %s`" % (config, config) in problems[0]

    # What the server itself says when it runs as that user: a sentence (and 503), not a traceback (and 500).
    result = subprocess.run(
        ["/usr/bin/python3", "-c", "from wechat.config import load_settings; load_settings()"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": config}, user="nobody",
        capture_output=True, text=True, timeout=30)
    assert "ConfigError: Cannot read %s as user nobody (Permission denied)" % config in result.stderr

    os.chown(config, 0, nobody()[1])  # the fix: the server's group may read it
    os.chmod(config, 0o640)
    assert deploy.check_config_readable(deploy._identity("nobody"), "nobody") == []


def test_an_unreadable_config_gets_503_and_a_sentence_not_a_500(config_file, monkeypatch):
    """The endpoint's side: any OSError reading config.ini is a ConfigError (made here with a directory)."""
    from tests.support import call
    from handlers.runtime import forget_settings

    folder = config_file.path.parent / "config-folder.ini"
    folder.mkdir()
    monkeypatch.setenv("WECHAT_CONFIG", str(folder))
    forget_settings()
    response = call("GET", {"signature": "x", "timestamp": "1", "nonce": "2", "echostr": "3"})
    forget_settings()
    assert response.status.startswith("503")


# --- the proxy-fcgi backend ---------------------------------------------------------------------------

def test_a_stopped_backend_is_named_with_the_command_to_start_it(config_file):
    port = free_port()
    backend = subprocess.Popen([sys.executable, os.path.join(ROOT, "code.py"), "fcgi", "127.0.0.1:%d" % port],
                               env=dict(os.environ, WECHAT_CONFIG=str(config_file.path)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process=backend)
        assert probe.check_backend("127.0.0.1", port, "/venv/bin/python", "/srv/wechat") == []
    finally:
        stop_process(backend)
    problems = probe.check_backend("127.0.0.1", port, "/venv/bin/python", "/srv/wechat")
    assert len(problems) == 1 and "Nothing answers FastCGI on 127.0.0.1:%d" % port in problems[0]
    assert "`/venv/bin/python /srv/wechat/code.py fcgi 127.0.0.1:%d`" % port in problems[0]

    result = manage(["doctor", "--mode", "proxy-fcgi", "--backend-port", str(port)],
                    {"WECHAT_CONFIG": str(config_file.path)})
    assert result.returncode == 1 and "Nothing answers FastCGI on 127.0.0.1:%d" % port in result.stderr


def test_something_else_on_the_backends_port_is_not_taken_for_it():
    with DevServer({"WECHAT_TOKEN": TOKEN}) as server:  # HTTP, not FastCGI
        assert "not FastCGI" in probe.check_backend("127.0.0.1", server.port, "python", "/srv/wechat")[0]


# --- doctor --url: the live site, signed as WeChat signs ----------------------------------------------

@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("live")
    with DevServer({"WECHAT_CONFIG": str(home / "none.ini"), "WECHAT_TOKEN": "serverToken1",
                    "WECHAT_DATA_DIR": str(home / "var")}) as server:
        yield server


def test_doctor_url_says_the_servers_token_differs_from_config_ini(live_server, config_file):
    result = manage(["doctor", "--url", live_server.url], {"WECHAT_CONFIG": str(config_file.path)})
    assert result.returncode == 1
    assert "FAIL verify" in result.stdout and "signature check failed" in result.stdout
    assert "runs with a token other than the one in %s" % config_file.path in result.stderr
    assert "WeChat's console (which must hold this token) and the server's token differ" in result.stderr
    assert "all passed" not in result.stderr


def test_doctor_url_with_the_consoles_token_says_the_two_differ(live_server, config_file):
    result = manage(["doctor", "--url", live_server.url, "--token", "consoleToken2"],
                    {"WECHAT_CONFIG": str(config_file.path)})
    assert result.returncode == 1
    assert "The token in WeChat's console and the server's token differ" in result.stderr


def test_doctor_url_with_the_right_token_passes_everything_but_the_port(live_server, config_file):
    result = manage(["doctor", "--url", live_server.url, "--token", "serverToken1"],
                    {"WECHAT_CONFIG": str(config_file.path)})
    assert re.search(r"ok +verify +echostr echoed", result.stdout), result.stdout
    assert re.search(r"ok +forged", result.stdout) and re.search(r"ok +text doctor: 你好 +text: 好你 :rotcod", result.stdout)
    # The dev server's random port is the one thing WeChat's console would refuse, and doctor says so.
    assert result.stderr.count("problem: ") == 1 and "accepts only http:// on port 80" in result.stderr
    assert result.returncode == 1


def test_doctor_url_says_wechat_follows_no_redirects(config_file):
    from http.server import BaseHTTPRequestHandler

    from tests.support import LoopbackHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(301)
            self.send_header("Location", "https://mp.example.com/")
            self.end_headers()

        do_POST = do_GET

    server = LoopbackHTTPServer(Redirect)
    try:
        result = manage(["doctor", "--url", server.url + "/"], {"WECHAT_CONFIG": str(config_file.path)})
    finally:
        server.stop()
    assert "HTTP 301 redirect to https://mp.example.com/: WeChat follows no redirects" in result.stdout
    assert result.returncode == 1


# --- commands run as root never leave root-owned state ------------------------------------------------

def owners(folder):
    found = {}
    for directory, folders, files in os.walk(folder):
        for name in folders + files:
            found[os.path.relpath(os.path.join(directory, name), folder)] = os.lstat(os.path.join(directory, name)).st_uid
    return found


@AS_ROOT
def test_root_run_export_creates_the_database_owned_by_the_data_dirs_owner(config_file):
    data = config_file.data_dir
    data.mkdir()
    os.chown(data, *nobody())
    result = manage(["export"], {"WECHAT_CONFIG": str(config_file.path)})
    assert result.returncode == 0, result.stderr
    found = owners(data)
    assert "wechat.sqlite3" in found and set(found.values()) == {nobody()[0]}, found


@AS_ROOT
def test_root_run_api_commands_leave_every_file_to_the_data_dirs_owner(fake_wechat, tmp_path):
    parent = world_readable_dir()
    os.chown(parent, *nobody())
    data = os.path.join(parent, "var")  # not there yet: made for its parent's owner
    env = {"WECHAT_CONFIG": "/nonexistent/config.ini", "WECHAT_TOKEN": "t", "WECHAT_APPID": "wxtestappid",
           "WECHAT_APPSECRET": "testsecret", "WECHAT_API_BASE": fake_wechat.url, "WECHAT_DATA_DIR": data}
    try:
        assert manage(["token"], env).stdout.strip() == "TOKEN-1"
        assert manage(["menu", "push", os.path.join(ROOT, "menu.json")], env).returncode == 0
        found = owners(parent)
        assert "var/wechat.sqlite3" in found and set(found.values()) == {nobody()[0]}, found
        assert os.stat(data).st_uid == nobody()[0]
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@AS_ROOT
def test_a_data_dir_root_owns_stays_roots(config_file):
    """Nothing to hand over when the data dir is root's own (then doctor names the chown -R)."""
    config_file.data_dir.mkdir()
    assert manage(["export"], {"WECHAT_CONFIG": str(config_file.path)}).returncode == 0
    assert set(owners(config_file.data_dir).values()) == {0}


@AS_ROOT
def test_a_dev_server_started_as_root_leaves_the_database_to_the_data_dirs_owner(shared_dir):
    from admin import simulator

    data = os.path.join(shared_dir, "var")
    os.mkdir(data)
    os.chown(data, *nobody())
    env = {"WECHAT_CONFIG": os.path.join(shared_dir, "none.ini"), "WECHAT_TOKEN": TOKEN, "WECHAT_DATA_DIR": data}
    with DevServer(env) as server:
        assert simulator.post_message(server.url, TOKEN, simulator.text("根")).status == 200
        found = owners(data)  # while it runs: -wal and -shm exist too
    assert "wechat.sqlite3" in found and set(found.values()) == {nobody()[0]}, found
