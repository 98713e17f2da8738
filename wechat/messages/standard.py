"""Ordinary messages a follower sends: one class per MsgType."""

from wechat.messages.base import TEXT, Field, Message, message_type


@message_type("text")
class TextMessage(Message):
    """文本消息 — a text; `content` exactly as typed."""

    content = Field("Content", kind=TEXT)
    menu_id = Field("bizmsgmenuid")  # set when the follower tapped a menu message option

    def summary(self):
        return self.content


class MediaMessage(Message):
    media_id = Field("MediaId")

    def summary(self):
        return self.media_id


@message_type("image")
class ImageMessage(MediaMessage):
    """图片消息 — a picture."""

    picture_url = Field("PicUrl")


@message_type("voice")
class VoiceMessage(MediaMessage):
    """语音消息 — a voice note, with speech-to-text when enabled in the console."""

    format = Field("Format")
    recognition = Field("Recognition", kind=TEXT)
    media_id_16k = Field("MediaId16K")  # the same note at 16 kHz, when WeChat offers it

    def summary(self):
        return self.recognition or self.media_id


@message_type("video")
class VideoMessage(MediaMessage):
    """视频消息 — a video."""

    thumb_media_id = Field("ThumbMediaId")


@message_type("shortvideo")
class ShortVideoMessage(VideoMessage):
    """小视频消息 — a short video."""


@message_type("location")
class LocationMessage(Message):
    """地理位置消息 — a place the follower shared."""

    latitude = Field("Location_X", kind=float)
    longitude = Field("Location_Y", kind=float)
    scale = Field("Scale", kind=int)
    label = Field("Label", kind=TEXT)

    def summary(self):
        return "%s (%s, %s)" % (self.label, self.latitude, self.longitude)


@message_type("link")
class LinkMessage(Message):
    """链接消息 — a shared link."""

    title = Field("Title", kind=TEXT)
    description = Field("Description", kind=TEXT)
    url = Field("Url")

    def summary(self):
        return self.url


@message_type("file")
class FileMessage(Message):
    """文件消息 — a file."""

    title = Field("Title", kind=TEXT)
    description = Field("Description", kind=TEXT)
    file_key = Field("FileKey")
    file_md5 = Field("FileMd5")
    file_size = Field("FileTotalLen", kind=int)

    def summary(self):
        return self.title


@message_type("miniprogrampage")
class MiniProgramPageMessage(Message):
    """小程序卡片消息 — a mini program page card."""

    title = Field("Title", kind=TEXT)
    app_id = Field("AppId")
    page_path = Field("PagePath")
    thumb_url = Field("ThumbUrl")
    thumb_media_id = Field("ThumbMediaId")

    def summary(self):
        return self.page_path
