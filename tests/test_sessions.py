"""Sessions: a follower's conversation state on SQLite and Redis, through the dev server and under CGI."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from admin import simulator
from handlers.skills.registry import SkillRegistry
from handlers.skills.session import Session
from tests.fake_books import FakeBooks
from tests.support import ROOT, TOKEN, DevServer
from tests.test_modes import run_cgi
from tests.test_store import settings_for
from wechat.config import Settings
from wechat.store import open_store
from wechat.xmlparse import parse_xml

ASKED = "哪本书？"


@pytest.fixture
def store(store_env):
    return open_store(settings_for(store_env))


@pytest.fixture
def books():
    fake = FakeBooks()
    yield fake
    fake.stop()


# --- the Session on each store -------------------------------------------------------------------


def test_a_session_keeps_values_and_its_wait_until_it_expires(store):
    first = Session(store, "oFollower", ttl=0.6)
    assert first.get("city") is None and first.waiting_for is None
    first["city"] = "广州"
    first.expect("book_title")
    assert first.save() is True
    again = Session(store, "oFollower", ttl=0.6)
    assert (again["city"], again.waiting_for, len(again)) == ("广州", "book_title", 1)
    assert Session(store, "oSomeoneElse", ttl=0.6).get("city") is None
    time.sleep(0.8)
    expired = Session(store, "oFollower", ttl=0.6)
    assert expired.get("city") is None and expired.waiting_for is None
    expired["city"] = "深圳"  # a new session where the old one expired
    assert expired.save() is True and Session(store, "oFollower", 60)["city"] == "深圳"


def test_nothing_is_written_unless_something_changed(store):
    session = Session(store, "oQuiet", ttl=60)
    assert session.save() is False  # never touched: not even read
    session.get("anything")
    assert session.save() is False  # read, unchanged
    session["list"] = [1]
    session["list"].append(2)  # changed in place: seen at save
    assert session.save() is True and Session(store, "oQuiet", 60)["list"] == [1, 2]
    assert session.save() is False


def test_two_racing_writers_both_keep_their_changes(store):
    one, two = Session(store, "oRacer", 60), Session(store, "oRacer", 60)
    one.get("x"), two.get("x")  # both read the same (empty) version
    one["from_one"], two["from_two"] = 1, 2
    one.increment("count"), two.increment("count")
    one.append("notes", "a"), two.append("notes", "b")
    one["shared"], two["shared"] = "one", "two"
    assert one.save() and two.save()  # the second conflicts, re-reads and replays its changes
    final = Session(store, "oRacer", 60)
    assert (final["from_one"], final["from_two"], final["count"]) == (1, 2, 2)
    assert sorted(final["notes"]) == ["a", "b"] and final["shared"] == "two"
    assert dict(two.items()) == dict(final.items())  # the late writer now sees both


def test_deleting_clearing_and_bad_values(store):
    session = Session(store, "oTidy", 60)
    session["a"], session["b"] = 1, 2
    session.save()
    other = Session(store, "oTidy", 60)
    del other["a"]
    assert other.pop("missing", "default") == "default"
    other.save()
    assert Session(store, "oTidy", 60).keys() == ["b"]
    with pytest.raises(TypeError):
        other["when"] = object()
    with pytest.raises(TypeError):
        other[1] = "not a str key"
    other.clear()
    other.save()
    assert len(Session(store, "oTidy", 60)) == 0


def counting(store):
    calls = []

    class Counting:
        def __getattr__(self, name):
            attribute = getattr(store, name)
            if callable(attribute):
                return lambda *args, **kwargs: calls.append(name) or attribute(*args, **kwargs)
            return attribute

    return Counting(), calls


def test_a_message_costs_at_most_one_store_read_and_no_write(store):
    from handlers.skills import load_skills

    skills = load_skills()
    wrapped, calls = counting(store)
    settings = Settings(token="t")
    for body in (simulator.subscribe(), simulator.event("user_get_card")):
        skills.dispatch(parse_message(body), skills.context(settings, wrapped))
    assert calls == []  # events WeChat sends by itself: no skill reads what a follower is owed or their session
    # What a follower sends may collect what they are owed; a text may answer a question the account asked:
    # the owed parts, a late answer and the session, all in one read; nothing changed, nothing written.
    for body in (simulator.image(), simulator.click("K"), simulator.text("帮助")):
        del calls[:]
        skills.dispatch(parse_message(body), skills.context(settings, wrapped))
        assert calls == ["snapshot"]


def test_what_a_follower_is_owed_and_their_session_come_from_the_one_read(store):
    from handlers.skills import load_skills
    from handlers.skills.long_text import keep_owed

    skills = load_skills()
    settings = Settings(token="t")
    session = Session(store, simulator.FOLLOWER, 60)
    session.expect("book_title")
    session.save()
    keep_owed(store, simulator.FOLLOWER, ["第二段", "第三段"])
    wrapped, calls = counting(store)
    ctx = skills.context(settings, wrapped)
    answer = skills.dispatch(parse_message(simulator.text("继续")), ctx)
    assert "第二段" in answer and "还有 1 段" in answer
    assert calls[0] == "snapshot" and "get" not in calls and "session_get" not in calls
    assert store.get("owed:" + simulator.FOLLOWER) is not None  # the last part is still owed
    assert ctx.session.waiting_for == "book_title"  # the wait was read from the same snapshot


def test_a_crashing_skill_keeps_no_changes_but_its_wait_ends(store):
    registry = SkillRegistry()

    @registry.text("ask")
    def ask(message, ctx):
        ctx.session.expect("topic")
        return "?"

    @registry.reply_to("topic")
    def broken(message, ctx):
        ctx.session["half_done"] = True
        raise RuntimeError("boom")

    settings = Settings(token="t")
    registry.dispatch(parse_message(simulator.text("ask")), registry.context(settings, store))
    registry.dispatch(parse_message(simulator.text("answer")), registry.context(settings, store))
    session = Session(store, simulator.FOLLOWER, 60)
    assert session.waiting_for is None and "half_done" not in session


def parse_message(body):
    from wechat.messages import parse_message as parse

    return parse(body)


# --- a conversation through the real dev server and under CGI ---------------------------------------


def server_env(store_env, books, **extra):
    env = {k: v for k, v in store_env.items() if k.startswith("WECHAT_")}
    env.update(BOOK_API_BASE=books.url, WECHAT_SKILL_MODULES="tests.session_skill", **extra)
    return env


def reply_text(body):
    if body == b"success":
        return "success"
    reply = parse_xml(body)
    return reply.get("Content") or reply["Articles"]["item"]["Title"]


def over_http(server):
    def send(body):
        response = simulator.http("POST", server.url, simulator.signed_query(TOKEN), body)
        assert response.status == 200
        return reply_text(response.body)

    return send


def over_cgi(env):
    def send(body):
        head, content, stderr = run_cgi(simulator.signed_query(TOKEN), body, extra_env=env)
        assert head.startswith("Status: 200"), stderr
        return reply_text(content)

    return send


def conversation(send, follower):
    def say(text):
        return send(simulator.text(text, source=follower))

    assert say("书").startswith(ASKED)
    assert say("三体") == "三体"  # the next text is the title: the book comes back
    assert say("三体") == "体三"  # the wait is over: the same text is just text again
    assert say("书").startswith(ASKED)
    assert say("取消") == "好的，已取消。"
    assert say("三体") == "体三"
    assert say("取消") == "消取"  # no wait to cancel: other skills answer it


def test_a_two_step_conversation_through_the_dev_server(store_env, books):
    with DevServer(server_env(store_env, books)) as server:
        conversation(over_http(server), "oDevServerFollower")


def test_the_same_conversation_under_cgi_one_process_per_message(store_env, books):
    conversation(over_cgi(server_env(store_env, books, PYTHONPATH=ROOT)), "oCgiFollower")


def test_a_wait_ends_with_the_session(store_env, books):
    send = over_cgi(server_env(store_env, books, PYTHONPATH=ROOT, WECHAT_SESSION_TTL_SECONDS="1"))
    assert send(simulator.text("书", source="oSlowFollower")).startswith(ASKED)
    time.sleep(1.3)
    assert send(simulator.text("三体", source="oSlowFollower")) == "体三"


def test_two_messages_at_once_from_one_follower_are_both_recorded(store_env, books):
    send = over_cgi(server_env(store_env, books, PYTHONPATH=ROOT))
    replies = []
    threads = [threading.Thread(target=lambda n=note: replies.append(send(simulator.text("记下 %s 1" % n, source="oRacer"))))
               for note in ("苹果", "香蕉")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert replies == ["记下了", "记下了"]
    assert send(simulator.text("我记了什么", source="oRacer")) == "苹果、香蕉"
    exported = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "export", "--sessions"],
                              env=dict(os.environ, **server_env(store_env, books)), capture_output=True, text=True,
                              timeout=60)
    sessions = [json.loads(line) for line in exported.stdout.splitlines()]
    racer = next(s for s in sessions if s["follower"] == "oRacer")
    # Both read an empty list while the other paused: each saw 0 notes before its own.
    assert sorted(racer["values"]["notes"]) == ["苹果", "香蕉"] and racer["values"]["last_苹果"] == 0
    assert racer["values"]["last_香蕉"] == 0 and racer["waiting_for"] == ""
    log = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "export"],
                         env=dict(os.environ, **server_env(store_env, books)), capture_output=True, text=True, timeout=60)
    assert "notes" not in log.stdout and "我记了什么" in log.stdout  # the log, without sessions


def test_without_a_store_a_session_lives_for_one_message_and_says_so(wechat_log):
    session = Session(None, "oNoStore", 60)
    session["x"] = 1
    session.expect("topic")
    assert (session["x"], session.waiting_for) == (1, "topic")
    assert session.save() is False
    assert "session of 'oNoStore' not kept: the store is unavailable" in wechat_log.text


def test_a_skill_that_needs_stored_state_runs_only_for_followers_who_have_some(store):
    from handlers.skills.registry import CATCH_ALL
    from wechat.messages import parse_message

    registry, ran = SkillRegistry(), []

    @registry.custom(lambda m: m.type == "text", needs_state=True)
    def picks_up_where_we_left(message, ctx):
        ran.append(message.source)
        return "接着上次：%s" % ctx.session.get("topic")

    @registry.custom(lambda m: True, precedence=CATCH_ALL)
    def anything_else(message, ctx):
        return "你好"

    settings = Settings(token="t")

    def answer(follower):
        message = parse_message(simulator.text("在吗", source=follower))
        return registry.dispatch(message, registry.context(settings, store))

    assert answer("oQuiet") == "你好" and ran == []  # nothing stored: not even asked
    busy = Session(store, "oBusy", 60)
    busy["topic"] = "图书"
    busy.save()
    assert answer("oBusy") == "接着上次：图书" and ran == ["oBusy"]
    assert answer("oQuiet") == "你好" and ran == ["oBusy"]
