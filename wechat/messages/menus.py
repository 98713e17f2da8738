"""Menu events that open something on the phone: a scanner, the camera or album, a location picker, a mini program."""

from wechat.messages.base import TEXT, Event, Field, Item, Items, event_type


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
