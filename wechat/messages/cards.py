"""Card and coupon events (卡券, 会员卡): review, claim, gift, delete, redeem, pay, view, update, stock, fees."""

from wechat.messages.base import TEXT, Event, Field, event_type, flag


class CardEvent(Event):
    card_id = Field("CardId")
    code = Field("UserCardCode")  # the follower's card code


@event_type("card_pass_check")
class CardPassCheckEvent(CardEvent):
    """卡券审核通过 — a card passed review."""

    refuse_reason = Field("RefuseReason", kind=TEXT)


@event_type("card_not_pass_check")
class CardNotPassCheckEvent(CardEvent):
    """卡券审核未通过 — a card was refused; `refuse_reason` says why."""

    refuse_reason = Field("RefuseReason", kind=TEXT)


@event_type("user_get_card")
class UserGetCardEvent(CardEvent):
    """领取卡券 — a follower claimed a card."""

    given_by_friend = Field("IsGiveByFriend", kind=flag)
    friend = Field("FriendUserName")  # the giver's OpenID when given by a friend
    old_code = Field("OldUserCardCode")  # the giver's code when given by a friend
    outer_id = Field("OuterId", kind=int)  # the scene value of the claim link
    outer_str = Field("OuterStr")
    restored_member_card = Field("IsRestoreMemberCard", kind=flag)  # re-claimed a deleted member card
    recommended_by_friend = Field("IsRecommendByFriend", kind=flag)
    union_id = Field("UnionId")


@event_type("user_gifting_card")
class UserGiftingCardEvent(CardEvent):
    """转赠卡券 — a follower gave a card away."""

    friend = Field("FriendUserName")  # who received it
    returned = Field("IsReturnBack", kind=flag)  # the gift came back unclaimed
    in_chat_room = Field("IsChatRoom", kind=flag)  # given in a group chat


@event_type("user_del_card")
class UserDelCardEvent(CardEvent):
    """删除卡券 — a follower deleted a card."""


@event_type("user_consume_card")
class UserConsumeCardEvent(CardEvent):
    """核销卡券 — a card was redeemed."""

    consume_source = Field("ConsumeSource")  # FROM_API, FROM_MOBILE_HELPER, FROM_MP ...
    location_name = Field("LocationName", kind=TEXT)
    location_id = Field("LocationId")
    staff = Field("StaffOpenId")  # the clerk who redeemed it, with the mobile helper
    verify_code = Field("VerifyCode")
    remark_amount = Field("RemarkAmount", kind=TEXT)
    outer_str = Field("OuterStr")


@event_type("user_pay_from_pay_cell")
class UserPayFromPayCellEvent(CardEvent):
    """卡券买单 — a follower paid through a card's pay cell."""

    trans_id = Field("TransId")
    location_id = Field("LocationId", kind=int)
    fee = Field("Fee", kind=int)  # paid, in fen
    original_fee = Field("OriginalFee", kind=int)  # before the discount, in fen


@event_type("user_view_card")
class UserViewCardEvent(CardEvent):
    """进入会员卡 — a follower opened a member card."""

    outer_str = Field("OuterStr")


@event_type("user_enter_session_from_card")
class UserEnterSessionFromCardEvent(CardEvent):
    """从卡券进入公众号会话 — a follower came to the chat from a card."""


@event_type("update_member_card")
class UpdateMemberCardEvent(CardEvent):
    """会员卡内容更新 — points or balance changed."""

    bonus_change = Field("ModifyBonus", kind=int)
    balance_change = Field("ModifyBalance", kind=int)


@event_type("card_sku_remind")
class CardSkuRemindEvent(CardEvent):
    """库存报警 — a card's stock is running low."""

    detail = Field("Detail", kind=TEXT)


@event_type("card_pay_order")
class CardPayOrderEvent(Event):
    """券点流水详情 — a coupon-point order changed."""

    order_id = Field("OrderId")
    status = Field("Status")  # ORDER_STATUS_WAITING, _SUCC, _FINANCE_SUCC, _QUANTITY_SUCC, _HAS_REFUND ...
    created_at = Field("CreateOrderTime", kind=int)
    paid_at = Field("PayFinishTime", kind=int)
    description = Field("Desc", kind=TEXT)
    free_coin_count = Field("FreeCoinCount", kind=int)
    pay_coin_count = Field("PayCoinCount", kind=int)
    refund_free_coin_count = Field("RefundFreeCoinCount", kind=int)
    refund_pay_coin_count = Field("RefundPayCoinCount", kind=int)
    order_type = Field("OrderType")
    memo = Field("Memo", kind=TEXT)
    receipt_info = Field("ReceiptInfo", kind=TEXT)


@event_type("submit_membercard_user_info")
class SubmitMembercardUserInfoEvent(CardEvent):
    """会员卡激活 — a follower submitted their details to activate a member card."""
