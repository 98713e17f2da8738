"""Events about places: Shake Around beacons (摇一摇周边), Wi-Fi connections, store (POI) reviews."""

from wechat.messages.base import TEXT, Event, Field, Item, Items, Nested, event_type


class Beacon(Item):
    uuid = Field("Uuid")
    major = Field("Major", kind=int)
    minor = Field("Minor", kind=int)
    distance = Field("Distance", kind=float)  # metres


@event_type("ShakearoundUserShake")
class ShakearoundUserShakeEvent(Event):
    """摇一摇 — a follower shook near beacons."""

    chosen_beacon = Nested("ChosenBeacon", of=Beacon)
    around_beacons = Items("AroundBeacons", "AroundBeacon", of=Beacon)


@event_type("WifiConnected")
class WifiConnectedEvent(Event):
    """Wi-Fi 连网 — a follower connected to the shop's Wi-Fi."""

    connected_at = Field("ConnectTime", kind=int)
    expires_at = Field("ExpireTime", kind=int)  # 0 when the connection has no expiry
    vendor_id = Field("VendorId")
    shop_id = Field("PlaceId")
    device_no = Field("DeviceNo")  # the hotspot's BSSID (or MAC)


@event_type("poi_check_notify")
class PoiCheckNotifyEvent(Event):
    """门店审核 — a store's review result."""

    unique_id = Field("UniqId")  # the sid we gave when creating the store
    poi_id = Field("PoiId")
    result = Field("Result")  # succ or fail
    message = Field("Msg", kind=TEXT)
