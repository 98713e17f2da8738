"""The everyday events: following, QR codes, menus, location, send-job reports, customer service, subscriptions."""

from wechat.messages.base import TEXT, Event, Field, Item, Items, Nested, event_type, flag

PRODUCT_SCENES = ("scanbarcode", "scanimage")


class ProductKey:
    """EventKey `scanbarcode|<standard>|<code>` or `scanimage|...`: the follower came from WeChat's product
    scan (扫一扫 商品). These read "" for any other key."""

    def _product_parts(self):
        parts = self.key.split("|", 2)
        return parts if len(parts) == 3 and parts[0] in PRODUCT_SCENES else ("", "", "")

    @property
    def is_product_scan(self):
        return bool(self._product_parts()[0])

    @property
    def product_scene(self):
        """scanbarcode or scanimage."""
        return self._product_parts()[0]

    @property
    def product_standard(self):
        """The code standard (ean13, qrcode ...), WeChat's KeyStandard."""
        return self._product_parts()[1]

    @property
    def product_code(self):
        """The product's code, WeChat's KeyStr."""
        return self._product_parts()[2]


# --- following and QR codes ----------------------------------------------------------------------


@event_type("subscribe")
class SubscribeEvent(ProductKey, Event):
    """关注 — a new follower."""

    ticket = Field("Ticket")

    @property
    def scene_id(self):
        """The QR code's scene when the follower subscribed by scanning one, else ""."""
        return self.key[len("qrscene_"):] if self.key.startswith("qrscene_") else ""

    @classmethod
    def refine(cls, raw):
        key = raw.get("EventKey")
        key = key.strip() if type(key) is str else ""
        if key.startswith("qrscene_"):
            return SubscribeScanEvent
        if key.split("|", 1)[0] in PRODUCT_SCENES and key.count("|") >= 2:
            return SubscribeScanProductEvent
        return cls


@event_type("subscribe_scan", also=("subscribe",))
class SubscribeScanEvent(SubscribeEvent):
    """扫码关注 — a new follower who scanned a parametric QR code."""

    when = "subscribe with EventKey qrscene_…"


@event_type("subscribe_scan_product", also=("subscribe",))
class SubscribeScanProductEvent(SubscribeEvent):
    """商品主页关注 — a new follower who came from a product scan."""

    when = "subscribe with EventKey scanbarcode|… or scanimage|…"


@event_type("unsubscribe")
class UnsubscribeEvent(Event):
    """取消关注 — a follower left."""


@event_type("SCAN")
class ScanEvent(ProductKey, Event):
    """扫码 — an existing follower scanned a parametric QR code (or a product)."""

    ticket = Field("Ticket")

    @property
    def scene_id(self):
        """The QR code's scene (EventKey itself); "" for a product scan."""
        return "" if self.is_product_scan else self.key


# --- location and menus --------------------------------------------------------------------------


@event_type("LOCATION")
class LocationEvent(Event):
    """上报地理位置 — where the follower is, reported on entering the chat."""

    latitude = Field("Latitude", kind=float)
    longitude = Field("Longitude", kind=float)
    precision = Field("Precision", kind=float)


@event_type("CLICK")
class ClickEvent(Event):
    """点击菜单拉取消息 — a menu button with a key."""


@event_type("VIEW")
class ViewEvent(Event):
    """点击菜单跳转链接 — a menu link."""

    menu_id = Field("MenuId")

    @property
    def url(self):
        return self.key


class ScanCodeEvent(Event):
    scan_type = Field("ScanCodeInfo", "ScanType")
    scan_result = Field("ScanCodeInfo", "ScanResult", kind=TEXT)


@event_type("scancode_push")
class ScanCodePushEvent(ScanCodeEvent):
    """扫码推事件 — a menu scan whose result WeChat shows itself."""


@event_type("scancode_waitmsg")
class ScanCodeWaitEvent(ScanCodeEvent):
    """扫码推事件且弹出“消息接收中” — a menu scan waiting for our reply."""


class Picture(Item):
    md5 = Field("PicMd5Sum")


class PictureEvent(Event):
    count = Field("SendPicsInfo", "Count", kind=int)
    pictures = Items("SendPicsInfo", "PicList", "item", of=Picture)

    @property
    def picture_md5s(self):
        return [picture.md5 for picture in self.pictures]


@event_type("pic_sysphoto")
class PicSysPhotoEvent(PictureEvent):
    """弹出系统拍照发图 — photos from the camera, via a menu."""


@event_type("pic_photo_or_album")
class PicPhotoOrAlbumEvent(PictureEvent):
    """弹出拍照或者相册发图 — photos from camera or album, via a menu."""


@event_type("pic_weixin")
class PicWeixinEvent(PictureEvent):
    """弹出微信相册发图器 — photos from the WeChat album, via a menu."""


@event_type("location_select")
class LocationSelectEvent(Event):
    """弹出地理位置选择器 — a place picked through a menu."""

    latitude = Field("SendLocationInfo", "Location_X", kind=float)
    longitude = Field("SendLocationInfo", "Location_Y", kind=float)
    scale = Field("SendLocationInfo", "Scale", kind=int)
    label = Field("SendLocationInfo", "Label", kind=TEXT)
    poi_name = Field("SendLocationInfo", "Poiname", kind=TEXT)


@event_type("view_miniprogram")
class ViewMiniProgramEvent(Event):
    """点击菜单跳转小程序 — a menu link to a mini program."""

    menu_id = Field("MenuId")

    @property
    def page_path(self):
        return self.key


# --- reports on what the account sent ------------------------------------------------------------


@event_type("TEMPLATESENDJOBFINISH")
class TemplateSendJobFinishEvent(Event):
    """模板消息发送结果 — whether a template message arrived (success, failed:user block ...)."""

    status = Field("Status")


class CopyrightResult(Item):
    article_index = Field("ArticleIdx", kind=int)
    user_declare_state = Field("UserDeclareState", kind=int)
    audit_state = Field("AuditState", kind=int)
    original_url = Field("OriginalArticleUrl")
    original_type = Field("OriginalArticleType", kind=int)
    can_reprint = Field("CanReprint", kind=flag)
    need_replace_content = Field("NeedReplaceContent", kind=flag)
    need_show_reprint_source = Field("NeedShowReprintSource", kind=flag)


class CopyrightCheck(Item):
    count = Field("Count", kind=int)
    check_state = Field("CheckState", kind=int)  # 1 passed, 2 refused
    results = Items("ResultList", "item", of=CopyrightResult)


class ArticleUrl(Item):
    article_index = Field("ArticleIdx", kind=int)
    url = Field("ArticleUrl")


@event_type("MASSSENDJOBFINISH")
class MassSendJobFinishEvent(Event):
    """群发结果 — a mass send finished: counts, originality check, article URLs."""

    status = Field("Status")
    total_count = Field("TotalCount", kind=int)
    filter_count = Field("FilterCount", kind=int)
    sent_count = Field("SentCount", kind=int)
    error_count = Field("ErrorCount", kind=int)
    copyright_check = Nested("CopyrightCheckResult", of=CopyrightCheck)
    article_urls = Items("ArticleUrlResult", "ResultList", "item", of=ArticleUrl)


class PublishedArticle(Item):
    index = Field("idx", kind=int)
    url = Field("article_url")


@event_type("PUBLISHJOBFINISH")
class PublishJobFinishEvent(Event):
    """发布结果 — a free publish (发布) finished; status 0 is success."""

    publish_id = Field("PublishEventInfo", "publish_id")
    publish_status = Field("PublishEventInfo", "publish_status", kind=int)
    article_id = Field("PublishEventInfo", "article_id")
    article_count = Field("PublishEventInfo", "article_detail", "count", kind=int)
    articles = Items("PublishEventInfo", "article_detail", "item", of=PublishedArticle)
    failed_indexes = Field("PublishEventInfo", "fail_idx")  # for status 2 / 4: which articles failed


# --- customer service ----------------------------------------------------------------------------


@event_type("kf_create_session")
class KfCreateSessionEvent(Event):
    """客服接入会话 — an agent took the conversation."""

    kf_account = Field("KfAccount")


@event_type("kf_close_session")
class KfCloseSessionEvent(Event):
    """客服关闭会话 — an agent closed the conversation."""

    kf_account = Field("KfAccount")


@event_type("kf_switch_session")
class KfSwitchSessionEvent(Event):
    """客服转接会话 — the conversation moved to another agent."""

    from_kf_account = Field("FromKfAccount")
    to_kf_account = Field("ToKfAccount")


# --- subscription messages (订阅通知) ------------------------------------------------------------


class Subscription(Item):
    template_id = Field("TemplateId")
    status = Field("SubscribeStatusString")  # accept or reject
    popup_scene = Field("PopupScene", kind=int)  # 1 popup in the web page, 2 in the mini program


class SentSubscription(Item):
    template_id = Field("TemplateId")
    msg_id = Field("MsgID")
    error_code = Field("ErrorCode", kind=int)
    error_status = Field("ErrorStatus")  # success, failed:user block, failed:system failed


@event_type("subscribe_msg_popup_event")
class SubscribeMsgPopupEvent(Event):
    """订阅通知弹窗 — the follower accepted or refused templates in the popup."""

    subscriptions = Items("SubscribeMsgPopupEvent", "List", of=Subscription)


@event_type("subscribe_msg_change_event")
class SubscribeMsgChangeEvent(Event):
    """管理订阅通知 — the follower changed subscriptions in their settings."""

    subscriptions = Items("SubscribeMsgChangeEvent", "List", of=Subscription)


@event_type("subscribe_msg_sent_event")
class SubscribeMsgSentEvent(Event):
    """发送订阅通知结果 — whether a subscription message arrived."""

    deliveries = Items("SubscribeMsgSentEvent", "List", of=SentSubscription)
