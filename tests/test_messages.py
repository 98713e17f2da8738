"""Every message and event fixture parses to its class with Pythonic attributes; bad bodies are refused."""

import os

import pytest

from tests.support import FIXTURES, fixture
from wechat import messages as m
from wechat.xmlparse import ParseError

FOLLOWER = "oFfRYs9hXuDQP8_fMG6RGPAHgTXo"

EXPECTED = {
    "text": (m.TextMessage, {"content": "this is a test", "message_id": "1234567890123456"}),
    "image": (m.ImageMessage, {"media_id": "media_id_image_1", "picture_url": "http://mmbiz.qpic.cn/mmbiz_jpg/this-is-a-url/0"}),
    "voice": (m.VoiceMessage, {"media_id": "media_id_voice_1", "format": "amr", "recognition": "腾讯微信团队"}),
    "video": (m.VideoMessage, {"media_id": "media_id_video_1", "thumb_media_id": "thumb_media_id_1"}),
    "shortvideo": (m.ShortVideoMessage, {"media_id": "media_id_shortvideo_1", "thumb_media_id": "thumb_media_id_2"}),
    "location": (m.LocationMessage, {"latitude": 23.134521, "longitude": 113.358803, "scale": 20, "label": "广州市天河区五山路"}),
    "link": (m.LinkMessage, {"title": "公众平台官网链接", "url": "https://mp.weixin.qq.com/"}),
    "file": (m.FileMessage, {"title": "report.pdf", "file_key": "file_key_1", "file_size": 102400}),
    "miniprogrampage": (m.MiniProgramPageMessage, {"app_id": "wx1234567890abcdef", "page_path": "pages/index/index?id=1"}),
    "unknown_message": (m.UnknownMessage, {"msg_type": "hologram", "message_id": "1234567890123465"}),
    "event_subscribe": (m.SubscribeEvent, {"event": "subscribe", "scene_id": "", "ticket": ""}),
    "event_subscribe_qrscene": (m.SubscribeEvent, {"scene_id": "123123", "ticket": "TICKET", "key": "qrscene_123123"}),
    "event_unsubscribe": (m.UnsubscribeEvent, {"event": "unsubscribe"}),
    "event_SCAN": (m.ScanEvent, {"scene_id": "SCENE_VALUE", "ticket": "TICKET"}),
    "event_LOCATION": (m.LocationEvent, {"latitude": 23.137466, "longitude": 113.352425, "precision": 119.38504}),
    "event_CLICK": (m.ClickEvent, {"key": "V1001_TODAY_MUSIC"}),
    "event_VIEW": (m.ViewEvent, {"url": "http://www.qq.com/", "menu_id": "MENUID"}),
    "event_scancode_push": (m.ScanCodePushEvent, {"key": "6", "scan_type": "qrcode", "scan_result": "1"}),
    "event_scancode_waitmsg": (m.ScanCodeWaitEvent, {"scan_type": "qrcode", "scan_result": "2"}),
    "event_pic_sysphoto": (m.PicSysPhotoEvent, {"count": 1, "picture_md5s": ["1b5f7c23b5bf75682a53e7b6d163e185"]}),
    "event_pic_photo_or_album": (m.PicPhotoOrAlbumEvent, {"count": 1, "picture_md5s": ["5a75aaca956d97be686719218f275c6b"]}),
    "event_pic_weixin": (m.PicWeixinEvent, {"count": 2, "picture_md5s": ["5a75aaca956d97be686719218f275c6b", "1b5f7c23b5bf75682a53e7b6d163e185"]}),
    "event_location_select": (m.LocationSelectEvent, {"latitude": 23.0, "longitude": 113.0, "scale": 15, "label": " 广州市海珠区客村艺苑路 106号", "poi_name": ""}),
    "event_view_miniprogram": (m.ViewMiniProgramEvent, {"page_path": "pages/index/index", "menu_id": "MENUID"}),
    "event_TEMPLATESENDJOBFINISH": (m.TemplateSendJobFinishEvent, {"message_id": "200163836", "status": "success"}),
    "event_MASSSENDJOBFINISH": (m.MassSendJobFinishEvent, {"message_id": "1988", "total_count": 100, "sent_count": 75, "error_count": 5}),
    "event_kf_create_session": (m.KfCreateSessionEvent, {"kf_account": "test1@test"}),
    "event_kf_close_session": (m.KfCloseSessionEvent, {"kf_account": "test1@test"}),
    "event_kf_switch_session": (m.KfSwitchSessionEvent, {"from_kf_account": "test1@test", "to_kf_account": "test2@test"}),
    "event_subscribe_msg_popup_event": (
        m.SubscribeMsgPopupEvent,
        {"subscriptions": [
            {"TemplateId": "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", "SubscribeStatusString": "accept", "PopupScene": "2"},
            {"TemplateId": "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI", "SubscribeStatusString": "reject", "PopupScene": "2"},
        ]},
    ),
    "unknown_event": (m.UnknownEvent, {"event": "poi_check_notify"}),
}


def test_every_fixture_has_an_expectation():
    names = {f[:-4] for f in os.listdir(FIXTURES) if f.endswith(".xml")}
    assert names == set(EXPECTED)


def test_every_registered_type_has_a_fixture():
    covered = {cls for cls, _ in EXPECTED.values()}
    registered = set(m.MESSAGE_TYPES.values()) | set(m.EVENT_TYPES.values())
    assert registered <= covered


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_its_class(name):
    cls, attributes = EXPECTED[name]
    message = m.parse_message(fixture(name))
    assert type(message) is cls
    assert message.source == FOLLOWER
    assert message.target == "gh_3c884a361561"
    assert message.create_time == 1348831860
    for attribute, value in attributes.items():
        assert getattr(message, attribute) == value, attribute


def test_unknown_types_keep_every_field():
    assert m.parse_message(fixture("unknown_message")).raw["Projection"] == "3d"
    raw = m.parse_message(fixture("unknown_event")).raw
    assert (raw["UniqId"], raw["PoiId"], raw["Result"]) == ("123adb", "123123", "fail")


def test_events_are_found_whatever_the_case():
    body = fixture("event_SCAN").replace(b"[SCAN]", b"[scan]")
    assert type(m.parse_message(body)) is m.ScanEvent


def test_empty_and_missing_fields_are_empty_not_errors():
    message = m.parse_message(b"<xml><MsgType>text</MsgType><Content/></xml>")
    assert message.content == "" and message.source == "" and message.create_time == 0
    location = m.parse_message(b"<xml><MsgType>location</MsgType><Location_X>north</Location_X></xml>")
    assert location.latitude == 0.0


def test_dedupe_keys_are_scoped_to_the_sender_and_events_to_event_and_key():
    text = m.parse_message(fixture("text"))
    assert text.dedupe_key == "msg:%s:1234567890123456" % text.source
    click = m.parse_message(fixture("event_CLICK"))
    assert click.dedupe_key == "evt:%s:1348831860:CLICK:%s" % (FOLLOWER, click.key)
    other = m.parse_message(fixture("text").replace(text.source.encode(), b"oSomeoneElse"))
    assert other.dedupe_key != text.dedupe_key


def test_chinese_and_markup_in_cdata_arrive_unchanged():
    body = "<xml><MsgType>text</MsgType><Content><![CDATA[你好 & <b>\"'</b> <!DOCTYPE x>]]></Content></xml>"
    assert m.parse_message(body.encode("utf-8")).content == "你好 & <b>\"'</b> <!DOCTYPE x>"


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<xml><MsgType>text</MsgType>", "not well-formed"),
        (b"not xml at all", "not well-formed"),
        (b"<html><MsgType>text</MsgType></html>", "root element"),
        (b"<xml><Content>hi</Content></xml>", "MsgType is missing"),
        (b"<xml><MsgType><a>text</a></MsgType></xml>", "MsgType is missing"),
        (b'<!DOCTYPE xml [<!ENTITY x "y">]><xml><MsgType>&x;</MsgType></xml>', "DOCTYPE"),
        (b'<?xml version="1.0"?>\n<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml/>', "DOCTYPE"),
        (b'<?xml version="1.0" encoding="gbk"?><xml><MsgType>text</MsgType></xml>', "XML"),
        (b"<xml><MsgType>text</MsgType><Content>\xff\xfe</Content></xml>", "not well-formed"),
        (b"<xml>" + b"<a>" * 50 + b"</a>" * 50 + b"</xml>", "nested"),
    ],
)
def test_bad_bodies_are_parse_errors_with_a_reason(body, reason):
    with pytest.raises(ParseError) as error:
        m.parse_message(body)
    assert reason in str(error.value)


def test_billion_laughs_is_refused_before_expansion():
    entities = "".join('<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;">' % (i, i - 1, i - 1, i - 1, i - 1) for i in range(1, 12))
    body = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY l0 "ha">%s]><xml><MsgType>&l11;</MsgType></xml>' % entities
    with pytest.raises(ParseError):
        m.parse_message(body.encode())
