"""Product scan events (扫一扫 商品): opening a product page, entering the chat, its location, reviews."""

from wechat.messages.base import TEXT, Event, Field, event_type


class ProductEvent(Event):
    product_standard = Field("KeyStandard")  # ean13, ean8, qrcode ...
    product_code = Field("KeyStr")
    ext_info = Field("ExtInfo", kind=TEXT)  # what the merchant put in the scan link


@event_type("user_scan_product")
class UserScanProductEvent(ProductEvent):
    """打开商品主页 — a follower scanned a product and opened its page."""

    country = Field("Country", kind=TEXT)
    province = Field("Province", kind=TEXT)
    city = Field("City", kind=TEXT)
    sex = Field("Sex", kind=int)  # 1 male, 2 female, 0 unknown
    scene = Field("Scene", kind=int)  # 1 scanned a barcode, 2 scanned a picture (scanimage)


@event_type("user_scan_product_enter_session")
class UserScanProductEnterSessionEvent(ProductEvent):
    """从商品主页进入公众号 — a follower came to the chat from a product page."""


@event_type("user_scan_product_async")
class UserScanProductAsyncEvent(ProductEvent):
    """商品主页地理位置 — where the scan happened, sent later."""

    region_code = Field("RegionCode")


@event_type("user_scan_product_verify_action")
class UserScanProductVerifyActionEvent(ProductEvent):
    """商品审核结果 — a product page's review result."""

    result = Field("Result")  # verify_ok or verify_not_pass
    reason = Field("ReasonMsg", kind=TEXT)
