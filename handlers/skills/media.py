"""Location and image messages: name the place; send the picture back (the image reply path end to end)."""

from handlers.skills.registry import on
from wechat.replies import ImageReply


@on.message("location", help="发位置 — 告诉你这是哪儿")
def where(message, ctx):
    label = message.label or "这个地方"
    return "你在：%s\n纬度 %.6f，经度 %.6f" % (label, message.latitude, message.longitude)


@on.message("image", help="发图片 — 谢谢分享，原图奉还")
def echo_picture(message, ctx):
    return ImageReply(message.media_id) if message.media_id else None
