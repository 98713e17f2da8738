"""The 5-second budget: a slow skill's follower gets `success` in time and the answer later through the API."""

import os
import time

import pytest

from tests.support import TOKEN, DevServer
from tests.test_modes import run_cgi
from admin import simulator
from wechat.xmlparse import parse_xml


def wait_for_sent(fake, count=1, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(fake.sent_messages()) >= count:
            return fake.sent_messages()
        time.sleep(0.05)
    return fake.sent_messages()


@pytest.fixture
def env(tmp_path, fake_wechat):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\nappid = wxtestappid\nappsecret = testsecret\napi_base = %s\n"
                      "[server]\ndata_dir = %s\nreply_budget_seconds = 1\n" % (TOKEN, fake_wechat.url, tmp_path / "var"))
    return {"WECHAT_CONFIG": str(config), "WECHAT_SKILL_MODULES": "tests.counting_skill",
            "COUNTING_SKILL_FILE": str(tmp_path / "runs.txt")}


def test_a_fast_answer_is_the_reply(env):
    with DevServer(env) as server:
        response = simulator.post_message(server.url, TOKEN, simulator.text("slow 0.1"))
        assert parse_xml(response.body)["Content"] == "slow answer after 0.1 s"


def test_a_late_answer_is_success_now_and_a_customer_service_message_later(env, fake_wechat):
    with DevServer(env) as server:
        started = time.monotonic()
        response = simulator.post_message(server.url, TOKEN, simulator.text("slow 2", source="oLateFollower"))
        assert response.body == b"success" and time.monotonic() - started < 1.8
        sent = wait_for_sent(fake_wechat)
    assert sent == [{"touser": "oLateFollower", "msgtype": "text", "text": {"content": "slow answer after 2 s"}}]


def test_without_api_credentials_the_delivery_itself_carries_the_late_answer(env, tmp_path, fake_wechat):
    # No customer-service API to send it later: the delivery waits for the answer (WeChat's retries would too).
    config = tmp_path / "config.ini"
    config.write_text(config.read_text().replace("appsecret = testsecret", "appsecret ="))
    server = DevServer(env)
    with server:
        response = simulator.post_message(server.url, TOKEN, simulator.text("slow 1.5"))
        assert parse_xml(response.body)["Content"] == "slow answer after 1.5 s"
    assert "dropped" not in server.stderr and fake_wechat.sent_messages() == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the CGI worker is a forked process")
def test_under_cgi_the_script_ends_in_time_and_a_detached_worker_sends_the_answer(env, fake_wechat):
    extra = dict(env, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    started = time.monotonic()
    head, content, _ = run_cgi(simulator.signed_query(TOKEN), simulator.text("slow 2.5", source="oCgiFollower"),
                               extra_env=extra)
    elapsed = time.monotonic() - started
    assert head.startswith("Status: 200") and content == b"success"
    assert elapsed < 2.4  # Apache sees the end of the script's output well before the worker finishes
    sent = wait_for_sent(fake_wechat, timeout=10)
    assert sent == [{"touser": "oCgiFollower", "msgtype": "text", "text": {"content": "slow answer after 2.5 s"}}]
