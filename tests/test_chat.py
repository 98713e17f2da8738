"""The chat skill: a fake OpenAI-compatible model on loopback, through the endpoint, the dev server and CGI."""

import os
import re
import subprocess
import sys
import time

import pytest

from admin import simulator
from handlers.runtime import current_settings
from handlers.skills import chat, continuation, load_skills
from handlers.skills.long_text import MAX_TEXT_BYTES, MORE_HINT, split_text
from tests.fake_llm import USAGE, FakeLLM
from tests.support import ROOT, TOKEN, DevServer, call
from tests.test_budget import wait_for_sent
from tests.test_modes import run_cgi
from wechat.config import Settings
from wechat.messages import parse_message
from wechat.xmlparse import parse_xml

API_KEY = "sk-test-5ecret-9f8e7d6c5b4a"
QUESTION = "天空为什么是蓝色的？"
# A 6,000-byte-plus answer: Chinese sentences with a 4-byte emoji in each, and English ones between.
LONG_ANSWER = "".join(
    "第%d句：天空看起来是蓝色的，因为阳光里波长短的蓝光被空气分子散射得更多🌍。This is sentence %d. " % (i, i)
    for i in range(1, 60))
MORE_HINT_TEXT = re.compile(re.escape(MORE_HINT).replace("%d", r"\d+") + "$")


@pytest.fixture(scope="module")
def llm_server():
    fake = FakeLLM()
    yield fake
    fake.stop()


@pytest.fixture
def fake_llm(llm_server):
    llm_server.reset()
    return llm_server


def llm_section(fake_llm, **extra):
    values = {"llm_api_base": fake_llm.url, "llm_api_key": API_KEY, "llm_model": "test-model"}
    values.update(extra)
    return "\n[llm]\n" + "".join("%s = %s\n" % item for item in values.items())


def dev_env(tmp_path, fake_llm, wechat_api=None, budget=4.5, **llm):
    """The dev server's environment: the fake model, and the fake WeChat API (appid/secret) when given."""
    api = "appid = wxtestappid\nappsecret = testsecret\napi_base = %s\n" % wechat_api.url if wechat_api else ""
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n%s[server]\ndata_dir = %s\nreply_budget_seconds = %s\n%s"
                      % (TOKEN, api, tmp_path / "var", budget, llm_section(fake_llm, **llm)), encoding="utf-8")
    return {"WECHAT_CONFIG": str(config)}


def post(server, text, source="oChatFollower"):
    response = simulator.post_message(server.url, TOKEN, simulator.text(text, source=source))
    assert response.status == 200, response.body
    return response.body


def content(body):
    return parse_xml(body)["Content"] if body != b"success" else None


@pytest.fixture
def model(config_file, fake_llm):
    """In-process endpoint with the fake model (no appid: no customer-service API); call again to change settings."""

    def configure(extra="", **llm):
        config_file(extra + llm_section(fake_llm, **llm))

    configure()
    current_settings()  # the first settings of a process set up the log: before wechat_log adds its handler
    return configure


def say(text, source="oChatFollower"):
    response = call("POST", simulator.signed_query(TOKEN), simulator.text(text, source=source))
    assert response.status == "200 OK", response.data
    return content(response.data)


def normalised(text):
    return re.sub(r"\s+", "", text)


# --- the dev server: in time, late, long -------------------------------------------------------


def test_a_question_is_answered_by_the_model_in_time_and_the_log_keeps_no_content(tmp_path, fake_llm):
    fake_llm.delay = 0.5
    with DevServer(dev_env(tmp_path, fake_llm)) as server:
        started = time.monotonic()
        answer = content(post(server, QUESTION))
        elapsed = time.monotonic() - started
    assert answer == fake_llm.answer and elapsed < 2
    assert len(fake_llm.requests) == 1  # once per question
    path, headers, request = fake_llm.requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer " + API_KEY
    assert request["model"] == "test-model"
    assert request["messages"][0] == {"role": "system", "content": Settings.defaults["llm_system_prompt"]}
    assert request["messages"][-1] == {"role": "user", "content": QUESTION}
    # One line per model call: model, latency, tokens. Never the key, the question or the answer.
    calls = [line for line in server.stderr.splitlines() if "llm model=" in line]
    assert len(calls) == 1 and "llm model=test-model ok" in calls[0]
    assert "prompt_tokens=31 completion_tokens=12 total_tokens=43" in calls[0]
    assert API_KEY not in server.stderr and "天空" not in server.stderr and "测试模型" not in server.stderr


def test_a_model_slower_than_the_budget_answers_through_the_customer_service_api(tmp_path, fake_llm, fake_wechat):
    fake_llm.delay = 2
    with DevServer(dev_env(tmp_path, fake_llm, fake_wechat, budget=1)) as server:
        started = time.monotonic()
        assert post(server, QUESTION, source="oLateFollower") == b"success"
        assert time.monotonic() - started < 1.8
        sent = wait_for_sent(fake_wechat)
    assert sent == [{"touser": "oLateFollower", "msgtype": "text", "text": {"content": fake_llm.answer}}]
    assert len(fake_llm.requests) == 1


def test_a_long_answer_arrives_whole_over_several_messages_with_继续(tmp_path, fake_llm):
    assert len(LONG_ANSWER.encode("utf-8")) > 6000
    fake_llm.answer = LONG_ANSWER
    parts = []
    with DevServer(dev_env(tmp_path, fake_llm)) as server:
        text = content(post(server, QUESTION))
        while True:
            assert len(text.encode("utf-8")) <= MAX_TEXT_BYTES
            parts.append(MORE_HINT_TEXT.sub("", text))
            if not MORE_HINT_TEXT.search(text):
                break
            assert len(parts) < 10
            text = content(post(server, "继续"))
        assert len(fake_llm.requests) == 1  # 继续 took the parts from the store, not from the model
        content(post(server, "继续"))  # nothing left: the model hears it, as it would any text
        assert len(fake_llm.requests) == 2
    assert len(parts) >= 4
    assert normalised("".join(parts)) == normalised(LONG_ANSWER)  # whole: no character cut or lost
    assert all(part.rstrip().endswith(("。", ".")) for part in parts)  # each cut after a sentence


def test_with_the_api_the_rest_of_a_long_answer_and_a_late_long_answer_are_sent_in_parts(
        tmp_path, fake_llm, fake_wechat):
    fake_llm.answer = LONG_ANSWER
    with DevServer(dev_env(tmp_path, fake_llm, fake_wechat, budget=1)) as server:
        first = content(post(server, QUESTION, source="oInTime"))
        fake_llm.delay = 1.5
        assert post(server, QUESTION, source="oLate") == b"success"
        parts = len(split_text(LONG_ANSWER))
        sent = wait_for_sent(fake_wechat, count=2 * parts - 1, timeout=15)  # the first in-time part was the reply
    assert len(first.encode("utf-8")) <= MAX_TEXT_BYTES and not MORE_HINT_TEXT.search(first)
    for follower, already in (("oInTime", [first]), ("oLate", [])):
        texts = already + [m["text"]["content"] for m in sent if m["touser"] == follower]
        assert all(len(t.encode("utf-8")) <= MAX_TEXT_BYTES for t in texts)
        assert normalised("".join(texts)) == normalised(LONG_ANSWER), follower


@pytest.mark.skipif(not hasattr(os, "fork"), reason="under CGI the skill runs in a forked process")
def test_under_cgi_the_model_answers_in_time(tmp_path, fake_llm):
    fake_llm.delay = 0.3
    head, body, _ = run_cgi(simulator.signed_query(TOKEN), simulator.text(QUESTION),
                            extra_env=dev_env(tmp_path, fake_llm))
    assert head.startswith("Status: 200") and content(body) == fake_llm.answer
    assert len(fake_llm.requests) == 1


# --- in-process: the next message, history, reset, rate limit, faults ---------------------------


def test_any_next_message_gets_the_next_part_first(model, fake_llm):
    fake_llm.answer = LONG_ANSWER
    first = say(QUESTION)
    assert MORE_HINT_TEXT.search(first)
    assert MORE_HINT_TEXT.search(say("别的事", source="oSomeoneElse"))  # owed nothing: the model answers
    assert len(fake_llm.requests) == 2
    second = say("另一个问题")
    assert second.startswith(continuation.FROM_EARLIER) and second.endswith(continuation.ASK_AGAIN)
    assert len(second.encode("utf-8")) <= MAX_TEXT_BYTES and len(fake_llm.requests) == 2
    assert say("新话题") == chat.NEW_TOPIC  # a new topic drops the rest ...
    fake_llm.answer = "短的回答"
    assert say("继续") == "短的回答" and len(fake_llm.requests) == 3  # ... so 继续 goes to the model


def dispatch(text, settings, store, run_mode="dev"):
    """The registry's answer to a text from the simulated follower, whose session lives in `store` (None: none)."""
    skills = load_skills()
    ctx = skills.context(settings, store, run_mode)
    return skills.dispatch(parse_message(simulator.text(text)), ctx), ctx


def model_settings(fake_llm, **extra):
    return Settings(token=TOKEN, llm_api_base=fake_llm.url, llm_model="test-model", **extra)


def test_history_carries_the_previous_turns_trimmed_and_new_topic_forgets_them(fake_llm, tmp_path):
    from wechat.store.sqlite_store import SQLiteStore

    fake_llm.answer = lambda messages: "答：" + messages[-1]["content"]
    settings = model_settings(fake_llm, llm_history_turns=2)
    store = SQLiteStore(str(tmp_path / "store.sqlite3"))  # each message reads its session anew, as a request does
    answer, ctx = dispatch("我叫小明", settings, store)
    assert answer == "答：我叫小明" and ctx.usage == USAGE
    dispatch("我叫什么？", settings, store)
    assert fake_llm.messages()[1:] == [{"role": "user", "content": "我叫小明"},
                                       {"role": "assistant", "content": "答：我叫小明"},
                                       {"role": "user", "content": "我叫什么？"}]
    dispatch("第三个问题", settings, store)
    dispatch("第四个问题", settings, store)
    asked = [m["content"] for m in fake_llm.messages()[1:] if m["role"] == "user"]
    assert asked == ["我叫什么？", "第三个问题", "第四个问题"]  # two earlier turns, the oldest dropped
    for word in ("新话题", "reset"):
        answer, _ = dispatch(word, settings, store)
        assert answer == chat.NEW_TOPIC
    dispatch("重新开始的问题", settings, store)
    assert fake_llm.messages()[1:] == [{"role": "user", "content": "重新开始的问题"}]
    assert len(fake_llm.requests) == 5  # 新话题 and reset never reached the model


def test_without_a_session_there_is_no_history(fake_llm):
    settings = model_settings(fake_llm)
    dispatch("第一个问题", settings, None)
    dispatch("第二个问题", settings, None)
    assert [m["role"] for m in fake_llm.messages()] == ["system", "user"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the CGI worker is a forked process")
def test_token_usage_comes_back_from_the_forked_worker_under_cgi(fake_llm):
    answer, ctx = dispatch(QUESTION, model_settings(fake_llm), None, run_mode="cgi")
    assert answer == fake_llm.answer and ctx.usage == USAGE


def test_the_rate_limit_answers_politely_per_follower(model, fake_llm):
    # Windows are fixed (aligned to the clock): one far wider than the test cannot end in the middle of it.
    model(llm_rate_limit=2, llm_rate_window_seconds=10**9)
    assert say("一") == say("二") == fake_llm.answer
    limited = say("三")
    assert limited.startswith("你问得有点快") and re.search(r"请 \d+ (分钟|小时)后", limited)  # says when
    assert len(fake_llm.requests) == 2
    assert say("一", source="oAnotherFollower") == fake_llm.answer  # counted per follower
    assert say("帮助").startswith("我能做这些")  # other skills are not limited


@pytest.mark.parametrize("fault, kind", [
    ("down", "down"), ("http500", "error"), ("timeout", "timeout"), ("bad_json", "bad_answer"),
    ("no_choices", "bad_answer"), ("filter400", "refused"), ("filtered", "refused"), ("busy429", "busy"),
    ("key401", "config"),
])
def test_model_faults_become_a_polite_text_and_one_log_line(model, fake_llm, wechat_log, monkeypatch, fault, kind):
    if fault == "down":
        model(llm_api_base="http://127.0.0.1:1/v1")
    elif fault == "timeout":
        model(llm_timeout_seconds=1)
        fake_llm.delay = 3
    fake_llm.status, fake_llm.body = {
        "http500": (500, b'{"error": {"message": "' + QUESTION.encode() + b'", "type": "server_error"}}'),
        "bad_json": (200, b"<html>gateway</html>"),
        "no_choices": (200, b'{"choices": []}'),
        "filter400": (400, b'{"error": {"code": "data_inspection_failed", "message": "inappropriate"}}'),
        "busy429": (429, b'{"error": {"type": "rate_limit_exceeded"}}'),
        "key401": (401, b'{"error": {"code": "invalid_api_key"}}'),
    }.get(fault, (200, None))
    if fault == "filtered":
        fake_llm.answer, fake_llm.finish_reason = "", "content_filter"
    started = time.monotonic()
    assert say(QUESTION) == chat.POLITE[kind]
    assert time.monotonic() - started < 1.5
    lines = [r.getMessage() for r in wechat_log.records if "llm model=" in r.getMessage()]
    assert len(lines) == 1 and "failed=%s" % kind in lines[0]
    assert "天空" not in wechat_log.text and API_KEY not in wechat_log.text


# --- off unless configured; splitting --------------------------------------------------------


def test_without_a_model_the_reversed_echo_answers_and_help_says_so(config_file, fake_llm):
    assert say("你好abc") == "cba好你"
    assert "倒过来" in say("帮助") and "智能助手" not in say("帮助")
    assert say("reset") == "teser"  # 新话题 / reset are the chat's words only when it is on
    config_file(llm_section(fake_llm))
    assert "智能助手" in say("帮助") and "倒过来" not in say("帮助")
    assert fake_llm.requests == []


def test_without_a_model_the_chat_skill_loads_nothing():
    probe = (
        "import sys; from handlers.skills import load_skills; from wechat.config import Settings;"
        "from wechat.messages import parse_message; from admin.simulator import text;"
        "skills = load_skills(); ctx = skills.context(Settings(token='t'));"
        "print(skills.dispatch(parse_message(text('你好')), ctx));"
        "print(sorted(m for m in ('handlers.skills.backends.llm', 'urllib.request', 'json') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["好你", "[]"]


def test_split_text_cuts_after_sentences_then_spaces_then_any_whole_character():
    emoji = "😀" * 1000  # 4 bytes each, no boundary at all
    parts = split_text(emoji, 2048)
    assert "".join(parts) == emoji and all(len(p.encode("utf-8")) <= 2048 for p in parts)
    assert [len(p) for p in parts] == [512, 488]
    words = "word " * 1000
    assert all(p.endswith(" ") for p in split_text(words, 100)[:-1])
    sentences = "π 约等于 3.14159，这不是句子的结尾。" * 100
    parts = split_text(sentences, 300)
    assert "".join(parts) == sentences and all(p.endswith("。") for p in parts)
    assert split_text("短", 2048) == ["短"] and split_text("", 2048) == []


def test_a_half_configured_model_is_a_problem_doctor_and_the_dev_server_report():
    assert Settings(token=TOKEN).problems() == []
    assert Settings(token=TOKEN, llm_api_base="https://api.example.com/v1", llm_model="m").problems() == []
    assert "llm_model" in Settings(token=TOKEN, llm_api_base="https://api.example.com/v1").problems()[0]
    assert "llm_api_base" in Settings(token=TOKEN, llm_model="m").problems()[0]
    assert "http://" in Settings(token=TOKEN, llm_api_base="api.example.com", llm_model="m").problems()[0]


def test_every_chat_setting_is_documented_with_its_variable():
    from wechat.config import SOURCES

    with open(os.path.join(ROOT, "config.example.ini"), encoding="utf-8") as f:
        example = f.read()
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    chat_settings = [name for name in SOURCES if name.startswith("llm_")]
    assert len(chat_settings) == 8
    for name in chat_settings:
        section, variable = SOURCES[name]
        assert section == "llm" and re.search(r"(?m)^%s = " % name, example), name
        assert variable in example and "`%s`" % variable in readme, name


def test_tokens_go_into_the_message_log_the_export_and_the_dashboard(model, fake_llm):
    from handlers.console.stats import summarise
    from handlers.runtime import current_journal, current_store

    assert say(QUESTION, source="oCounted") == fake_llm.answer
    settings = current_settings()
    store = current_store(settings)
    current_journal(settings).merge(store)  # what export and the console do before they read
    records = [r for r in store.log_iter() if r["source"] == "oCounted"]
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in records] == [(31, 12)]
    export = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "export", "--format", "csv"],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ))
    header, *rows = export.stdout.splitlines()
    assert "prompt_tokens" in header and any(row.endswith(",31,12") for row in rows), export.stdout
    day = summarise(records).tokens
    assert [(prompt, completion) for _, prompt, completion in day] == [(31, 12)]
