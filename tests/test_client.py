"""The API client and token cache against a fake WeChat API on 127.0.0.1: one fetch for many processes, one retry on 40001."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.support import ROOT
from wechat.client import WeChatAPIError, WeChatClient
from wechat.config import ConfigError, Settings
from wechat.store import open_store


def make_client(fake, store_env, **extra):
    settings = Settings(appid="wxtestappid", appsecret="testsecret", api_base=fake.url,
                        data_dir=store_env["WECHAT_DATA_DIR"], redis_url=store_env.get("WECHAT_REDIS_URL", ""), **extra)
    return WeChatClient(settings, open_store(settings), timeout=2)


def manage(args, fake, store_env, extra_env=None):
    env = {"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": "/nonexistent/config.ini", "WECHAT_TOKEN": "t",
           "WECHAT_APPID": "wxtestappid", "WECHAT_APPSECRET": "testsecret", "WECHAT_API_BASE": fake.url,
           "WECHAT_DATA_DIR": store_env["WECHAT_DATA_DIR"]}
    if store_env.get("WECHAT_REDIS_URL"):
        env["WECHAT_REDIS_URL"] = store_env["WECHAT_REDIS_URL"]
    env.update(extra_env or {})
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "manage.py")] + args, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_thirty_processes_needing_a_token_cause_one_fetch(fake_wechat, store_env):
    fake_wechat.token_delay = 1.0  # a slow fetch keeps the others waiting on the lock
    processes = [manage(["token"], fake_wechat, store_env) for _ in range(30)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 30, outputs[0][1]
    assert fake_wechat.calls["token"] == 1
    assert {out.strip() for out, _ in outputs} == {"TOKEN-1"}


def test_the_cached_token_is_reused_until_near_expiry(fake_wechat, store_env):
    client = make_client(fake_wechat, store_env)
    assert client.access_token() == "TOKEN-1"
    assert make_client(fake_wechat, store_env).access_token() == "TOKEN-1"  # another process, same store
    assert fake_wechat.calls["token"] == 1


def test_a_40001_causes_one_refresh_and_one_retry(fake_wechat, store_env):
    client = make_client(fake_wechat, store_env)
    client.access_token()
    fake_wechat.next_errors = [40001]
    client.send_text("oFollower", "你好")
    assert fake_wechat.calls["token"] == 2 and fake_wechat.calls["send"] == 2
    assert fake_wechat.sent_messages()[-1] == {"touser": "oFollower", "msgtype": "text", "text": {"content": "你好"}}


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_an_api_that_always_says_the_token_is_bad_gives_up_after_one_retry(fake_wechat, store_env, errcode):
    client = make_client(fake_wechat, store_env)
    fake_wechat.always_error = errcode
    with pytest.raises(WeChatAPIError) as error:
        client.menu_delete()
    assert error.value.errcode == errcode
    assert fake_wechat.calls["token"] == 2 and fake_wechat.calls["delete"] == 2


def test_other_errors_are_raised_with_errcode_and_errmsg_and_not_retried(fake_wechat, store_env):
    client = make_client(fake_wechat, store_env)
    fake_wechat.next_errors = [45009]
    with pytest.raises(WeChatAPIError) as error:
        client.user_info("o1")
    assert error.value.errcode == 45009 and "fake error" in str(error.value)
    assert fake_wechat.calls["info"] == 1


def test_every_call_has_a_timeout(fake_wechat, store_env):
    client = make_client(fake_wechat, store_env)
    client.access_token()
    fake_wechat.slow_paths["/cgi-bin/user/info"] = 4
    started = time.monotonic()
    with pytest.raises(WeChatAPIError, match="cannot reach"):
        client.user_info("o1")
    assert time.monotonic() - started < 3.5


def test_stable_token_endpoint(fake_wechat, store_env):
    client = make_client(fake_wechat, store_env, token_endpoint="stable_token")
    assert client.access_token() == "TOKEN-1"
    path, _, body = fake_wechat.requests[0]
    assert path == "/cgi-bin/stable_token" and body["appid"] == "wxtestappid" and body["grant_type"] == "client_credential"


def test_wrong_credentials_are_a_clear_error(fake_wechat, store_env):
    process = manage(["token"], fake_wechat, store_env, {"WECHAT_APPSECRET": "wrong"})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and "40013" in err and "invalid appid" in err


def test_menu_push_show_delete(fake_wechat, store_env):
    process = manage(["menu", "push", os.path.join(ROOT, "menu.json")], fake_wechat, store_env)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    with open(os.path.join(ROOT, "menu.json"), encoding="utf-8") as f:
        assert fake_wechat.menu == json.load(f)
    process = manage(["menu", "show"], fake_wechat, store_env)
    out, err = process.communicate(timeout=60)
    assert "今日笑话" in out
    process = manage(["menu", "delete"], fake_wechat, store_env)
    assert process.communicate(timeout=60) and process.returncode == 0 and fake_wechat.menu is None


def test_a_failed_command_exits_non_zero_with_errcode_and_errmsg(fake_wechat, store_env):
    fake_wechat.always_error = 65301
    process = manage(["send", "oFollower", "hi"], fake_wechat, store_env)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and "65301" in err and "fake error" in err


def test_the_client_needs_credentials():
    with pytest.raises(ConfigError, match="appsecret is not set.*WECHAT_APPSECRET"):
        WeChatClient(Settings(appid="wx"), store=None)


def test_user_info_and_template_messages(fake_wechat, store_env):
    client = make_client(fake_wechat, store_env)
    assert client.user_info("oFollower")["nickname"] == "测试用户"
    client.send_template("oFollower", "TEMPLATE_ID", {"first": {"value": "你好"}}, url="https://example.com/")
    path, query, body = fake_wechat.requests[-1]
    assert path == "/cgi-bin/message/template/send" and query["access_token"] == "TOKEN-1"
    assert body == {"touser": "oFollower", "template_id": "TEMPLATE_ID", "data": {"first": {"value": "你好"}},
                    "url": "https://example.com/"}


def test_late_replies_of_each_kind_become_customer_service_messages(fake_wechat, store_env):
    from wechat.replies import Article, ImageReply, NewsReply, TransferCustomerServiceReply

    client = make_client(fake_wechat, store_env)
    client.send_reply("o1", ImageReply("MEDIA"))
    client.send_reply("o1", NewsReply([Article("标题", "描述", "http://p", "http://u")]))
    assert fake_wechat.sent_messages() == [
        {"touser": "o1", "msgtype": "image", "image": {"media_id": "MEDIA"}},
        {"touser": "o1", "msgtype": "news", "news": {"articles": [
            {"title": "标题", "description": "描述", "url": "http://u", "picurl": "http://p"}]}}]
    with pytest.raises(WeChatAPIError, match="cannot be sent"):
        client.send_reply("o1", TransferCustomerServiceReply())
