"""Every test runs with its own config and data dir, and no traffic leaves the loopback interface."""

import ipaddress
import os
import socket
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

_session_dir = tempfile.mkdtemp(prefix="wechat-tests-")
_config = os.path.join(_session_dir, "config.ini")
with open(_config, "w", encoding="utf-8") as f:
    f.write("[wechat]\ntoken = testtoken\n[server]\ndata_dir = %s\n" % os.path.join(_session_dir, "var"))
# Set before anything loads settings, so no test can read or write the developer's config.ini.
os.environ["WECHAT_CONFIG"] = _config
for name in list(os.environ):
    if name.startswith("WECHAT_") and name != "WECHAT_CONFIG" or name == "BOOK_API_BASE":
        del os.environ[name]


def _loopback_only(address):
    host = address[0] if isinstance(address, tuple) else None
    if host is None:
        return  # AF_UNIX
    try:
        is_loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise OSError("tests may only connect to loopback, not %r" % (host,))


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _guarded_connect(self, address):
    _loopback_only(address)
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    _loopback_only(address)
    return _connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """A fresh config.ini for one test: write(text) replaces its contents."""
    path = tmp_path / "config.ini"
    data_dir = tmp_path / "var"

    def write(extra="", token="testtoken"):
        path.write_text(
            "[wechat]\ntoken = %s\n%s\n[server]\ndata_dir = %s\n" % (token, extra, data_dir), encoding="utf-8"
        )
        return path

    write()
    monkeypatch.setenv("WECHAT_CONFIG", str(path))
    write.path = path
    write.data_dir = data_dir
    return write


@pytest.fixture
def wechat_log(caplog):
    """The 'wechat' logger's records (it does not propagate to the root logger)."""
    import logging

    logger = logging.getLogger("wechat")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


@pytest.fixture(scope="session")
def redis_server():
    from tests.redis_server import RedisServer, why_not_available

    reason = why_not_available()
    if reason:
        pytest.skip(reason)
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request, tmp_path):
    """Environment settings that select each store backend in turn, with empty state."""
    env = {"WECHAT_DATA_DIR": str(tmp_path / "var")}
    if request.param == "redis":
        redis = request.getfixturevalue("redis_server")
        redis.flush()
        env["WECHAT_REDIS_URL"] = redis.url
    env["backend"] = request.param
    return env


@pytest.fixture
def fake_wechat():
    from tests.fake_wechat import FakeWeChat

    fake = FakeWeChat()
    yield fake
    fake.stop()


@pytest.fixture
def small_disk():
    """A 256 KiB tmpfs to fill or make read-only (the full and read-only data dir cases)."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the read-only and full data dir cases need one")
    where = tempfile.mkdtemp(prefix="wechat-disk-")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", where], capture_output=True, text=True)
    if result.returncode:
        os.rmdir(where)
        pytest.skip("cannot mount a tmpfs here (%s): the read-only and full data dir cases need one"
                    % result.stderr.strip())
    yield where
    subprocess.run(["umount", "-l", where])
    os.rmdir(where)
