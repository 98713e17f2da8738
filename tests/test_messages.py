"""Every message and event fixture parses to its class with Pythonic attributes; bad bodies are refused."""

import os
import re
import subprocess
import sys

import pytest

from admin import simulator
from tests.support import FIXTURES, ROOT, fixture
from wechat import messages as m
from wechat.messages.base import Item, attributes
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
    "event_subscribe_qrscene": (m.SubscribeScanEvent, {"scene_id": "123123", "ticket": "TICKET", "key": "qrscene_123123"}),
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
    "event_MASSSENDJOBFINISH": (m.MassSendJobFinishEvent, {
        "message_id": "1988", "status": "sendsuccess", "total_count": 100, "filter_count": 80, "sent_count": 75,
        "error_count": 5, "copyright_check.count": 1, "copyright_check.check_state": 2,
        "copyright_check.results.0.article_index": 1, "copyright_check.results.0.audit_state": 2,
        "copyright_check.results.0.original_url": "Url_1", "copyright_check.results.0.can_reprint": True,
        "article_urls.0.url": "https://mp.weixin.qq.com/s/example"}),
    "event_kf_create_session": (m.KfCreateSessionEvent, {"kf_account": "test1@test"}),
    "event_kf_close_session": (m.KfCloseSessionEvent, {"kf_account": "test1@test"}),
    "event_kf_switch_session": (m.KfSwitchSessionEvent, {"from_kf_account": "test1@test", "to_kf_account": "test2@test"}),
    "event_subscribe_msg_popup_event": (
        m.SubscribeMsgPopupEvent,
        {"subscriptions": [
            m.Subscription({"TemplateId": "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", "SubscribeStatusString": "accept", "PopupScene": "2"}),
            m.Subscription({"TemplateId": "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI", "SubscribeStatusString": "reject", "PopupScene": "2"}),
        ]},
    ),
    "event_subscribe_msg_change_event": (m.SubscribeMsgChangeEvent, {"subscriptions.0.template_id": "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", "subscriptions.0.status": "reject"}),
    "event_subscribe_msg_sent_event": (m.SubscribeMsgSentEvent, {"deliveries.0.msg_id": "1700827132819554304", "deliveries.0.error_code": 0, "deliveries.0.error_status": "success"}),
    "event_PUBLISHJOBFINISH": (m.PublishJobFinishEvent, {"publish_id": "2247503051", "publish_status": 0, "article_count": 1, "articles.0.index": 1, "articles.0.url": "https://mp.weixin.qq.com/s/example-article"}),
    "event_subscribe_scan_product": (m.SubscribeScanProductEvent, {"key": "scanbarcode|ean13|6901234567892", "product_scene": "scanbarcode", "product_standard": "ean13", "product_code": "6901234567892", "scene_id": ""}),
    "event_card_pass_check": (m.CardPassCheckEvent, {"card_id": "po2VNuCuRo-8sxxxxxxxxxxx", "refuse_reason": ""}),
    "event_card_not_pass_check": (m.CardNotPassCheckEvent, {"card_id": "po2VNuCuRo-8sxxxxxxxxxxx", "refuse_reason": "非法代制"}),
    "event_user_get_card": (m.UserGetCardEvent, {"card_id": "po2VNuCuRo-8sxxxxxxxxxxx", "code": "226009850808", "given_by_friend": True, "friend": "oFfRYs9hXuDQP8_fMG6RGPAHgFRIEND", "old_code": "226009850800", "outer_id": 0, "outer_str": "12b", "restored_member_card": False, "recommended_by_friend": False, "union_id": "o6_bmasdasdsad6_2sgVt7hMZOPfL"}),
    "event_user_gifting_card": (m.UserGiftingCardEvent, {"code": "226009850808", "returned": False, "friend": "oFfRYs9hXuDQP8_fMG6RGPAHgFRIEND", "in_chat_room": True}),
    "event_user_del_card": (m.UserDelCardEvent, {"card_id": "po2VNuCuRo-8sxxxxxxxxxxx", "code": "226009850808"}),
    "event_user_consume_card": (m.UserConsumeCardEvent, {"consume_source": "FROM_MOBILE_HELPER", "location_name": "天河城店", "staff": "oFfRYs9hXuDQP8_fMG6RGPAHgSTAFF", "verify_code": "", "remark_amount": "满100减10", "outer_str": "xxxxx"}),
    "event_user_pay_from_pay_cell": (m.UserPayFromPayCellEvent, {"trans_id": "10022403432015000000000", "location_id": 291710000, "fee": 10000, "original_fee": 10000}),
    "event_user_view_card": (m.UserViewCardEvent, {"card_id": "pbLatjtZ7v1BG_ZnTjbW85GYc_E8", "code": "018255396048", "outer_str": "12b"}),
    "event_user_enter_session_from_card": (m.UserEnterSessionFromCardEvent, {"card_id": "pbLatjtZ7v1BG_ZnTjbW85GYc_E8", "code": "018255396048"}),
    "event_update_member_card": (m.UpdateMemberCardEvent, {"bonus_change": 3, "balance_change": -200}),
    "event_card_sku_remind": (m.CardSkuRemindEvent, {"card_id": "pbLatjtZ7v1BG_ZnTjbW85GYc_E8", "detail": "the card's quantity is equal to 0"}),
    "event_card_pay_order": (m.CardPayOrderEvent, {"order_id": "404091456", "status": "ORDER_STATUS_FINANCE_SUCC", "created_at": 1472549285, "paid_at": 0, "free_coin_count": 200, "pay_coin_count": 0, "order_type": "ORDER_TYPE_SYS_ADD", "memo": "开通账户奖励"}),
    "event_submit_membercard_user_info": (m.SubmitMembercardUserInfoEvent, {"card_id": "pbLatjtZ7v1BG_ZnTjbW85GYc_E8", "code": "018255396048"}),
    "event_user_authorize_invoice": (m.UserAuthorizeInvoiceEvent, {"succeeded_order_id": "1202933957956", "failed_order_id": "", "app_id": "wx1234567890abcdef", "auth_source": "web"}),
    "event_update_invoice_status": (m.UpdateInvoiceStatusEvent, {"status": "INVOICE_REIMBURSE_INIT", "card_id": "pjZ8Yt1XGILfi-FUsewpnnolGgZk", "code": "030102645004"}),
    "event_submit_invoice_title": (m.SubmitInvoiceTitleEvent, {"title": "某某科技有限公司", "phone": "020-12345678", "tax_no": "91440101MA59XXXXXX", "address": "广州市海珠区", "bank_type": "招商银行", "bank_no": "6214000000000000", "attach": "", "title_type": "InvoiceUserTitleBusinessType"}),
    "device_text": (m.DeviceTextEvent, {"device_type": "gh_device_type", "device_id": "dev1234", "session_id": "9394", "content": "aGVsbG8gZGV2aWNl", "data": b"hello device", "open_id": FOLLOWER, "message_id": "66844199"}),
    "device_bind": (m.DeviceBindEvent, {"device_id": "dev1234", "data": b"bind", "event": "bind"}),
    "device_unbind": (m.DeviceUnbindEvent, {"device_id": "dev1234", "data": b"unbind"}),
    "device_subscribe_status": (m.DeviceSubscribeStatusEvent, {"device_id": "dev1234", "op_type": 0, "open_id": FOLLOWER}),
    "device_unsubscribe_status": (m.DeviceUnsubscribeStatusEvent, {"device_id": "dev1234", "op_type": 1}),
    "event_ShakearoundUserShake": (m.ShakearoundUserShakeEvent, {"chosen_beacon.uuid": "121212121212", "chosen_beacon.major": 1111, "chosen_beacon.distance": 0.057, "around_beacons.1.minor": 3333, "around_beacons.0.distance": 166.816}),
    "event_WifiConnected": (m.WifiConnectedEvent, {"connected_at": 1425009600, "expires_at": 0, "vendor_id": "3001224419", "shop_id": "429620", "device_no": "00:1f:7a:ad:5c:a8"}),
    "event_poi_check_notify": (m.PoiCheckNotifyEvent, {"unique_id": "123adb", "poi_id": "123123", "result": "fail", "message": "门店图片不清晰"}),
    "event_merchant_order": (m.MerchantOrderEvent, {"order_id": "13923330482034817", "order_status": 2, "product_id": "pDF3iYzZoY-Budrzt8O6IxrwIJAA", "sku_info": "10001:1000012;10002:100021"}),
    "event_user_scan_product": (m.UserScanProductEvent, {"product_standard": "ean13", "product_code": "6901481811083", "country": "中国", "province": "广东", "city": "揭阳", "sex": 1, "scene": 2, "ext_info": "123"}),
    "event_user_scan_product_enter_session": (m.UserScanProductEnterSessionEvent, {"product_standard": "ean13", "product_code": "6901481811083", "ext_info": "123"}),
    "event_user_scan_product_async": (m.UserScanProductAsyncEvent, {"product_code": "6901481811083", "region_code": "440105"}),
    "event_user_scan_product_verify_action": (m.UserScanProductVerifyActionEvent, {"product_code": "6901481811083", "result": "verify_not_pass", "reason": "商品图片不清晰"}),
    "event_qualification_verify_success": (m.QualificationVerifySuccessEvent, {"expires_at": 1442401156}),
    "event_qualification_verify_fail": (m.QualificationVerifyFailEvent, {"failed_at": 1442401122, "fail_reason": "认证资料不全"}),
    "event_naming_verify_success": (m.NamingVerifySuccessEvent, {"expires_at": 1442401156}),
    "event_naming_verify_fail": (m.NamingVerifyFailEvent, {"failed_at": 1442401122, "fail_reason": "认证资料不全"}),
    "event_annual_renew": (m.AnnualRenewEvent, {"expires_at": 1442401156}),
    "event_verify_expired": (m.VerifyExpiredEvent, {"expires_at": 1442401156}),
    "event_user_enter_tempsession": (m.UserEnterTempSessionEvent, {"session_from": "from-help-button"}),
    "event_weapp_audit_success": (m.WeappAuditSuccessEvent, {"succeeded_at": 1535442403}),
    "event_wxa_media_check": (m.WxaMediaCheckEvent, {"is_risky": True, "extra_info_json": "", "trace_id": "60ae120f-371d5872-7941a05b", "status_code": 0, "is_valid": False}),
    "unknown_event": (m.UnknownEvent, {"event": "hologram_opened", "key": "hologram_key"}),
}


def test_every_fixture_has_an_expectation():
    names = {f[:-4] for f in os.listdir(FIXTURES) if f.endswith(".xml")}
    assert names == set(EXPECTED)


def test_every_registered_type_has_a_fixture():
    covered = {cls for cls, _ in EXPECTED.values()}
    message_types, event_types = m.all_types()
    registered = set(message_types.values()) | set(event_types.values())
    assert registered <= covered, sorted(c.__name__ for c in registered - covered)


def read(obj, dotted):
    """getattr along "a.0.b": attributes, and list indexes for nested lists."""
    for part in dotted.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_its_class(name):
    cls, attributes = EXPECTED[name]
    message = m.parse_message(fixture(name))
    assert type(message) is cls
    assert message.source == FOLLOWER
    assert message.target == "gh_3c884a361561"
    assert message.create_time == 1348831860
    for attribute, value in attributes.items():
        assert read(message, attribute) == value, attribute


def test_unknown_types_keep_every_field():
    assert m.parse_message(fixture("unknown_message")).raw["Projection"] == "3d"
    raw = m.parse_message(fixture("unknown_event")).raw
    assert (raw["Event"], raw["EventKey"], raw["Projection"]) == ("hologram_opened", "hologram_key", "3d")


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
    assert text.dedupe_key == "msg:1234567890123456:%s" % text.source
    click = m.parse_message(fixture("event_CLICK"))
    assert click.dedupe_key == "evt:1348831860:%s:CLICK:%s" % (FOLLOWER, click.key)
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


KIND_TYPES = {"str": str, "text": str, "int": int, "float": float, "bool": bool}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_attribute_reads_as_its_kind(name):
    message = m.parse_message(fixture(name))
    for attribute, kind in attributes(type(message), stop=m.Event if message.is_event else m.Message):
        value = getattr(message, attribute)
        if kind in KIND_TYPES:
            assert type(value) is KIND_TYPES[kind], attribute
        elif kind.startswith("["):
            assert isinstance(value, list) and all(isinstance(i, Item) for i in value), attribute
            for entry in value:
                for field, _ in attributes(type(entry)):
                    getattr(entry, field)


STRUCTURAL = ("ToUserName", "FromUserName", "MsgType", "Event", "EventKey", "MsgId", "MsgID", "Ticket", "CardId",
              "UserCardCode", "DeviceID", "KfAccount", "TemplateId", "Status", "KeyStr")


def padded(body):
    """The same message laid out loosely: whitespace around every value, inside CDATA for structural fields."""
    def pad(match):
        tag, value = match.group(1), match.group(2)
        if value.startswith("<![CDATA["):
            inner = value[len("<![CDATA["):-len("]]>")]
            if tag in STRUCTURAL:
                inner = " \t%s\n " % inner
            return "<%s>\n    <![CDATA[%s]]>  \n  </%s>" % (tag, inner, tag)
        return "<%s>  %s\n </%s>" % (tag, value, tag)

    return re.sub(r"<(\w+)>((?:<!\[CDATA\[.*?\]\]>)|[^<]*)</\1>", pad, body.decode("utf-8")).encode("utf-8")


@pytest.mark.parametrize("name", ["text", "event_subscribe_qrscene", "event_CLICK", "event_SCAN", "location",
                                  "event_user_get_card", "event_pic_weixin", "event_ShakearoundUserShake",
                                  "device_bind", "event_subscribe_scan_product", "event_MASSSENDJOBFINISH"])
def test_padded_bodies_read_like_tight_ones(name):
    tight = m.parse_message(fixture(name))
    loose = m.parse_message(padded(fixture(name)))
    assert padded(fixture(name)) != fixture(name)
    assert type(loose) is type(tight)
    names = ["source", "target", "create_time", "msg_type", "message_id", "dedupe_key", "summary"]
    names += [n for n, _ in attributes(type(tight), stop=m.Message)]
    for attribute in names:
        value = getattr(tight, attribute)
        assert (value() if callable(value) else value) == (getattr(loose, attribute)() if callable(value) else
                                                          getattr(loose, attribute)), attribute


def test_text_content_keeps_what_the_follower_typed_but_not_the_layout():
    body = ("<xml><MsgType> <![CDATA[ text ]]> </MsgType><FromUserName>\n <![CDATA[ oUser ]]>\n</FromUserName>"
            "<Content>\n  <![CDATA[  两个空格 ]]>\n</Content><MsgId> 42 </MsgId><CreateTime> 7 </CreateTime></xml>")
    message = m.parse_message(body.encode("utf-8"))
    assert type(message) is m.TextMessage
    assert (message.content, message.source, message.message_id, message.create_time) == ("  两个空格 ", "oUser", "42", 7)
    assert message.raw["CreateTime"] == " 7 " and message.raw["FromUserName"] == " oUser "  # the raw text stays


def test_whitespace_only_elements_are_absent():
    body = (b"<xml><MsgType>event</MsgType><Event><![CDATA[subscribe]]></Event><EventKey>   </EventKey>"
            b"<Ticket><![CDATA[ \n ]]></Ticket><CreateTime>  </CreateTime></xml>")
    message = m.parse_message(body)
    assert type(message) is m.SubscribeEvent
    assert (message.key, message.ticket, message.scene_id, message.create_time) == ("", "", "", 0)
    with pytest.raises(ParseError, match="MsgType is missing"):
        m.parse_message(b"<xml><MsgType> <![CDATA[  ]]> </MsgType></xml>")


@pytest.mark.parametrize("event, key, expected", [
    ("subscribe", "scanbarcode|ean13|6901234567892", (m.SubscribeScanProductEvent, "scanbarcode", "ean13", "6901234567892", "")),
    ("subscribe", "scanimage|qrcode|http://p.example/1|x", (m.SubscribeScanProductEvent, "scanimage", "qrcode", "http://p.example/1|x", "")),
    ("SCAN", "scanbarcode|ean8|12345670", (m.ScanEvent, "scanbarcode", "ean8", "12345670", "")),
    ("SCAN", "SCENE_7", (m.ScanEvent, "", "", "", "SCENE_7")),
    ("subscribe", "qrscene_42", (m.SubscribeScanEvent, "", "", "", "42")),
    ("subscribe", "scanbarcode|only-two", (m.SubscribeEvent, "", "", "", "")),
    ("subscribe", "", (m.SubscribeEvent, "", "", "", "")),
])
def test_product_scan_keys_split_into_parts(event, key, expected):
    message = m.parse_message(simulator.event(event, key))
    cls, scene, standard, code, scene_id = expected
    assert type(message) is cls
    assert (message.product_scene, message.product_standard, message.product_code) == (scene, standard, code)
    assert message.is_product_scan == bool(scene) and message.scene_id == scene_id and message.key == key


def test_variants_answer_to_their_family_name():
    product = m.parse_message(fixture("event_subscribe_scan_product"))
    assert set(product.event_names) == {"subscribe_scan_product", "subscribe"} and product.event == "subscribe"
    assert m.parse_message(fixture("device_bind")).event_names == ("device_bind",)
    assert m.parse_message(fixture("unknown_event")).event_names == ("hologram_opened",)


def test_rare_families_load_only_when_a_body_needs_them():
    code = ("import sys; sys.path.insert(0, %r); from wechat.messages import parse_message; "
            "from tests.support import fixture; parse_message(fixture('text')); parse_message(fixture('event_CLICK')); "
            "print(any(n.startswith('wechat.messages.') and n[16:] in FAMILIES for n in sys.modules)); "
            "parse_message(fixture('event_user_get_card')); print(all('wechat.messages.' + n in sys.modules "
            "for n in FAMILIES))" % ROOT)
    out = subprocess.run([sys.executable, "-c", code.replace("FAMILIES", repr(m.FAMILIES))], capture_output=True,
                         text=True, cwd=ROOT, timeout=30)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_readme_lists_every_type_as_the_registry_does():
    from admin.types import BEGIN, END, markdown

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    in_readme = readme[readme.index(BEGIN):readme.index(END) + len(END)] + "\n"
    assert in_readme == markdown(), "README's table is stale: paste `python3 manage.py types --markdown` into it"
    message_types, event_types = m.all_types()
    for cls in list(message_types.values()) + list(event_types.values()):
        assert "`%s`" % cls.__name__ in in_readme
    printed = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "types", "--markdown"],
                             capture_output=True, text=True, timeout=60)
    assert printed.stdout == markdown()


@pytest.mark.parametrize("name", sorted(n for n, (cls, _) in EXPECTED.items() if cls.is_event and cls is not m.UnknownEvent))
def test_a_skill_can_register_for_every_event(name):
    from handlers.skills.registry import SkillRegistry
    from wechat.config import Settings

    message = m.parse_message(fixture(name))
    registry = SkillRegistry()
    registry.event("something_else")(lambda message, ctx: "wrong")
    registry.event(type(message).type.upper())(lambda message, ctx: "heard " + message.type)
    assert registry.dispatch(message, registry.context(Settings(token="t"))) == "heard " + type(message).type


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_parser_builds_the_document_minidom_builds(name):
    # The lean builder must give the DOM xml.dom.minidom.parseString gives (comments aside): same nodes,
    # same kinds (CDATA stays CDATA), same text; padded and split across expat's buffer alike.
    from xml.dom import minidom

    from wechat.xmlparse import build_document

    padded = fixture(name).replace(b"><", b">\n  <").replace(b"]]>", b"]]> ")
    long_text = fixture(name).replace(b"<xml>", b"<xml><Long><![CDATA[" + "长".encode() * 9000 + b"]]>x</Long>", 1)
    for body in (fixture(name), padded, long_text):
        assert build_document(body).toxml() == minidom.parseString(body).toxml()
