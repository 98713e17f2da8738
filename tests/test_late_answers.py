"""Late answers on accounts without the customer-service API, carried by WeChat's own retries.

WeChat is played as it behaves: the same signed body at about 0, 5 and 10 s, each delivery abandoned
after 5 s, no further delivery once one was answered. The model is a fake on loopback answering after a
chosen delay; it must be asked once per question whichever delivery carries the answer.
"""

import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from admin import simulator
from tests import apache
from tests.fake_llm import FakeLLM
from tests.support import TOKEN, DevServer, free_port
from wechat.xmlparse import parse_xml

RETRY_SECONDS, WECHAT_TIMEOUT = 5.0, 5.0
PREPARING = "答案还在准备中，稍后发任意一条消息就能收到。"


@pytest.fixture(scope="module")
def model():
    fake = FakeLLM()
    yield fake
    fake.stop()


def deliver_as_wechat(url, body, token=TOKEN):
    """[(seconds after the first delivery, reply text or None when abandoned)], as WeChat delivers one message."""
    query = urllib.parse.urlencode(simulator.signed_query(token))
    started, results = time.monotonic(), []
    for attempt in range(3):
        time.sleep(max(0.0, started + attempt * RETRY_SECONDS - time.monotonic()))
        request = urllib.request.Request(url + "?" + query, data=body, method="POST",
                                         headers={"Content-Type": "text/xml"})
        try:
            with urllib.request.urlopen(request, timeout=WECHAT_TIMEOUT) as answer:
                text = answer.read()
        except (TimeoutError, urllib.error.URLError, OSError):
            results.append((time.monotonic() - started, None))  # WeChat abandons it and tries again
            continue
        results.append((time.monotonic() - started, parse_xml(text)["Content"] if text != b"success" else "success"))
        break
    return results


def dev_server(tmp_path, model):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n[server]\ndata_dir = %s\n[llm]\nllm_api_base = %s\nllm_model = m\n"
                      % (TOKEN, tmp_path / "var", model.url), encoding="utf-8")
    return DevServer({"WECHAT_CONFIG": str(config)})


@pytest.mark.parametrize("delay, carried_by", [(2, 0), (8, 1)], ids=["2s-first-delivery", "8s-a-retry"])
def test_the_delivery_waiting_when_the_answer_is_ready_carries_it(tmp_path, model, delay, carried_by):
    model.reset()
    model.delay, model.answer = delay, "天空是蓝色的，因为瑞利散射。"
    with dev_server(tmp_path, model) as server:
        results = deliver_as_wechat(server.url, simulator.text("天空为什么是蓝色的？"))
    assert [text for _, text in results] == [None] * carried_by + [model.answer]
    assert delay - 0.5 < results[-1][0] < delay + 1.5  # as soon as it was ready
    assert len(model.requests) == 1  # asked once, whichever delivery carried it


def test_an_answer_slower_than_every_retry_comes_with_the_next_message(tmp_path, model):
    model.reset()
    model.delay, model.answer = 20, "这是想了很久的回答。"
    with dev_server(tmp_path, model) as server:
        results = deliver_as_wechat(server.url, simulator.text("一个很难的问题", source="oPatient"))
        assert [text for _, text in results] == [None, None, PREPARING]
        assert results[-1][0] < 15  # the last delivery answered before WeChat gave up on it
        time.sleep(max(0.0, 20.5 - results[-1][0]))  # the model answers meanwhile
        following = simulator.post_message(server.url, TOKEN, simulator.text("好了吗", source="oPatient"))
    content = parse_xml(following.body)["Content"]
    assert model.answer in content and "好了吗"[::-1] not in content
    assert len(model.requests) == 1  # the question once; "好了吗" got the kept answer, not the model


REASON = apache.why_not_available()


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_under_cgi_a_retry_carries_the_answer_of_the_first_deliverys_worker(model):
    # Each delivery is its own CGI process; they meet through the store, the model runs in a forked worker.
    model.reset()
    model.delay, model.answer = 8, "来自 CGI 的迟到回答。"
    base, app = apache.make_app_copy(TOKEN)
    with open(os.path.join(app, "config.ini"), "a") as f:
        f.write("[llm]\nllm_api_base = %s\nllm_model = m\n" % model.url)
    python, port = apache.apache_venv(), free_port()
    vhost = os.path.join(base, "vhost.conf")
    result = subprocess.run([python, os.path.join(app, "manage.py"), "deploy", "--mode", "cgi", "--flavour", "debian",
                             "--server-name", "127.0.0.1", "--port", str(port), "--output", vhost],
                            capture_output=True, text=True, cwd=app, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(app, "config.ini")})
    assert result.returncode == 0, result.stderr
    server = apache.Apache(base, vhost, port)
    server.start()
    try:
        results = deliver_as_wechat(server.url, simulator.text("CGI 也能等吗？"))
    finally:
        server.stop()
    assert [text for _, text in results] == [None, model.answer], server.error_log()
    assert len(model.requests) == 1


def test_the_skill_runs_once_for_three_deliveries_arriving_together(tmp_path, model):
    # Not WeChat's timing, but the worst case of it: three deliveries in the same moment.
    model.reset()
    model.delay, model.answer = 1, "一起到的回答。"
    body, query = simulator.text("同时到达"), simulator.signed_query(TOKEN)
    with dev_server(tmp_path, model) as server:
        replies = []
        threads = [threading.Thread(target=lambda: replies.append(
            simulator.http("POST", server.url, query, body, timeout=20).body)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(set(replies)) == 1 and model.answer in parse_xml(replies[0])["Content"]
    assert len(model.requests) == 1
