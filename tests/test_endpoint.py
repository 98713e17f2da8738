"""The endpoint in-process: verification, signatures, bad input, dispatch, and what gets logged."""

import json

import pytest

from tests.support import TOKEN, call, fixture, load_server
from admin import simulator
from wechat.xmlparse import parse_xml
from admin.simulator import signed_query

load_server()
from handlers.skills import load_skills  # noqa: E402
from handlers.skills.registry import Skill, on  # noqa: E402


def post(body, token=TOKEN, **query_extra):
    return call("POST", signed_query(token, **query_extra), body)


def reply_fields(response):
    assert response.status.startswith("200"), response.data
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    return parse_xml(response.data)


# --- GET: verification and pages -------------------------------------------------------------

def test_verification_echoes_echostr_as_plain_text():
    response = call("GET", signed_query(TOKEN, echostr="5837397749836254"))
    assert response.status == "200 OK"
    assert response.data == b"5837397749836254"
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        signed_query("another-token", echostr="1"),
        dict(signed_query(TOKEN, echostr="1"), timestamp="999"),
        {k: v for k, v in signed_query(TOKEN, echostr="1").items() if k != "signature"},
        {k: v for k, v in signed_query(TOKEN, echostr="1").items() if k != "nonce"},
        {"echostr": "1"},
    ],
    ids=["wrong-token", "tampered-timestamp", "no-signature", "no-nonce", "only-echostr"],
)
def test_verification_with_a_wrong_or_missing_signature_is_403(query, wechat_log):
    response = call("GET", query)
    assert response.status.startswith("403")
    assert b"signature" in response.data and b"1" not in response.data.replace(b"signature", b"")
    assert "outcome=bad-signature status=403" in wechat_log.text


def test_a_browser_gets_the_welcome_page_with_its_assets():
    for path in ("/", "/welcome"):
        response = call("GET", path=path)
        assert response.status == "200 OK"
        assert response.headers["Content-Type"].startswith("text/html")
        assert "公众号" in response.data.decode("utf-8")
        assert b"/static/style.css" in response.data
    css = call("GET", path="/static/style.css")
    assert css.status == "200 OK" and css.headers["Content-Type"] == "text/css" and b"body" in css.data


@pytest.mark.parametrize("path", ["/static/../config.example.ini", "/static/%2e%2e/code.py", "/static/nope.css"])
def test_static_serves_nothing_outside_static(path):
    assert call("GET", path=path).status.startswith("404")


def test_health_reports_state_but_never_secrets(config_file):
    config_file('appid = wx_secret_appid\nappsecret = s3cr3t-value')
    response = call("GET", path="/health")
    report = json.loads(response.data)
    assert report["ok"] is True and report["token_set"] is True and report["appid_set"] is True
    assert report["encrypt_mode"] == "plain" and report["version"]
    for secret in (b"testtoken", b"wx_secret_appid", b"s3cr3t-value"):
        assert secret not in response.data


# --- POST: signature, size, parsing -----------------------------------------------------------

def test_post_with_a_forged_signature_is_403_and_runs_nothing():
    response = post(simulator.text("hi"), token="forged")
    assert response.status.startswith("403")


def test_post_without_signature_is_403():
    assert call("POST", {}, simulator.text("hi")).status.startswith("403")


def test_oversized_body_is_413(config_file):
    config_file.path.write_text(config_file.path.read_text() + "max_body_bytes = 1024\n")
    body = simulator.text("长" * 400)  # 1200+ bytes
    response = post(body)
    assert response.status.startswith("413")
    assert post(simulator.text("短")).status == "200 OK"


def test_default_limit_is_64_kib():
    assert post(simulator.text("x" * 66000)).status.startswith("413")
    # A follower of its own: the echo's rest (60 kB reversed) is owed to them, not to the other tests' follower.
    assert post(simulator.text("x" * 60000, source="oLongTextFollower")).status == "200 OK"


@pytest.mark.parametrize(
    "body",
    [b"", b"<xml><MsgType>text", b"<root><MsgType>text</MsgType></root>", b"<xml><Content>x</Content></xml>",
     b'<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><MsgType>text</MsgType><Content>&e;</Content></xml>'],
    ids=["empty", "truncated", "wrong-root", "no-msgtype", "xxe"],
)
def test_malformed_bodies_are_400_and_the_reason_is_logged(body, wechat_log):
    response = post(body)
    assert response.status.startswith("400")
    assert response.data == b"bad message\n"  # the parser's words are for the log, not the client
    assert b"root:" not in response.data  # never a file's contents
    line = [r.getMessage() for r in wechat_log.records if "outcome=bad-xml status=400" in r.getMessage()]
    assert line and line[0].split("ms ", 1)[1]  # the line says why


# --- POST: dispatch and replies ---------------------------------------------------------------

def test_text_is_answered_reversed():
    fields = reply_fields(post(simulator.text("你好abc", source="oAlice", target="gh_me")))
    assert fields["Content"] == "cba好你"
    assert (fields["ToUserName"], fields["FromUserName"]) == ("oAlice", "gh_me")


@pytest.mark.parametrize("keyword", ["帮助", "help", "HELP", " ? ", "？"])
def test_help_lists_the_skills(keyword):
    content = reply_fields(post(simulator.text(keyword)))["Content"]
    assert "帮助" in content and "倒过来" in content


def test_subscribe_gets_the_configured_welcome(config_file):
    config_file.path.write_text(config_file.path.read_text() + "\n[skills]\nwelcome_text = 欢迎 & <welcome>\n")
    fields = reply_fields(post(simulator.subscribe()))
    assert fields["Content"] == "欢迎 & <welcome>"


@pytest.mark.parametrize("name", ["video", "event_unsubscribe", "event_VIEW", "unknown_message", "unknown_event"])
def test_messages_no_skill_answers_get_success(name):
    response = post(fixture(name))
    assert response.status == "200 OK" and response.data == b"success"


@pytest.mark.parametrize("calls_out", [False, True], ids=["ordinary", "calls-out"])
def test_a_crashing_skill_is_logged_and_the_follower_gets_success(monkeypatch, wechat_log, calls_out):
    # One rule for both kinds: no later skill (the reversed echo would say "moob") answers instead.
    def explode(message, ctx):
        raise RuntimeError("the skill broke")

    crashing = Skill(explode, 0, lambda m: m.type == "text" and m.content == "boom", calls_out=calls_out)
    monkeypatch.setattr(on, "skills", [crashing] + load_skills().skills)
    response = post(simulator.text("boom"))
    assert response.status == "200 OK" and response.data == b"success"
    assert "skill explode failed on text" in wechat_log.text
    assert "RuntimeError: the skill broke" in wechat_log.text and "Traceback" in wechat_log.text
    assert b"Traceback" not in response.data


def test_a_skill_returning_garbage_still_gets_success(monkeypatch):
    odd = Skill(lambda m, c: 42, 0, lambda m: m.type == "text")
    monkeypatch.setattr(on, "skills", [odd] + on.skills)
    assert post(simulator.text("x")).data == b"success"


def test_chinese_and_cdata_end_round_trip_through_the_endpoint():
    content = "]]>引号\"&<>中文"
    assert reply_fields(post(simulator.text(content)))["Content"] == content[::-1]


# --- config and logging -----------------------------------------------------------------------

def test_missing_token_is_503_and_the_log_names_the_setting(config_file, wechat_log):
    config_file(token="")
    for response in (post(simulator.text("x")), call("GET", signed_query("", echostr="1"))):
        assert response.status.startswith("503")
        assert b"token" not in response.data.lower() or b"testtoken" not in response.data
    assert "WECHAT_TOKEN" in wechat_log.text and str(config_file.path) in wechat_log.text


def test_environment_overrides_the_config_file(monkeypatch):
    from handlers.runtime import forget_settings

    monkeypatch.setenv("WECHAT_TOKEN", "from-env")
    forget_settings()  # as a new process would
    assert post(simulator.text("x")).status.startswith("403")
    assert post(simulator.text("x"), token="from-env").status == "200 OK"
    monkeypatch.delenv("WECHAT_TOKEN")
    forget_settings()


def test_one_log_line_per_request_without_secrets_or_bodies(wechat_log):
    post(simulator.text("a private message"))
    lines = [r.getMessage() for r in wechat_log.records if r.name == "wechat"]
    assert len(lines) == 1
    assert lines[0].startswith("POST type=text outcome=reply:text status=200 ")
    assert lines[0].endswith("ms")
    assert TOKEN not in wechat_log.text and "private" not in wechat_log.text


def test_the_query_string_reads_as_parse_qsl_reads_it():
    # read_query splits a query with nothing to unquote itself: it must agree with parse_qsl everywhere.
    import random
    import urllib.parse

    import web

    from handlers.endpoint import read_query

    rng = random.Random(7)
    queries = ["", "a", "a=", "=b", "a=b=c", "&&a=1&", "signature=x&timestamp=1&nonce=2", "é=ü&x", "a;b=c",
               "q=%E4%BD%A0+hi", "q=a+b"] + ["".join(rng.choice("ab=&;é%2+") for _ in range(rng.randint(0, 14)))
                                           for _ in range(3000)]
    for text in queries:
        web.ctx.env = {"QUERY_STRING": text}
        try:
            expected = dict(urllib.parse.parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=50))
        except ValueError:
            expected = "refused"
        try:
            got = read_query()
        except Exception:
            got = "refused"
        assert got == expected, text
