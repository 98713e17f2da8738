"""config.ini as the server reads it: the plain shape without configparser, everything else as configparser reads it."""

import configparser
import random

import pytest

from tests.support import modules_loaded_by_a_plain_post
from wechat.config import ROOT, ConfigError, load_settings, plain_ini, read_ini


def configparser_reads(text):
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as e:
        return type(e)
    return {name: dict(parser.items(name)) for name in parser.sections()}


TRICKY = [
    "",
    "[wechat]\ntoken = abc\n",
    "[wechat]\nToken = abc\n\n\n[server]\ndata_dir = /srv/x y\n",
    "# comment\n; another\n[wechat]\n  # indented comment\ntoken=abc # not a comment\n",
    "[wechat]\ntoken = a=b=c\nappid = x:y\n",
    "[wechat]\ntoken = \n",
    "[ wechat ]\ntoken = abc\n",
    "[a]b]\nx = 1\n",
    "[a] = [b]\nx = 1\n",
    "[wechat] # the main one\ntoken = abc\n",
    "[wechat]\ntoken = abc\n  continued\n",
    "[wechat]\ntoken = abc\n\n  continued after a blank line\n",
    "[wechat]\n  token = abc\n",
    "[wechat]\ntoken: abc\n",
    "[wechat]\nto:ken = abc\n",
    "[wechat]\ntoken = 1\nTOKEN = 2\n",
    "[wechat]\ntoken = 1\n[wechat]\nappid = 2\n",
    "[DEFAULT]\ntoken = d\n[wechat]\nappid = 1\n",
    "token = abc\n",
    "[wechat]\ntoken\n",
    "[wechat]\n= abc\n",
    "[]\ntoken = abc\n",
    "[\ntoken = abc\n",
    "[wechat]\ntoken = abc\x1c\x85 \u3000\n",
    "[wechat]\n\u3000token = abc\n",
    "[wechat]\nappid = 1\n\u3000token = abc\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_the_plain_reader_reads_as_configparser_does_or_leaves_it_to_configparser(text):
    plain = plain_ini(text)
    assert plain is None or plain == configparser_reads(text)


def test_random_files_read_alike():
    pieces = ["[wechat]", "[server]", "[DEFAULT]", "[a]b]", "token = x", "Token=y", "appid : z", "a = b = c",
              "  indented = 1", "\tmore", "", " ", "# c", "; c", "x", "=", "[", "k = [v]", "\u3000k = v", "k = v\x85w"]
    rng = random.Random(10)
    answered = 0
    for _ in range(3000):
        text = "\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 7)))
        plain = plain_ini(text)
        if plain is not None:
            answered += 1
            assert plain == configparser_reads(text), text
    assert answered > 300  # the comparison means something only if the plain reader answers often


def test_the_shipped_example_and_a_bom_with_crlf_are_read_without_configparser(tmp_path):
    with open(ROOT + "/config.example.ini", encoding="utf-8") as f:
        example = f.read()
    assert plain_ini(example) == configparser_reads(example)
    path = tmp_path / "config.ini"
    path.write_bytes(b"\xef\xbb\xbf[wechat]\r\ntoken = abc\r\n[skills]\rwelcome_text = \xe4\xbd\xa0\xe5\xa5\xbd\r\n")
    assert read_ini(str(path)) == {"wechat": {"token": "abc"}, "skills": {"welcome_text": "你好"}}


def test_what_the_plain_reader_leaves_is_read_by_configparser_with_its_errors(tmp_path, monkeypatch):
    path = tmp_path / "config.ini"
    monkeypatch.setenv("WECHAT_CONFIG", str(path))
    path.write_text("[DEFAULT]\nappid = wxshared\n[wechat]\ntoken = abc\n  continued\n")
    settings = load_settings()
    assert (settings.token, settings.appid) == ("abc\ncontinued", "wxshared")
    path.write_text("[wechat]\ntoken = 1\ntoken = 2\n")
    with pytest.raises(ConfigError, match="Cannot read .*option 'token' in section 'wechat' already exists"):
        load_settings()
    path.write_bytes(b"[wechat]\ntoken = \xff\n")
    with pytest.raises(ConfigError, match="Cannot read .*can't decode byte 0xff"):
        load_settings()


def test_a_plain_message_does_not_load_configparser():
    assert modules_loaded_by_a_plain_post(["configparser"]) == []
