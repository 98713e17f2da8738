"""Reports on what the account sent: template messages, mass sends (with originality checks), free publishing."""

from wechat.messages.base import Event, Field, Item, Items, Nested, event_type, flag


@event_type("TEMPLATESENDJOBFINISH")
class TemplateSendJobFinishEvent(Event):
    """模板消息发送结果 — whether a template message arrived (success, failed:user block ...)."""

    status = Field("Status")


class CopyrightResult(Item):
    article_index = Field("ArticleIdx", kind=int)
    user_declare_state = Field("UserDeclareState", kind=int)
    audit_state = Field("AuditState", kind=int)
    original_url = Field("OriginalArticleUrl")
    original_type = Field("OriginalArticleType", kind=int)
    can_reprint = Field("CanReprint", kind=flag)
    need_replace_content = Field("NeedReplaceContent", kind=flag)
    need_show_reprint_source = Field("NeedShowReprintSource", kind=flag)


class CopyrightCheck(Item):
    count = Field("Count", kind=int)
    check_state = Field("CheckState", kind=int)  # 1 passed, 2 refused
    results = Items("ResultList", "item", of=CopyrightResult)


class ArticleUrl(Item):
    article_index = Field("ArticleIdx", kind=int)
    url = Field("ArticleUrl")


@event_type("MASSSENDJOBFINISH")
class MassSendJobFinishEvent(Event):
    """群发结果 — a mass send finished: counts, originality check, article URLs."""

    status = Field("Status")
    total_count = Field("TotalCount", kind=int)
    filter_count = Field("FilterCount", kind=int)
    sent_count = Field("SentCount", kind=int)
    error_count = Field("ErrorCount", kind=int)
    copyright_check = Nested("CopyrightCheckResult", of=CopyrightCheck)
    article_urls = Items("ArticleUrlResult", "ResultList", "item", of=ArticleUrl)


class PublishedArticle(Item):
    index = Field("idx", kind=int)
    url = Field("article_url")


@event_type("PUBLISHJOBFINISH")
class PublishJobFinishEvent(Event):
    """发布结果 — a free publish (发布) finished; status 0 is success."""

    publish_id = Field("PublishEventInfo", "publish_id")
    publish_status = Field("PublishEventInfo", "publish_status", kind=int)
    article_id = Field("PublishEventInfo", "article_id")
    article_count = Field("PublishEventInfo", "article_detail", "count", kind=int)
    articles = Items("PublishEventInfo", "article_detail", "item", of=PublishedArticle)
    failed_indexes = Field("PublishEventInfo", "fail_idx")  # for status 2 / 4: which articles failed
