"""Incoming messages and events: one hardened minidom parse, then one class per MsgType / Event."""

from wechat.xmlparse import ParseError, parse_xml  # noqa: F401  (ParseError: what parse_message raises)


def _text(value):
    return value if isinstance(value, str) else ""


def as_list(value):
    """A field that may hold one item or several, always as a list (empty when absent)."""
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


class Field:
    """An attribute read from the raw fields by path; tolerant: missing or bad gives the default."""

    def __init__(self, *path, kind=str):
        self.path = path
        self.kind = kind

    def __get__(self, message, owner=None):
        if message is None:
            return self
        value = message.raw
        for key in self.path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (dict, list)):
            value = None
        if self.kind is str:
            return value or ""
        try:
            return self.kind(value)
        except (TypeError, ValueError):
            return self.kind()


MESSAGE_TYPES = {}  # MsgType -> class
EVENT_TYPES = {}  # Event, lower-cased (WeChat mixes "SCAN" and "subscribe") -> class


def message_type(name):
    def register(cls):
        cls.type = name
        MESSAGE_TYPES[name] = cls
        return cls

    return register


def event_type(name):
    def register(cls):
        cls.type = name
        EVENT_TYPES[name.lower()] = cls
        return cls

    return register


class Message:
    """What every message and event has; `raw` keeps every field as sent."""

    type = "unknown"
    is_event = False
    source = Field("FromUserName")  # the follower's OpenID
    target = Field("ToUserName")  # our account's original ID
    create_time = Field("CreateTime", kind=int)
    msg_type = Field("MsgType")

    def __init__(self, raw):
        self.raw = raw

    @property
    def message_id(self):
        # Template and mass-send job events spell it MsgID.
        value = self.raw.get("MsgId") or self.raw.get("MsgID") or ""
        return value if isinstance(value, str) else ""

    @property
    def dedupe_key(self):
        """What identifies one message across WeChat's retries, always scoped to its sender: a MsgId
        names a message only together with its FromUserName, and one follower's events in one
        second differ by Event and EventKey (subscribe, then SCAN)."""
        if self.message_id and not self.is_event:
            return "msg:%s:%s" % (self.source, self.message_id)
        return "evt:%s:%s:%s:%s" % (self.source, self.create_time, _text(self.raw.get("Event")), _text(self.raw.get("EventKey")))

    def summary(self):
        """Content or media id, for the message log."""
        return ""

    def __repr__(self):
        return "<%s from %s at %s>" % (type(self).__name__, self.source, self.create_time)


class UnknownMessage(Message):
    """A MsgType we do not know yet; every field stays in `raw`."""


@message_type("text")
class TextMessage(Message):
    content = Field("Content")
    menu_id = Field("bizmsgmenuid")  # set when the follower tapped a menu message option

    def summary(self):
        return self.content


class MediaMessage(Message):
    media_id = Field("MediaId")

    def summary(self):
        return self.media_id


@message_type("image")
class ImageMessage(MediaMessage):
    picture_url = Field("PicUrl")


@message_type("voice")
class VoiceMessage(MediaMessage):
    format = Field("Format")
    recognition = Field("Recognition")  # speech-to-text, when enabled in the console

    def summary(self):
        return self.recognition or self.media_id


@message_type("video")
class VideoMessage(MediaMessage):
    thumb_media_id = Field("ThumbMediaId")


@message_type("shortvideo")
class ShortVideoMessage(VideoMessage):
    pass


@message_type("location")
class LocationMessage(Message):
    latitude = Field("Location_X", kind=float)
    longitude = Field("Location_Y", kind=float)
    scale = Field("Scale", kind=int)
    label = Field("Label")

    def summary(self):
        return "%s (%s, %s)" % (self.label, self.latitude, self.longitude)


@message_type("link")
class LinkMessage(Message):
    title = Field("Title")
    description = Field("Description")
    url = Field("Url")

    def summary(self):
        return self.url


@message_type("file")
class FileMessage(Message):
    title = Field("Title")
    description = Field("Description")
    file_key = Field("FileKey")
    file_md5 = Field("FileMd5")
    file_size = Field("FileTotalLen", kind=int)

    def summary(self):
        return self.title


@message_type("miniprogrampage")
class MiniProgramPageMessage(Message):
    title = Field("Title")
    app_id = Field("AppId")
    page_path = Field("PagePath")
    thumb_url = Field("ThumbUrl")
    thumb_media_id = Field("ThumbMediaId")

    def summary(self):
        return self.page_path


class Event(Message):
    is_event = True
    event = Field("Event")
    key = Field("EventKey")

    def summary(self):
        return self.key


class UnknownEvent(Event):
    """An Event we do not know yet; every field stays in `raw`."""


@event_type("subscribe")
class SubscribeEvent(Event):
    ticket = Field("Ticket")

    @property
    def scene_id(self):
        """The QR code's scene when the follower subscribed by scanning one, else ""."""
        return self.key[len("qrscene_"):] if self.key.startswith("qrscene_") else ""


@event_type("unsubscribe")
class UnsubscribeEvent(Event):
    pass


@event_type("SCAN")
class ScanEvent(Event):
    """An existing follower scanned a parametric QR code; EventKey is the scene itself."""

    ticket = Field("Ticket")

    @property
    def scene_id(self):
        return self.key


@event_type("LOCATION")
class LocationEvent(Event):
    latitude = Field("Latitude", kind=float)
    longitude = Field("Longitude", kind=float)
    precision = Field("Precision", kind=float)


@event_type("CLICK")
class ClickEvent(Event):
    pass


@event_type("VIEW")
class ViewEvent(Event):
    menu_id = Field("MenuId")

    @property
    def url(self):
        return self.key


class ScanCodeEvent(Event):
    scan_type = Field("ScanCodeInfo", "ScanType")
    scan_result = Field("ScanCodeInfo", "ScanResult")


@event_type("scancode_push")
class ScanCodePushEvent(ScanCodeEvent):
    pass


@event_type("scancode_waitmsg")
class ScanCodeWaitEvent(ScanCodeEvent):
    pass


class PictureEvent(Event):
    count = Field("SendPicsInfo", "Count", kind=int)

    @property
    def picture_md5s(self):
        pictures = self.raw.get("SendPicsInfo")
        pic_list = pictures.get("PicList") if isinstance(pictures, dict) else None
        items = as_list(pic_list.get("item")) if isinstance(pic_list, dict) else []
        return [i.get("PicMd5Sum", "") for i in items if isinstance(i, dict)]


@event_type("pic_sysphoto")
class PicSysPhotoEvent(PictureEvent):
    pass


@event_type("pic_photo_or_album")
class PicPhotoOrAlbumEvent(PictureEvent):
    pass


@event_type("pic_weixin")
class PicWeixinEvent(PictureEvent):
    pass


@event_type("location_select")
class LocationSelectEvent(Event):
    latitude = Field("SendLocationInfo", "Location_X", kind=float)
    longitude = Field("SendLocationInfo", "Location_Y", kind=float)
    scale = Field("SendLocationInfo", "Scale", kind=int)
    label = Field("SendLocationInfo", "Label")
    poi_name = Field("SendLocationInfo", "Poiname")


@event_type("view_miniprogram")
class ViewMiniProgramEvent(Event):
    menu_id = Field("MenuId")

    @property
    def page_path(self):
        return self.key


@event_type("TEMPLATESENDJOBFINISH")
class TemplateSendJobFinishEvent(Event):
    status = Field("Status")


@event_type("MASSSENDJOBFINISH")
class MassSendJobFinishEvent(Event):
    status = Field("Status")
    total_count = Field("TotalCount", kind=int)
    filter_count = Field("FilterCount", kind=int)
    sent_count = Field("SentCount", kind=int)
    error_count = Field("ErrorCount", kind=int)


@event_type("kf_create_session")
class KfCreateSessionEvent(Event):
    kf_account = Field("KfAccount")


@event_type("kf_close_session")
class KfCloseSessionEvent(Event):
    kf_account = Field("KfAccount")


@event_type("kf_switch_session")
class KfSwitchSessionEvent(Event):
    from_kf_account = Field("FromKfAccount")
    to_kf_account = Field("ToKfAccount")


@event_type("subscribe_msg_popup_event")
class SubscribeMsgPopupEvent(Event):
    @property
    def subscriptions(self):
        """[{'TemplateId', 'SubscribeStatusString' (accept/reject), 'PopupScene'}, ...]"""
        popup = self.raw.get("SubscribeMsgPopupEvent")
        items = as_list(popup.get("List")) if isinstance(popup, dict) else []
        return [i for i in items if isinstance(i, dict)]


def parse_message(body):
    """Parse a POST body into the Message subclass for its MsgType / Event."""
    raw = parse_xml(body)
    msg_type = raw.get("MsgType")
    if not msg_type or not isinstance(msg_type, str):
        raise ParseError("MsgType is missing")
    if msg_type == "event":
        event = raw.get("Event")
        name = event.lower() if isinstance(event, str) else ""
        return EVENT_TYPES.get(name, UnknownEvent)(raw)
    return MESSAGE_TYPES.get(msg_type, UnknownMessage)(raw)
