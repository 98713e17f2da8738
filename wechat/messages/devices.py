"""Hardware device events (微信硬件): data from a device, binding, and subscription to its status.

WeChat sends these with MsgType device_text or device_event (Event bind, unbind, subscribe_status,
unsubscribe_status); they are registered as device_<that name>, as the peers do.
"""

import base64
import binascii

from wechat.messages.base import Event, Field, event_type


class DeviceEvent(Event):
    device_type = Field("DeviceType")  # the device's account (原始 ID)
    device_id = Field("DeviceID")
    open_id = Field("OpenID")


class DeviceDataEvent(DeviceEvent):
    session_id = Field("SessionID")
    content = Field("Content")  # base64, as sent

    @property
    def data(self):
        """The device's bytes (Content decoded); b"" when it is not base64."""
        try:
            return base64.b64decode(self.content, validate=True)
        except (binascii.Error, ValueError):
            return b""


@event_type("device_text")
class DeviceTextEvent(DeviceDataEvent):
    """设备消息 — data a device sent through WeChat."""


@event_type("device_bind")
class DeviceBindEvent(DeviceDataEvent):
    """绑定设备 — a follower bound a device."""

    when = "Event bind"


@event_type("device_unbind")
class DeviceUnbindEvent(DeviceDataEvent):
    """解绑设备 — a follower unbound a device."""

    when = "Event unbind"


@event_type("device_subscribe_status")
class DeviceSubscribeStatusEvent(DeviceEvent):
    """订阅设备状态 — a follower subscribed to a device's status."""

    when = "Event subscribe_status"
    op_type = Field("OpType", kind=int)


@event_type("device_unsubscribe_status")
class DeviceUnsubscribeStatusEvent(DeviceEvent):
    """退订设备状态 — a follower unsubscribed from a device's status."""

    when = "Event unsubscribe_status"
    op_type = Field("OpType", kind=int)
