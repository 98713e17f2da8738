"""Account verification events (微信认证): qualification and naming results, annual renewal, expiry."""

from wechat.messages.base import TEXT, Event, Field, event_type


@event_type("qualification_verify_success")
class QualificationVerifySuccessEvent(Event):
    """资质认证成功 — the account's qualification was verified (API rights granted)."""

    expires_at = Field("ExpiredTime", kind=int)


@event_type("qualification_verify_fail")
class QualificationVerifyFailEvent(Event):
    """资质认证失败 — the qualification was refused."""

    failed_at = Field("FailTime", kind=int)
    fail_reason = Field("FailReason", kind=TEXT)


@event_type("naming_verify_success")
class NamingVerifySuccessEvent(Event):
    """名称认证成功 — the account's name was verified."""

    expires_at = Field("ExpiredTime", kind=int)


@event_type("naming_verify_fail")
class NamingVerifyFailEvent(Event):
    """名称认证失败 — the name was refused (API rights are kept)."""

    failed_at = Field("FailTime", kind=int)
    fail_reason = Field("FailReason", kind=TEXT)


@event_type("annual_renew")
class AnnualRenewEvent(Event):
    """年审通知 — the verification must be renewed."""

    expires_at = Field("ExpiredTime", kind=int)


@event_type("verify_expired")
class VerifyExpiredEvent(Event):
    """认证过期失效 — the verification expired."""

    expires_at = Field("ExpiredTime", kind=int)
