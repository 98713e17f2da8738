"""The account's skills through the endpoint: rules file, jokes, books, help, location and image."""

import os
import subprocess
import sys
import threading
import time
from http.server import HTTPServer, SimpleHTTPRequestHandler

import pytest

from tests.support import ROOT, TOKEN, DevServer, call, fixture
from admin import simulator
from wechat.xmlparse import parse_xml
from admin.simulator import signed_query


@pytest.fixture
def account(config_file, tmp_path):
    """An account with its own rules file (written by the test) and data dir."""
    rules = tmp_path / "replies.ini"
    config_file("\n[skills]\nrules_file = %s\nbook_api_base = http://127.0.0.1:1" % rules)
    config_file.rules = rules
    return config_file


def ask(body):
    response = call("POST", signed_query(TOKEN), body)
    assert response.status == "200 OK", response.data
    return parse_xml(response.data) if response.data != b"success" else None


def say(text, source="oSkillTester"):
    return ask(simulator.text(text, source=source))


# --- the rules file ----------------------------------------------------------------------------

RULES = """
[welcome]
text = 规则里的欢迎词

[rule:价格]
keywords = 价格, price
text = 一百元
help = 价格 — 问价格

[rule:地址]
match = contains
keywords = 地址
text = 第一行
    第二行

[rule:订单]
match = regex
pattern = ^订单\\s*(\\d+)$
text = 订单查询请登录官网

[rule:新闻]
keywords = 新闻
news = 标题一 | 描述一 | http://p/1.jpg | http://u/1
    标题二 | | | http://u/2

[rule:图片]
keywords = 图片
image = MEDIA_IMG

[rule:语音]
keywords = 语音
voice = MEDIA_VOICE

[rule:视频]
keywords = 视频
video = MEDIA_VIDEO | 视频标题 | 视频描述

[rule:音乐]
keywords = 音乐
music = 歌名 | 歌词 | http://m/1.mp3 | | THUMB_1

[rule:关掉的]
keywords = 关掉
text = 不该出现
help = 关掉 — 不该出现在帮助里
enabled = no

[click:V1001]
text = 点了菜单
"""


def test_each_rule_kind(account):
    account.rules.write_text(RULES, encoding="utf-8")
    assert say("价格")["Content"] == "一百元"
    assert say(" PRICE ")["Content"] == "一百元"
    assert say("请问你们地址在哪")["Content"] == "第一行\n第二行"
    assert say("订单 12345")["Content"] == "订单查询请登录官网"
    news = say("新闻")
    assert news["ArticleCount"] == "2" and news["Articles"]["item"][1] == {"Title": "标题二", "Description": "", "PicUrl": "", "Url": "http://u/2"}
    assert say("图片")["Image"] == {"MediaId": "MEDIA_IMG"}
    assert say("语音")["Voice"] == {"MediaId": "MEDIA_VOICE"}
    assert say("视频")["Video"] == {"MediaId": "MEDIA_VIDEO", "Title": "视频标题", "Description": "视频描述"}
    music = say("音乐")["Music"]
    assert music["ThumbMediaId"] == "THUMB_1" and music["HQMusicUrl"] == "http://m/1.mp3"
    assert ask(simulator.click("V1001"))["Content"] == "点了菜单"
    assert ask(simulator.subscribe())["Content"] == "规则里的欢迎词"


def test_a_disabled_rule_neither_answers_nor_shows_in_help(account):
    account.rules.write_text(RULES, encoding="utf-8")
    assert say("关掉")["Content"] == "掉关"  # fell through to the reversed echo
    help_text = say("帮助")["Content"]
    assert "价格 — 问价格" in help_text and "关掉" not in help_text


def test_default_reply_replaces_the_echo(account):
    account.rules.write_text("[default]\ntext = 没听懂\n", encoding="utf-8")
    assert say("随便说点")["Content"] == "没听懂"
    assert "笑话" in say("帮助")["Content"]  # skills still answer first


def test_a_broken_rules_file_keeps_the_last_good_rules_and_logs_the_line(account, wechat_log):
    account.rules.write_text(RULES, encoding="utf-8")
    assert say("价格")["Content"] == "一百元"
    account.rules.write_text(RULES + "\n[rule:坏的]\nmatch = regex\npattern = (unclosed\ntext = x\n", encoding="utf-8")
    os.utime(account.rules, (time.time() + 5, time.time() + 5))
    assert say("价格")["Content"] == "一百元"
    assert "keeping the last good rules" in wechat_log.text and "[rule:坏的]" in wechat_log.text
    line = RULES.count("\n") + 2
    assert "line %d" % line in wechat_log.text
    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "doctor", "--mode", "proxy-fcgi"],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 1 and "rules file is broken" in result.stderr and "[rule:坏的]" in result.stderr


def test_the_example_rules_file_is_valid():
    from handlers.skills.backends.rules import parse_rules

    with open(os.path.join(ROOT, "replies.example.ini"), encoding="utf-8") as f:
        rules = parse_rules(f.read())
    assert rules.welcome and rules.find("营业时间") and rules.find("你们地址在哪里")


def test_a_rules_file_created_later_is_noticed_within_a_second(account, monkeypatch):
    import os as os_module

    stats = []
    real_exists = os_module.path.exists
    monkeypatch.setattr(os_module.path, "exists", lambda p: stats.append(p) or real_exists(p))
    assert say("价格")["Content"] == "格价"  # no rules file: the reversed echo
    assert say("价格")["Content"] == "格价"
    assert stats.count(str(account.rules)) <= 1  # a missing file is not looked for on every message
    account.rules.write_text("[rule:价格]\nkeywords = 价格\ntext = 一百元\n", encoding="utf-8")
    time.sleep(1.1)
    assert say("价格")["Content"] == "一百元"


def test_rules_reload_in_a_live_server_without_restart(tmp_path):
    rules = tmp_path / "replies.ini"
    rules.write_text("[rule:a]\nkeywords = 口令\ntext = 第一版\n", encoding="utf-8")
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n[skills]\nrules_file = %s\n" % (TOKEN, rules), encoding="utf-8")
    with DevServer({"WECHAT_CONFIG": str(config), "WECHAT_DATA_DIR": str(tmp_path / "var")}) as server:
        first = simulator.post_message(server.url, TOKEN, simulator.text("口令"))
        rules.write_text("[rule:a]\nkeywords = 口令\ntext = 第二版\n", encoding="utf-8")
        os.utime(rules, (time.time() + 5, time.time() + 5))
        second = simulator.post_message(server.url, TOKEN, simulator.text("口令"))
    assert parse_xml(first.body)["Content"] == "第一版"
    assert parse_xml(second.body)["Content"] == "第二版"


# --- jokes -------------------------------------------------------------------------------------

def shipped_jokes():
    from handlers.skills.backends.jokes import load_file
    from wechat.config import Settings

    return load_file(Settings().jokes_file)


def test_there_are_at_least_30_jokes():
    assert len(shipped_jokes()) >= 30


def test_a_joke_never_repeats_twice_in_a_row_for_one_follower(account):
    jokes = shipped_jokes()
    told = [say("笑话", source="oJokeFan")["Content"] for _ in range(25)]
    assert all(joke in jokes for joke in told)
    assert all(a != b for a, b in zip(told, told[1:]))
    assert len(set(told)) > 5


def test_joke_by_menu_click(account):
    assert ask(simulator.click("JOKE"))["Content"] in shipped_jokes()


@pytest.fixture
def joke_page(tmp_path):
    (tmp_path / "jokes.html").write_text("""<html><body>
      <div class="joke">第一个网上的笑话：<br>包子和馒头打架。</div>
      <div class="joke">第二个 &amp; 网上的笑话</div>
      <div class="ad">广告，不是笑话</div>
      <div class="joke">第一个网上的笑话：<br>包子和馒头打架。</div>
      <div class="joke">%s</div>
      <!-- JOKE: 注释里的笑话一 --><!-- JOKE: 注释里的笑话二 -->
    </body></html>""" % shipped_jokes()[0].replace("\n", "<br>"), encoding="utf-8")

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/jokes.html" % server.server_address[1]
    server.shutdown()
    server.server_close()


def manage(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), *args], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))


def test_jokes_fetch_extracts_deduplicates_and_serves_them(account, joke_page):
    result = manage("jokes", "fetch", joke_page, "--selector", "div.joke")
    assert result.returncode == 0, result.stderr
    assert "found 4 jokes, 2 new, 2 already known" in result.stdout  # a repeat, and one we ship
    again = manage("jokes", "fetch", joke_page, "--selector", ".joke")
    assert "0 new" in again.stdout
    regex = manage("jokes", "fetch", joke_page, "--regex", r"<!-- JOKE: (.*?) -->")
    assert "found 2 jokes, 2 new" in regex.stdout
    from handlers.runtime import current_settings, current_store
    from handlers.skills.backends.jokes import fetched

    stored = fetched(current_store(current_settings()))
    assert stored == ["第一个网上的笑话：\n包子和馒头打架。", "第二个 & 网上的笑话", "注释里的笑话一", "注释里的笑话二"]
    told = {say("笑话", source="o%d" % i)["Content"] for i in range(80)}
    assert told & set(stored)  # fetched jokes are told too


def test_jokes_fetch_errors_are_clear(account):
    assert manage("jokes", "fetch", "http://127.0.0.1:1/x").returncode == 1
    bad = manage("jokes", "fetch", "http://127.0.0.1:1/x", "--selector", "div > p")
    assert bad.returncode in (1, 2)


# --- books -------------------------------------------------------------------------------------

@pytest.fixture
def books(account):
    from tests.fake_books import FakeBooks

    fake = FakeBooks()
    text = account.path.read_text().replace("book_api_base = http://127.0.0.1:1", "book_api_base = " + fake.url)
    account.path.write_text(text)
    yield fake
    fake.stop()


@pytest.mark.parametrize("isbn", ["9787111407010", "978-7-111-40701-0", "ISBN 978 7 111 40701 0"])
def test_isbn_gets_the_book_as_news(books, isbn):
    news = say(isbn)
    item = news["Articles"]["item"]
    assert news["MsgType"] == "news" and item["Title"] == "深入理解计算机系统"
    assert "Randal E. Bryant、David R. O'Hallaron" in item["Description"] and "机械工业出版社" in item["Description"]
    assert "2016" in item["Description"]
    assert item["PicUrl"] == "https://covers.openlibrary.org/b/id/1-M.jpg" and item["Url"].startswith("https://openlibrary.org/books/")


def test_book_results_are_cached_in_the_store(books):
    say("9787111407010")
    say("978-7-111-40701-0")
    assert books.calls["/api/books"] == 1


def test_a_bad_checksum_gets_a_helpful_text(books):
    content = say("9787111407011")["Content"]
    assert "校验位" in content and "应该是 0" in content
    assert books.calls["/api/books"] == 0


def test_unknown_isbn_and_title_get_polite_texts(books):
    assert "没有找到 ISBN 9780306406157" in say("9780306406157")["Content"]
    assert "没有找到书名是“不存在的书”" in say("书 不存在的书")["Content"]


def test_title_search(books):
    item = say("书 三体")["Articles"]["item"]
    assert item["Title"] == "三体" and "刘慈欣" in item["Description"] and item["Url"].endswith("/works/OL17267881W")
    assert item["PicUrl"] == "https://covers.openlibrary.org/b/id/8231856-M.jpg"


def test_book_service_down_gets_a_polite_text(books):
    books.stop()
    assert "暂时连不上" in say("9787111407010")["Content"]


def test_a_slow_book_service_without_api_credentials_answers_later_with_the_next_message(books, monkeypatch):
    # No customer-service API: the last delivery says the answer is coming; the next message brings it.
    from handlers.runtime import forget_settings

    monkeypatch.setenv("WECHAT_LATE_ANSWER_SECONDS", "1")
    forget_settings()
    books.delay = 2
    started = time.monotonic()
    content = say("9787111407010", source="oPatientReader")["Content"]
    assert content == "答案还在准备中，稍后发任意一条消息就能收到。" and time.monotonic() - started < 1.6
    time.sleep(1.5)  # the book service answers meanwhile
    item = say("在吗", source="oPatientReader")["Articles"]["item"]  # the book, not the reversed echo
    assert item["Title"] == "深入理解计算机系统"
    assert sum(books.calls.values()) == 1  # the service was asked once
    monkeypatch.delenv("WECHAT_LATE_ANSWER_SECONDS")
    forget_settings()


def test_a_slow_book_service_answers_success_then_sends_the_book_later(tmp_path, fake_wechat):
    from tests.fake_books import FakeBooks

    slow = FakeBooks()
    slow.delay = 2.0
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\nappid = wxtestappid\nappsecret = testsecret\napi_base = %s\n"
                      "[server]\nreply_budget_seconds = 1\n[skills]\nbook_api_base = %s\n" % (TOKEN, fake_wechat.url, slow.url))
    try:
        with DevServer({"WECHAT_CONFIG": str(config), "WECHAT_DATA_DIR": str(tmp_path / "var")}) as server:
            started = time.monotonic()
            response = simulator.post_message(server.url, TOKEN, simulator.text("9787111407010", source="oReader"))
            assert response.body == b"success" and time.monotonic() - started < 1.8
            deadline = time.monotonic() + 10
            while not fake_wechat.sent_messages() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        slow.stop()
    sent = fake_wechat.sent_messages()
    assert len(sent) == 1 and sent[0]["touser"] == "oReader" and sent[0]["msgtype"] == "news"
    assert sent[0]["news"]["articles"][0]["title"] == "深入理解计算机系统"


# --- help, location, image ---------------------------------------------------------------------

def test_help_is_generated_from_the_enabled_skills(account):
    help_text = say("help")["Content"]
    for line in ("笑话 — 讲个笑话", "ISBN（10 或 13 位）— 查书", "书 书名 — 按书名查书", "书 — 我先问书名",
                 "取消 / cancel", "发位置", "发图片", "其他文字"):
        assert line in help_text


# --- whitespace: loosely laid-out bodies reach the same skills -----------------------------------

def loose(body):
    from tests.test_messages import padded

    return padded(body)


def test_padded_bodies_reach_the_same_skills(account, books):
    account.rules.write_text(RULES, encoding="utf-8")
    for body in (simulator.text("价格"), simulator.text("帮助"), simulator.click("V1001"), simulator.subscribe("7"),
                 simulator.text("书 三体"), fixture("location"), fixture("image")):
        tight, padded_reply = ask(body), ask(loose(body))
        assert padded_reply is not None and tight is not None
        for reply in (tight, padded_reply):
            reply.pop("CreateTime")
        assert padded_reply == tight
    assert ask(loose(simulator.text("书", source="oLoose")))["Content"].startswith("哪本书？")
    assert ask(loose(simulator.text("三体", source="oLoose")))["Articles"]["item"]["Title"] == "三体"


def test_the_follower_s_own_spaces_are_kept(account):
    assert say("  ab ")["Content"] == " ba  "


def test_location_names_the_place_and_coordinates(account):
    content = ask(fixture("location"))["Content"]
    assert "广州市天河区五山路" in content and "23.134521" in content and "113.358803" in content


def test_image_is_echoed_back_by_media_id(account):
    reply = ask(fixture("image"))
    assert reply["MsgType"] == "image" and reply["Image"]["MediaId"] == "media_id_image_1"


# --- which skills dispatch asks ---------------------------------------------------------------


def test_dispatch_asks_only_the_skills_that_can_match_and_sees_late_registrations():
    from handlers.skills.registry import SkillRegistry
    from wechat.config import Settings
    from wechat.messages import parse_message

    registry = SkillRegistry()
    asked = []

    def counted(kind):
        def matches(message):
            asked.append(kind)
            return True
        return matches

    registry.custom(counted("texts"), kinds=["text"])(lambda m, ctx: None)
    registry.custom(counted("clicks"), kinds=["event:click"])(lambda m, ctx: None)
    registry.custom(counted("any"))(lambda m, ctx: None)
    registry.message("image")(lambda m, ctx: "an image")
    settings = Settings(token="t", welcome_text="")
    text, click = parse_message(simulator.text("hi")), parse_message(simulator.click("K"))
    assert registry.dispatch(text, registry.context(settings)) is None
    assert registry.dispatch(click, registry.context(settings)) is None
    assert asked == ["texts", "any", "clicks", "any"]
    assert registry.dispatch(parse_message(simulator.image()), registry.context(settings)) == "an image"
    # A skill registered after dispatch has run is asked from then on.
    registry.text("hi")(lambda m, ctx: "hello")
    assert registry.dispatch(text, registry.context(settings)) == "hello"


def test_a_skill_switched_on_by_settings_answers_once_they_change():
    from handlers.skills.registry import SkillRegistry
    from wechat.config import Settings
    from wechat.messages import parse_message

    registry = SkillRegistry()
    registry.text(enabled=lambda settings: bool(settings.welcome_text))(lambda m, ctx: "on")
    message = parse_message(simulator.text("hi"))
    assert registry.dispatch(message, registry.context(Settings(token="t", welcome_text=""))) is None
    assert registry.dispatch(message, registry.context(Settings(token="t", welcome_text="x"))) == "on"


def test_events_named_by_the_sender_do_not_grow_the_skill_index_without_bound():
    from handlers.skills.registry import SkillRegistry
    from wechat.config import Settings
    from wechat.messages import parse_message

    registry = SkillRegistry()
    registry.event("subscribe")(lambda m, ctx: "welcome")
    settings = Settings(token="t")
    for i in range(2000):
        registry.dispatch(parse_message(simulator.event("made_up_%d" % i)), registry.context(settings))
    assert len(registry._index[2]) <= SkillRegistry.MAX_INDEXED_KINDS + 1
    assert registry.dispatch(parse_message(simulator.subscribe()), registry.context(settings)) == "welcome"
