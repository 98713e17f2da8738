"""The everyday events: following, QR codes (and product scans), location, menu clicks and links."""

from wechat.messages.base import Event, Field, event_type

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


# --- location and menu buttons----------------------------------------------------------------------


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
