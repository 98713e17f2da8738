"""Electronic invoice events (电子发票): authorisation, reimbursement status, invoice titles."""

from wechat.messages.base import TEXT, Event, Field, event_type


@event_type("user_authorize_invoice")
class UserAuthorizeInvoiceEvent(Event):
    """授权开票 — a follower authorised (or failed to authorise) invoicing an order."""

    succeeded_order_id = Field("SuccOrderId")
    failed_order_id = Field("FailOrderId")
    app_id = Field("AppId")  # the account receiving the event
    auth_source = Field("Source")  # web (H5 inside WeChat) or app


@event_type("update_invoice_status")
class UpdateInvoiceStatusEvent(Event):
    """发票状态更新 — an invoice's reimbursement status changed."""

    status = Field("Status")  # INVOICE_REIMBURSE_INIT, _LOCK, _CLOSURE ...
    card_id = Field("CardId")
    code = Field("Code")


@event_type("submit_invoice_title")
class SubmitInvoiceTitleEvent(Event):
    """提交发票抬头 — a follower submitted the title an invoice should carry."""

    title = Field("title", kind=TEXT)
    phone = Field("phone")
    tax_no = Field("tax_no")
    address = Field("addr", kind=TEXT)
    bank_type = Field("bank_type", kind=TEXT)
    bank_no = Field("bank_no")
    attach = Field("attach", kind=TEXT)
    title_type = Field("title_type")  # InvoiceUserTitlePersonType or InvoiceUserTitleBusinessType
