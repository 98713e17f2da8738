"""Mini program events the peers parse: customer-service chat entry, audit success, media check results."""

from wechat.messages.base import TEXT, Event, Field, event_type, flag


@event_type("user_enter_tempsession")
class UserEnterTempSessionEvent(Event):
    """进入客服会话 — a mini program user opened the customer-service chat."""

    session_from = Field("SessionFrom", kind=TEXT)  # the button's session-from value


@event_type("weapp_audit_success")
class WeappAuditSuccessEvent(Event):
    """小程序审核通过 — a mini program version passed review."""

    succeeded_at = Field("SuccTime", kind=int)


@event_type("wxa_media_check")
class WxaMediaCheckEvent(Event):
    """异步内容安全检测结果 — the result of an asynchronous media check."""

    is_risky = Field("isrisky", kind=flag)
    extra_info_json = Field("extra_info_json", kind=TEXT)
    trace_id = Field("trace_id")
    status_code = Field("status_code", kind=int)  # 0, or -1008 when the media could not be fetched

    @property
    def is_valid(self):
        """Checked and found harmless."""
        return not self.is_risky and self.status_code == 0
