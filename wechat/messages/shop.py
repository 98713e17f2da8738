"""WeChat shop events (微信小店): an order was paid."""

from wechat.messages.base import Event, Field, event_type


@event_type("merchant_order")
class MerchantOrderEvent(Event):
    """订单付款 — a follower paid a shop order."""

    order_id = Field("OrderId")
    order_status = Field("OrderStatus", kind=int)  # 2 paid, waiting for delivery
    product_id = Field("ProductId")
    sku_info = Field("SkuInfo")  # "id1:vid1;id2:vid2"
