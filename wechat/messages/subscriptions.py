"""Subscription message (订阅通知) events: the popup, changes in settings, delivery results."""

from wechat.messages.base import Event, Field, Item, Items, event_type


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
