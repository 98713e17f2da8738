"""Customer-service (客服) events: an agent took, closed or passed on a conversation."""

from wechat.messages.base import Event, Field, event_type


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
