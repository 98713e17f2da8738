"""Every reply type renders through its template into XML that parses back to what the skill said."""

import time

import pytest

from tests.support import load_server
from wechat import replies as r
from wechat.xmlparse import parse_xml
from admin.simulator import text

load_server()  # web.config.debug off before the templates are loaded
from handlers.render import as_reply, render_reply  # noqa: E402
from wechat.messages import parse_message  # noqa: E402

MESSAGE = parse_message(text("hi", source="oFollower", target="gh_account"))
NASTY = "Tom & Jerry <b>\"引号\" 'x'</b> ]]> 中文 ]]]]>>"


def rendered(reply):
    xml = render_reply(reply, MESSAGE)
    return xml, parse_xml(xml)


def test_text_reply_swaps_to_and_from_and_is_now():
    before = int(time.time())
    xml, fields = rendered(r.TextReply("你好"))
    assert fields["ToUserName"] == "oFollower" and fields["FromUserName"] == "gh_account"
    assert before <= int(fields["CreateTime"]) <= int(time.time())
    assert fields["MsgType"] == "text" and fields["Content"] == "你好"
    assert xml.startswith(b"<xml>")


def test_text_with_markup_quotes_chinese_and_cdata_end_round_trips():
    xml, fields = rendered(r.TextReply(NASTY))
    assert fields["Content"] == NASTY
    assert b"&amp;" not in xml  # no HTML escaping inside CDATA


def test_characters_xml_forbids_are_dropped_not_fatal():
    _, fields = rendered(r.TextReply("a\x00b\x07c\td\ne"))
    assert fields["Content"] == "abc\td\ne"


@pytest.mark.parametrize(
    "reply, msg_type, expected",
    [
        (r.ImageReply("img_1"), "image", {"Image": {"MediaId": "img_1"}}),
        (r.VoiceReply("voice_1"), "voice", {"Voice": {"MediaId": "voice_1"}}),
        (r.VideoReply("vid_1", "标题", NASTY), "video", {"Video": {"MediaId": "vid_1", "Title": "标题", "Description": NASTY}}),
        (
            r.MusicReply("thumb_1", "歌", "描述", "http://m/1.mp3", "http://m/1hq.mp3"),
            "music",
            {"Music": {"Title": "歌", "Description": "描述", "MusicUrl": "http://m/1.mp3", "HQMusicUrl": "http://m/1hq.mp3", "ThumbMediaId": "thumb_1"}},
        ),
        (r.TransferCustomerServiceReply(), "transfer_customer_service", {}),
        (
            r.TransferCustomerServiceReply("kf2001@account"),
            "transfer_customer_service",
            {"TransInfo": {"KfAccount": "kf2001@account"}},
        ),
    ],
)
def test_media_and_service_replies(reply, msg_type, expected):
    _, fields = rendered(reply)
    assert fields["MsgType"] == msg_type
    for key, value in expected.items():
        assert fields[key] == value
    if not expected:
        assert "TransInfo" not in fields


@pytest.mark.parametrize("count", [1, 3, 8])
def test_news_with_1_to_8_articles(count):
    articles = [r.Article("标题%d & <x>" % i, "描述%d" % i, "http://p/%d.jpg" % i, "http://u/%d?a=1&b=2" % i) for i in range(count)]
    _, fields = rendered(r.NewsReply(articles))
    assert fields["MsgType"] == "news" and fields["ArticleCount"] == str(count)
    items = fields["Articles"]["item"]
    items = items if isinstance(items, list) else [items]
    assert [i["Title"] for i in items] == [a.title for a in articles]
    assert items[-1] == {"Title": articles[-1].title, "Description": "描述%d" % (count - 1),
                         "PicUrl": "http://p/%d.jpg" % (count - 1), "Url": "http://u/%d?a=1&b=2" % (count - 1)}


@pytest.mark.parametrize("count", [0, 9])
def test_news_outside_1_to_8_is_refused(count):
    with pytest.raises(ValueError):
        r.NewsReply([r.Article("t")] * count)


def test_news_accepts_plain_dicts():
    _, fields = rendered(r.NewsReply([{"title": "a", "url": "http://x"}]))
    assert fields["Articles"]["item"]["Url"] == "http://x"


def test_nothing_to_say_is_success():
    assert render_reply(as_reply(None), MESSAGE) == b"success"
    assert render_reply(as_reply(""), MESSAGE) == b"success"
    assert render_reply(r.EmptyReply(), MESSAGE) == b"success"


def test_a_skill_returning_something_odd_is_an_error_not_a_body():
    with pytest.raises(TypeError):
        as_reply(42)
