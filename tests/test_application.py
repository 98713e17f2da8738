"""handlers.application answers exactly as web.py's own application: the same handler for every path, the
same web.ctx for every environment."""

import pytest
import web

from handlers.application import Application
from tests.support import load_server

PATHS = ["/", "", "/welcome", "/health", "/static/style.css", "/static/img/a b.png", "/static/", "/admin", "/admin/",
         "/admin/login", "/admin/logout", "/admin/messages", "/admin/follower/oABC-123_x", "/admin/follower/",
         "/admin/follower/a/b", "/admin/replies", "/admin/replies/rule", "/admin/replies/raw", "/admin/replies/try",
         "/admin/menu", "/admin/status", "/nowhere", "/admin/loginx", "//", "/welcome/", "/%E4%BD%A0", "/你好"]


def both(urls, fvars=None):
    return Application(urls, fvars or {}, autoreload=False), web.application(urls, fvars or {}, autoreload=False)


def test_every_path_goes_where_web_py_sends_it():
    urls = load_server().urls
    ours, theirs = both(urls)
    for path in PATHS:
        assert ours._match(ours.mapping, path) == theirs._match(theirs.mapping, path), path


def test_targets_that_name_groups_and_mappings_added_later():
    ours, theirs = both(("/user/(\\d+)/(.*)", "handlers.pages.User\\1", "/go/(?P<to>.+)", "redirect /\\g<to>"))
    for app in (ours, theirs):
        app.add_mapping("/later/(x+)", "Later")
    for path in ("/user/12/tail", "/go/home", "/later/xxx", "/later/", "/user/x/"):
        assert ours._match(ours.mapping, path) == theirs._match(theirs.mapping, path), path


def test_a_class_as_a_target_is_matched_by_web_py_itself():
    class Page:
        pass

    ours, theirs = both(("/page/(.*)", Page))
    assert ours._match(ours.mapping, "/page/7") == theirs._match(theirs.mapping, "/page/7") == (Page, ["7"])


ENVIRONS = [
    {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "signature=a&timestamp=1", "HTTP_HOST": "wx.example.com",
     "wsgi.url_scheme": "http", "REMOTE_ADDR": "203.0.113.5", "SCRIPT_NAME": ""},
    {"REQUEST_METHOD": "GET", "PATH_INFO": "/admin/", "QUERY_STRING": "", "HTTP_HOST": "wx.example.com",
     "wsgi.url_scheme": "https", "SCRIPT_NAME": "/wechat"},
    {"REQUEST_METHOD": "GET", "PATH_INFO": "/welcome", "HTTPS": "on", "HTTP_HOST": "h:8443"},
    {"REQUEST_METHOD": "GET", "PATH_INFO": "/welcome", "wsgi.url_scheme": "ftp", "HTTPS": "off"},
    {"REQUEST_METHOD": "HEAD", "PATH_INFO": "/"},
    {"REQUEST_METHOD": "GET", "PATH_INFO": "/你好".encode("utf-8").decode("latin1"), "HTTP_HOST": "h"},
    {"REQUEST_METHOD": "GET", "PATH_INFO": "/\xff\xfe", "HTTP_HOST": "h"},  # latin-1 bytes that are not UTF-8
    {"REQUEST_METHOD": "GET", "PATH_INFO": "/a%20b", "REQUEST_URI": "/pre/a%20b?x=1", "SCRIPT_NAME": "/pre",
     "SERVER_SOFTWARE": "nginx/1.24", "QUERY_STRING": "x=1", "HTTP_HOST": "h"},
]


@pytest.mark.parametrize("environ", ENVIRONS)
def test_web_ctx_is_loaded_as_web_py_loads_it(environ):
    ours, theirs = both(())
    theirs.load(dict(environ))
    expected = dict(web.ctx)
    ours.load(dict(environ))
    assert dict(web.ctx) == expected


def test_a_mapping_changed_in_place_or_a_bad_pattern_is_still_matched_as_web_py_would():
    ours, theirs = both(("/a", "A", "/b", "B"))
    assert ours._match(ours.mapping, "/a") == ("A", [])
    for app in (ours, theirs):
        app.mapping[0] = ("/a", "A2")  # same length, a new target
    assert ours._match(ours.mapping, "/a") == theirs._match(theirs.mapping, "/a") == ("A2", [])
    ours, theirs = both(("/ok", "Ok", "/bad(", "Bad"))  # web.py compiles a pattern only when it gets there
    assert ours._match(ours.mapping, "/ok") == theirs._match(theirs.mapping, "/ok") == ("Ok", [])


def test_real_script_name_set_after_the_app_was_built_is_used(monkeypatch):
    ours, theirs = both(())
    monkeypatch.setenv("REAL_SCRIPT_NAME", "")  # as a .wsgi file may, after importing code.py
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/admin/", "SCRIPT_NAME": "/wechat", "HTTP_HOST": "h"}
    theirs.load(dict(environ))
    expected = dict(web.ctx)
    ours.load(dict(environ))
    assert dict(web.ctx) == expected and web.ctx.home == "http://h"
