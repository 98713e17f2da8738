"""The web console without a browser: off until a password is set, sessions, cookies, CSRF, lockout, and
what each page does to the rules file, the menu and followers (the browser tests show the pages)."""

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from admin import passwords
from admin.menu import check_menu, menu_from_api
from tests.console_client import PASSWORD, AdminClient, set_password
from tests.support import ROOT, DevServer, call, modules_loaded_by_a_plain_post
from admin import simulator

PAGES = ["/admin", "/admin/", "/admin/messages", "/admin/follower/oFollower1", "/admin/replies",
         "/admin/replies/rule", "/admin/replies/raw", "/admin/menu", "/admin/status"]
POSTS = ["/admin/logout", "/admin/follower/oFollower1", "/admin/replies/rule", "/admin/replies/raw",
         "/admin/replies/try", "/admin/menu"]


@pytest.fixture
def console(config_file):
    """A configured server (in-process) with the console password set; yields write(extra) for config."""
    set_password()
    return config_file


def signed_in(**kw):
    admin = AdminClient(**kw)
    response = admin.sign_in()
    assert response.status == 303, response.text
    return admin


def post_message(content, source=simulator.FOLLOWER):
    response = call("POST", simulator.signed_query("testtoken"), simulator.text(content, source=source))
    assert response.status == "200 OK"
    return response


# --- off until a password is set ----------------------------------------------------------------

def test_without_a_password_every_console_url_is_404(config_file):
    for path in PAGES + ["/admin/login"]:
        assert call("GET", path=path).status.startswith("404"), path
    for path in POSTS + ["/admin/login"]:
        response = call("POST", path=path, body=b"password=x&csrf=y",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status.startswith("404"), path


def test_admin_password_command_stores_a_salted_slow_hash_and_off_removes_it(config_file):
    set_password()
    path = os.path.join(str(config_file.data_dir), passwords.FILE_NAME)
    stored = open(path).read().strip()
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert os.stat(path).st_mode & 0o077 == 0  # readable by its owner only
    settings = type("S", (), {"data_dir": str(config_file.data_dir)})
    assert passwords.verify_password(PASSWORD, passwords.read_password_hash(settings))
    assert not passwords.verify_password(PASSWORD + "x", stored)
    assert passwords.hash_password(PASSWORD) != passwords.hash_password(PASSWORD)  # salted
    assert call("GET", path="/admin/login").status == "200 OK"

    short = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "admin-password"], input="short\n",
                           capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert open(path).read().strip() == stored  # unchanged

    off = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "admin-password", "--off"],
                         capture_output=True, text=True, timeout=60)
    assert off.returncode == 0 and not os.path.exists(path)
    assert call("GET", path="/admin/login").status.startswith("404")


# --- sessions -----------------------------------------------------------------------------------

def test_every_page_without_a_session_sends_to_the_login(console):
    for path in PAGES:
        response = AdminClient().get(path)
        assert response.status == 303, path
        assert "/admin/login?next=" in response.header("Location"), path
    for path in POSTS:
        response = AdminClient().post(path, {"csrf": "guess", "text": "x"})
        assert response.status == 303 and response.header("Location").endswith("/admin/login"), path
    assert not os.path.exists(console.path.parent / "replies.ini")  # nothing was done


def test_session_cookie_is_httponly_samesite_strict_and_secure_only_over_https(console):
    for https in (False, True):
        admin = AdminClient(https=https)
        response = admin.sign_in()
        assert response.status == 303
        cookie = next(c for c in response.cookies() if c.startswith("wxconsole="))
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert "httponly" in attributes and "samesite=strict" in attributes and "path=/admin" in attributes
        assert ("secure" in attributes) == https
        assert not any(a.startswith(("expires", "max-age")) for a in attributes)  # gone with the browser
        assert admin.get("/admin/").status == 200


def test_login_form_has_its_own_csrf_token_and_a_wrong_password_is_refused(console):
    admin = AdminClient()
    admin.get("/admin/login")
    assert admin.post("/admin/login", {"password": PASSWORD}).status == 403  # no login_token
    response = admin.sign_in("wrong password")
    assert response.status == 401 and "4 more tries" in response.text and "wxconsole" not in admin.cookies


def test_session_expires_after_inactivity_and_is_renewed_by_use(console):
    console("[console]\nconsole_session_minutes = 5")
    admin = signed_in()
    database = os.path.join(str(console.data_dir), "wechat.sqlite3")

    def expiry():
        with sqlite3.connect(database) as db:
            return db.execute("SELECT expires FROM kv WHERE key LIKE 'console:session:%'").fetchone()[0]

    assert abs(expiry() - (time.time() + 300)) < 5
    with sqlite3.connect(database) as db:  # as if the admin had left it for 4 minutes
        db.execute("UPDATE kv SET expires = ? WHERE key LIKE 'console:session:%'", (time.time() + 60,))
    assert admin.get("/admin/").status == 200
    assert abs(expiry() - (time.time() + 300)) < 5  # renewed by the visit
    with sqlite3.connect(database) as db:  # ... and now idle for longer than 5 minutes
        db.execute("UPDATE kv SET expires = ? WHERE key LIKE 'console:session:%'", (time.time() - 1,))
    assert admin.get("/admin/").status == 303


def test_logout_ends_the_session_in_the_store(console):
    admin = signed_in()
    cookie = dict(admin.cookies)
    response = admin.form_post("/admin/", "/admin/logout", {})
    assert response.status == 303 and response.header("Location").endswith("/admin/login?out=1")
    stolen = AdminClient()
    stolen.cookies = cookie  # the old cookie, replayed
    assert stolen.get("/admin/").status == 303


def test_post_without_the_csrf_token_is_refused_and_does_nothing(console):
    admin = signed_in()
    rules = console.path.parent / "replies.ini"
    console("[skills]\nrules_file = %s" % rules)
    form = {"text": "[rule:x]\nkeywords = x\ntext = y\n"}
    for csrf in (None, "forged"):
        response = admin.post("/admin/replies/raw", form if csrf is None else dict(form, csrf=csrf))
        assert response.status == 403 and "security token" in response.text
        assert not rules.exists()
    assert admin.form_post("/admin/replies/raw", "/admin/replies/raw", form).status == 303
    assert "[rule:x]" in rules.read_text()


def test_pages_forbid_scripts_and_framing(console):
    response = signed_in().get("/admin/")
    policy = response.header("Content-Security-Policy")
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert response.header("Cache-Control") == "no-store"


# --- lockout ------------------------------------------------------------------------------------

def test_five_failures_lock_the_address_for_15_minutes_even_with_the_right_password(console):
    for attempt in range(4):
        assert AdminClient().sign_in("wrong").status == 401
    response = AdminClient().sign_in("wrong")
    assert response.status == 429 and "locked for 15 minutes" in response.text
    response = AdminClient().sign_in(PASSWORD)
    assert response.status == 429 and "wxconsole" not in response.text.split("Set-Cookie")[0]
    assert "locked for 15 more minutes" in response.text
    assert AdminClient(address="192.0.2.7").sign_in(PASSWORD).status == 303  # another address is not locked


def test_a_success_clears_the_failures(console):
    for attempt in range(4):
        AdminClient().sign_in("wrong")
    assert AdminClient().sign_in(PASSWORD).status == 303
    assert AdminClient().sign_in("wrong").status == 401  # counting starts again
    assert AdminClient().sign_in(PASSWORD).status == 303


def test_lockout_is_shared_by_two_server_processes(store_env, tmp_path):
    """Two processes (as under CGI or fcgid) on one store: failures on either count for both."""
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = testtoken\n")
    env = {k: v for k, v in store_env.items() if k != "backend"}
    env["WECHAT_CONFIG"] = str(config)
    set_password(env)
    with DevServer(env) as first, DevServer(env) as second:
        for server in (first, second, first, second):
            assert AdminClient(first.url if server is first else second.url).sign_in("wrong").status == 401
        assert AdminClient(first.url).sign_in("wrong").status == 429  # the fifth, on either
        for server in (first, second):
            response = AdminClient(server.url).sign_in(PASSWORD)
            assert response.status == 429 and "locked" in response.text, store_env["backend"]


# --- messages and followers ---------------------------------------------------------------------

def test_messages_page_filters_pages_and_escapes(console):
    for n in range(55):
        post_message("hello %d" % n, source="oOther")
    post_message("<script>alert(1)</script>")
    admin = signed_in()
    page = admin.get("/admin/messages")  # newest first: the script, hello 54 ... hello 6
    assert "1–50 of 56" in page.text and "hello 54<" in page.text and "hello 6<" in page.text
    assert "hello 5<" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    older = admin.get("/admin/messages?page=2")
    assert "51–56 of 56" in older.text and "hello 5<" in older.text and "hello 0<" in older.text
    assert "hello 6<" not in older.text
    mine = admin.get("/admin/messages?follower=" + simulator.FOLLOWER)
    assert "1–1 of 1" in mine.text
    text = admin.get("/admin/messages?text=HELLO+1&outcome=reply")
    assert "of 11," in text.text  # hello 1, hello 10 ... hello 19
    assert "No messages match" in admin.get("/admin/messages?type=image").text
    today = time.strftime("%Y-%m-%d")
    assert "of 56" in admin.get("/admin/messages?since=%s&until=%s" % (today, today)).text
    assert "No messages match" in admin.get("/admin/messages?until=2001-01-01").text


def test_reply_to_a_follower_goes_through_the_customer_service_api(console, fake_wechat):
    console("appid = wxtestappid\nappsecret = testsecret\napi_base = %s" % fake_wechat.url)
    post_message("有人吗")
    admin = signed_in()
    path = "/admin/follower/" + simulator.FOLLOWER
    page = admin.get(path)
    assert "有人吗" in page.text and "left" in page.text
    response = admin.form_post(path, path, {"text": "在的，请讲"})
    assert response.status == 303
    assert fake_wechat.sent_messages() == [{"touser": simulator.FOLLOWER, "msgtype": "text",
                                            "text": {"content": "在的，请讲"}}]
    page = admin.get(response.header("Location").replace("http://127.0.0.1", ""))
    assert "Sent." in page.text and "在的，请讲" in page.text and "sent from the console" in page.text

    fake_wechat.always_error = 45015
    response = admin.form_post(path, path, {"text": "还在吗"})
    assert response.status == 200 and "errcode 45015" in response.text and "fake error" in response.text
    assert "48-hour window" in response.text and "还在吗" in response.text  # the draft is kept


def test_reply_after_48_hours_is_refused_without_calling_the_api(console, fake_wechat):
    console("appid = wxtestappid\nappsecret = testsecret\napi_base = %s" % fake_wechat.url)
    two_days_ago = int(time.time()) - 49 * 3600
    body = simulator.text("很久以前", source="oOldFollower", create_time=two_days_ago)
    call("POST", simulator.signed_query("testtoken"), body)
    admin = signed_in()  # a console page merges the journal into the store's log
    database = os.path.join(str(console.data_dir), "wechat.sqlite3")
    with sqlite3.connect(database) as db:  # the log holds arrival time: make it two days old
        db.execute("UPDATE messages SET received_at = ? WHERE source = 'oOldFollower'", (two_days_ago,))
    page = admin.get("/admin/follower/oOldFollower")
    assert "Too late to reply" in page.text and "48 hours" in page.text and "<textarea" not in page.text
    response = admin.post("/admin/follower/oOldFollower", {"csrf": page.csrf(), "text": "抱歉"})
    assert "Not sent" in response.text and fake_wechat.sent_messages() == []


# --- auto-replies -------------------------------------------------------------------------------

RULES = """# Our replies (this comment must survive edits)
[welcome]
text = 欢迎

[rule:hours]
keywords = 营业时间
text = 9点开门
"""


def rules_form(**fields):
    form = {"original": "", "kind": "rule", "name": "", "match": "exact", "keywords": "", "pattern": "", "help": "",
            "reply_kind": "text", "text": "", "enabled": "yes"}
    form.update(fields)
    return form


def test_rule_form_saves_a_section_the_server_then_answers_with(console):
    rules = console.path.parent / "replies.ini"
    rules.write_text(RULES, encoding="utf-8")
    console("[skills]\nrules_file = %s" % rules)
    admin = signed_in()
    response = admin.form_post("/admin/replies/rule", "/admin/replies/rule",
                               rules_form(name="address", match="contains", keywords="地址, 在哪",
                                          text="中关村大街 1 号\n地铁 4 号线", help="地址 — 在哪"))
    assert response.status == 303 and response.header("Location").endswith("/admin/replies?saved=1")
    text = rules.read_text(encoding="utf-8")
    assert text.startswith("# Our replies (this comment must survive edits)\n[welcome]")
    assert "[rule:address]\nmatch = contains\nkeywords = 地址, 在哪\ntext = 中关村大街 1 号\n    地铁 4 号线\n" in text
    reply = post_message("请问地址是？")
    assert "中关村大街 1 号\n地铁 4 号线" in reply.data.decode()

    # edit in place: the rule keeps its place, the others stay as written
    response = admin.form_post("/admin/replies/rule?section=rule:hours", "/admin/replies/rule",
                               rules_form(original="rule:hours", name="hours", keywords="营业时间, hours",
                                          text="8点开门", enabled=""))
    assert response.status == 303
    text = rules.read_text(encoding="utf-8")
    assert "[rule:hours]\nkeywords = 营业时间, hours\ntext = 8点开门\nenabled = no\n" in text
    assert text.index("[rule:hours]") < text.index("[rule:address]")
    assert "8点开门" not in post_message("营业时间").data.decode()  # disabled


def test_rule_form_refuses_what_the_server_would_refuse_and_keeps_the_file(console):
    rules = console.path.parent / "replies.ini"
    rules.write_text(RULES, encoding="utf-8")
    console("[skills]\nrules_file = %s" % rules)
    admin = signed_in()
    response = admin.form_post("/admin/replies/rule", "/admin/replies/rule",
                               rules_form(name="order", match="regex", pattern="^订单(\\d+", text="x"))
    assert response.status == 200 and "Not saved" in response.text and "[rule:order]" in response.text
    assert "missing )" in response.text  # the parser's own words
    response = admin.form_post("/admin/replies/rule", "/admin/replies/rule", rules_form(name="hours", text="x"))
    assert "already a section [rule:hours]" in response.text
    response = admin.form_post("/admin/replies/raw", "/admin/replies/raw", {"text": "[rule:x]\nkeywords = x\n"})
    assert "Not saved" in response.text and "line 1 [rule:x]: give exactly one of text" in response.text
    assert rules.read_text(encoding="utf-8") == RULES


def test_rule_delete_removes_only_that_section(console):
    rules = console.path.parent / "replies.ini"
    rules.write_text(RULES, encoding="utf-8")
    console("[skills]\nrules_file = %s" % rules)
    admin = signed_in()
    response = admin.form_post("/admin/replies/rule?section=rule:hours", "/admin/replies/rule",
                               {"original": "rule:hours", "delete": "1"})
    assert response.status == 303
    assert rules.read_text(encoding="utf-8") == "# Our replies (this comment must survive edits)\n[welcome]\ntext = 欢迎\n"


def test_text_that_would_be_read_as_a_comment_is_stored_so_it_comes_back(console):
    rules = console.path.parent / "replies.ini"
    console("[skills]\nrules_file = %s" % rules)
    admin = signed_in()
    response = admin.form_post("/admin/replies/rule", "/admin/replies/rule",
                               rules_form(name="tags", keywords="tags", text="first\n\n#second\n;third"))
    assert response.status == 303
    assert "first\n\n#second\n;third" in post_message("tags").data.decode()


def test_try_it_names_the_rule_and_says_the_reply_without_sending(console, fake_wechat):
    rules = console.path.parent / "replies.ini"
    rules.write_text(RULES, encoding="utf-8")
    console("appid = wxtestappid\nappsecret = testsecret\napi_base = %s\n[skills]\nrules_file = %s"
            % (fake_wechat.url, rules))
    admin = signed_in()
    page = admin.form_post("/admin/replies", "/admin/replies/try", {"kind": "text", "text": "营业时间"})
    assert "rule [rule:hours] (exact match)" in page.text and "9点开门" in page.text
    page = admin.form_post("/admin/replies", "/admin/replies/try", {"kind": "text", "text": "abc"})
    assert "built-in skill" in page.text and "cba" in page.text
    page = admin.form_post("/admin/replies", "/admin/replies/try", {"kind": "subscribe", "text": ""})
    assert "[welcome]" in page.text and "欢迎" in page.text
    assert sum(fake_wechat.calls.values()) == 0


# --- menu ---------------------------------------------------------------------------------------

def test_menu_checks_name_the_button_and_wechat_limits():
    assert check_menu({"button": [{"type": "click", "name": "笑话", "key": "JOKE"}]}) == []
    problems = check_menu({"button": [
        {"type": "click", "name": "一二三四五六", "key": "K"},
        {"name": "更多", "sub_button": [{"type": "view", "name": "官网", "url": "example.com"}] * 6},
        {"type": "view", "name": "链接"},
        {"type": "click", "name": "x", "key": "k"}]})
    text = "\n".join(problems)
    assert "4 buttons; WeChat allows 3" in text
    assert "Button 1: the name '一二三四五六' is 18 bytes; WeChat allows 16" in text
    assert "Button 2 has 6 sub-buttons; WeChat allows 5" in text
    assert "Button 2, sub-button 1: the URL must start with http:// or https://" in text
    assert "Button 3 (view) needs its url" in text
    assert check_menu({}) and check_menu({"button": [{"name": "x"}]})


def test_menu_from_either_query_shape():
    fetched = {"is_menu_open": 1, "selfmenu_info": {"button": [
        {"type": "click", "name": "笑话", "key": "JOKE"},
        {"name": "更多", "sub_button": {"list": [{"type": "view", "name": "官网", "url": "https://a/"}]}}]}}
    menu = menu_from_api(fetched)
    assert menu == {"button": [{"type": "click", "name": "笑话", "key": "JOKE"},
                               {"name": "更多", "sub_button": [{"type": "view", "name": "官网", "url": "https://a/"}]}]}
    assert menu_from_api({"menu": menu}) == menu and check_menu(menu) == []


def test_manage_py_menu_push_refuses_a_menu_wechat_would_refuse(tmp_path, fake_wechat):
    menu = tmp_path / "menu.json"
    menu.write_text(json.dumps({"button": [{"type": "click", "name": "一个很长很长的名字", "key": "K"}]}))
    env = dict(os.environ, WECHAT_APPID="wxtestappid", WECHAT_APPSECRET="testsecret", WECHAT_API_BASE=fake_wechat.url)
    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "menu", "push", str(menu)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "Button 1: the name" in result.stderr
    assert sum(fake_wechat.calls.values()) == 0


def test_menu_page_pushes_fetches_and_shows_wechat_errors(console, fake_wechat):
    console("appid = wxtestappid\nappsecret = testsecret\napi_base = %s" % fake_wechat.url)
    admin = signed_in()
    form = {"action": "push", "b0_name": "笑话", "b0_type": "click", "b0_value": "JOKE",
            "b1_name": "更多", "b1s0_name": "官网", "b1s0_type": "view", "b1s0_value": "https://example.com/"}
    page = admin.form_post("/admin/menu", "/admin/menu", form)
    assert "Pushed" in page.text
    assert fake_wechat.menu == {"button": [{"type": "click", "name": "笑话", "key": "JOKE"}, {"name": "更多", "sub_button": [
        {"type": "view", "name": "官网", "url": "https://example.com/"}]}]}
    bad = admin.form_post("/admin/menu", "/admin/menu", dict(form, b2_name="链接", b2_type="view"))
    assert "WeChat would refuse this menu" in bad.text and "Button 3 (view) needs its url" in bad.text
    fake_wechat.menu["button"][0]["name"] = "段子"  # changed in WeChat's console meanwhile
    fetched = admin.form_post("/admin/menu", "/admin/menu", {"action": "fetch"})
    assert "Fetched from WeChat: 2 buttons" in fetched.text and 'value="段子"' in fetched.text
    fake_wechat.always_error = 40018
    refused = admin.form_post("/admin/menu", "/admin/menu", form)
    assert "WeChat refused the menu: errcode 40018, errmsg fake error" in refused.text


# --- status, dashboard, the log's latency -------------------------------------------------------

def test_status_says_which_secrets_are_set_never_their_values(console):
    console("appid = wxSecretAppId\nappsecret = topsecretvalue")
    page = signed_in().get("/admin/status")
    assert page.status == 200 and "SQLite" in page.text and "Deployment checks" in page.text
    for secret in ("testtoken", "wxSecretAppId", "topsecretvalue"):
        assert secret not in page.text


def test_dashboard_counts_latency_and_errors(console, wechat_log):
    post_message("one")
    post_message("two")
    admin = signed_in()
    page = admin.get("/admin/")
    assert page.status == 200 and "<svg" in page.text and page.text.count('class="bar s0"') == 2
    assert "No errors in the last 30 days" in page.text
    database = os.path.join(str(console.data_dir), "wechat.sqlite3")
    with sqlite3.connect(database) as db:
        latencies = [row[0] for row in db.execute("SELECT latency_ms FROM messages")]
    assert len(latencies) == 2 and all(isinstance(v, float) and 0 <= v < 5000 for v in latencies)


def test_a_crashing_skill_is_an_error_on_the_dashboard(console, wechat_log):
    from handlers.skills.registry import on

    @on.text("crash-for-console-test")
    def crash_for_console_test(message, ctx):
        raise RuntimeError("boom")

    try:
        assert post_message("crash-for-console-test").data == b"success"
    finally:
        on.skills = [s for s in on.skills if s.func is not crash_for_console_test]
    page = signed_in().get("/admin/")
    assert "crash-for-console-test" in page.text and "error-&gt;success" in page.text


def test_the_wechat_endpoint_never_loads_the_console():
    assert modules_loaded_by_a_plain_post(["handlers.console", "admin.passwords"]) == []


# --- Apache -------------------------------------------------------------------------------------

def test_deploy_admin_allow_adds_require_ip_to_every_vhost():
    from admin.deploy import DeployError, render_vhost

    for mode, flavour in (("cgi", "debian"), ("fcgid", "debian"), ("proxy-fcgi", "debian"), ("cgi", "wamp"),
                          ("proxy-fcgi", "wamp")):
        text = render_vhost(mode, flavour, admin_allow=["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"])
        block = text[text.index('<Location "/admin">'):]
        assert "Require ip 10.0.0.0/8 203.0.113.7/32 2001:db8::/32\n    </Location>\n</VirtualHost>" in block
        assert '<Location "/admin">' not in render_vhost(mode, flavour)
    with pytest.raises(DeployError):
        render_vhost("cgi", "debian", admin_allow=["10.0.0.0/33"])
