"""Passive replies: one small class per reply type; rendering to XML lives with the templates."""

import re

from wechat.record import Record

MAX_ARTICLES = 8  # WeChat shows at most 8 articles in one news reply (1 since 2018 for some accounts)


class Reply(Record):
    """A reply's `template` names its file under templates/ (wx.xml is the text reply)."""

    msg_type = ""  # the reply's MsgType
    template = ""


class TextReply(Reply):
    fields = ("content",)
    msg_type = "text"
    template = "wx"


class ImageReply(Reply):
    fields = ("media_id",)
    msg_type = "image"
    template = "image"


class VoiceReply(Reply):
    fields = ("media_id",)
    msg_type = "voice"
    template = "voice"


class VideoReply(Reply):
    fields = ("media_id", "title", "description")
    defaults = {"title": "", "description": ""}
    msg_type = "video"
    template = "video"


class MusicReply(Reply):
    fields = ("thumb_media_id", "title", "description", "music_url", "hq_music_url")
    defaults = {"title": "", "description": "", "music_url": "", "hq_music_url": ""}
    msg_type = "music"
    template = "music"


class Article(Record):
    fields = ("title", "description", "picture_url", "url")
    defaults = {"description": "", "picture_url": "", "url": ""}


class NewsReply(Reply):
    fields = ("articles",)
    defaults = {"articles": ()}
    msg_type = "news"
    template = "news"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.articles = [a if isinstance(a, Article) else Article(**a) for a in self.articles]
        if not 1 <= len(self.articles) <= MAX_ARTICLES:
            raise ValueError("a news reply holds 1 to %d articles, not %d" % (MAX_ARTICLES, len(self.articles)))


class TransferCustomerServiceReply(Reply):
    """Hands the conversation to the customer-service (多客服) system, optionally to one agent."""

    fields = ("kf_account",)
    defaults = {"kf_account": ""}
    msg_type = "transfer_customer_service"
    template = "transfer_customer_service"


class EmptyReply(Reply):
    """Nothing to say: WeChat gets the body `success` and shows the follower nothing."""


SUCCESS = b"success"


def reply_templates():
    """The template name of every reply type (templates/<name>.xml), from the classes themselves."""
    found, pending = set(), [Reply]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.template:
            found.add(cls.template)
    return sorted(found)


def cdata(text):
    """Wrap text in CDATA so &, < and quotes pass unchanged; a `]]>` inside is split across sections.

    Characters XML 1.0 forbids (most C0 controls) are dropped: one of them would make the
    whole reply unparseable and the follower would see an error instead of the text.
    """
    text = "" if text is None else str(text)
    if _XML_FORBIDDEN.search(text):  # rare: a search in C, where translating every reply was ~1.3 us a field
        text = _XML_FORBIDDEN.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
