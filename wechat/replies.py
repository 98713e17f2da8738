"""Passive replies: one small class per reply type; rendering to XML lives with the templates."""

from dataclasses import dataclass, field

MAX_ARTICLES = 8  # WeChat shows at most 8 articles in one news reply (1 since 2018 for some accounts)


class Reply:
    """A reply's `template` names its file under templates/ (wx.xml is the text reply)."""

    msg_type = ""  # the reply's MsgType
    template = ""


@dataclass
class TextReply(Reply):
    content: str
    msg_type = "text"
    template = "wx"


@dataclass
class ImageReply(Reply):
    media_id: str
    msg_type = "image"
    template = "image"


@dataclass
class VoiceReply(Reply):
    media_id: str
    msg_type = "voice"
    template = "voice"


@dataclass
class VideoReply(Reply):
    media_id: str
    title: str = ""
    description: str = ""
    msg_type = "video"
    template = "video"


@dataclass
class MusicReply(Reply):
    thumb_media_id: str
    title: str = ""
    description: str = ""
    music_url: str = ""
    hq_music_url: str = ""
    msg_type = "music"
    template = "music"


@dataclass
class Article:
    title: str
    description: str = ""
    picture_url: str = ""
    url: str = ""


@dataclass
class NewsReply(Reply):
    articles: list = field(default_factory=list)
    msg_type = "news"
    template = "news"

    def __post_init__(self):
        self.articles = [a if isinstance(a, Article) else Article(**a) for a in self.articles]
        if not 1 <= len(self.articles) <= MAX_ARTICLES:
            raise ValueError("a news reply holds 1 to %d articles, not %d" % (MAX_ARTICLES, len(self.articles)))


@dataclass
class TransferCustomerServiceReply(Reply):
    """Hands the conversation to the customer-service (多客服) system, optionally to one agent."""

    kf_account: str = ""
    msg_type = "transfer_customer_service"
    template = "transfer_customer_service"


class EmptyReply(Reply):
    """Nothing to say: WeChat gets the body `success` and shows the follower nothing."""


SUCCESS = b"success"


def cdata(text):
    """Wrap text in CDATA so &, < and quotes pass unchanged; a `]]>` inside is split across sections.

    Characters XML 1.0 forbids (most C0 controls) are dropped: one of them would make the
    whole reply unparseable and the follower would see an error instead of the text.
    """
    text = "" if text is None else str(text)
    text = text.translate(_XML_FORBIDDEN)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


_XML_FORBIDDEN = {c: None for c in range(32) if c not in (9, 10, 13)}
_XML_FORBIDDEN.update({0xFFFE: None, 0xFFFF: None})
