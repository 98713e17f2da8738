"""Turn a skill's answer into the bytes WeChat receives, through the web.py templates."""

import os
import time

import web

from wechat.config import ROOT
from wechat.replies import SUCCESS, EmptyReply, Reply, TextReply, cdata

TEMPLATES = os.path.join(ROOT, "templates")
XML_CONTENT_TYPE = "application/xml; charset=utf-8"

# `cdata` is the only way text enters a reply template: `$:` skips web.py's HTML escaping,
# which would otherwise turn a follower-visible "&" into "&amp;" inside CDATA.
templates = web.template.render(TEMPLATES, globals={"cdata": cdata, "len": len})


def as_reply(answer):
    """A skill's return value (str, Reply or None) as a Reply."""
    if answer is None:
        return EmptyReply()
    if isinstance(answer, Reply):
        return answer
    if isinstance(answer, str):
        return TextReply(answer) if answer else EmptyReply()
    raise TypeError("a skill must return a str, a Reply or None, not %s" % type(answer).__name__)


def render_reply(reply, message, now=None):
    """Reply XML for `message` (to/from swapped, CreateTime now) as UTF-8 bytes; b"success" for nothing."""
    if isinstance(reply, EmptyReply) or not reply.template:
        return SUCCESS
    template = getattr(templates, reply.template)
    create_time = int(time.time() if now is None else now)
    xml = str(template(reply, message.source, message.target, create_time)).strip()
    return xml.encode("utf-8", "replace")


def render_envelope(envelope):
    """The safe-mode reply: Encrypt, MsgSignature, TimeStamp, Nonce (see wechat.crypto)."""
    return str(templates.encrypted(envelope)).strip().encode("utf-8")
