"""Turn a skill's answer into the bytes WeChat receives, through the web.py templates."""

import marshal
import os
import sys
import time

import web

from wechat.config import ROOT
from wechat.replies import SUCCESS, EmptyReply, Reply, TextReply, cdata

TEMPLATES = os.path.join(ROOT, "templates")
XML_CONTENT_TYPE = "application/xml; charset=utf-8"
ENVELOPE_TEMPLATE = "encrypted"  # the safe-mode reply around any other


class CachedTemplate(web.template.Template):
    """A web.py template whose compiled code is kept in templates/__pycache__, like a .pyc.

    web.py parses, checks and compiles a template in every new process: ~2 ms that a CGI request
    pays each time. `manage.py deploy` writes the cache; a process that cannot write it still works.
    """

    def compile_template(self, text, filename):
        import hashlib

        key = hashlib.sha1(("%s\0%s" % (sys.version, text)).encode("utf-8")).hexdigest()[:16]
        folder = os.path.join(os.path.dirname(filename), "__pycache__")
        cache = os.path.join(folder, "%s.%s.marshal" % (os.path.basename(filename), key))
        try:
            with open(cache, "rb") as f:
                return marshal.load(f)
        except (OSError, EOFError, ValueError, TypeError):
            pass
        code = super().compile_template(text, filename)  # parses, compiles, and checks the code is safe
        try:
            os.makedirs(folder, exist_ok=True)
            partial = "%s.%d" % (cache, os.getpid())
            with open(partial, "wb") as f:
                marshal.dump(code, f)
            os.replace(partial, cache)
        except OSError:
            pass
        return code


class CachedRender(web.template.Render):
    def _load_template(self, name):
        kind, path = self._lookup(name)
        if kind != "file":
            return super()._load_template(name)
        with open(path, encoding="utf-8") as f:
            return CachedTemplate(f.read(), filename=path, **self._keywords)


# `cdata` is the only way text enters a reply template: `$:` skips web.py's HTML escaping,
# which would otherwise turn a follower-visible "&" into "&amp;" inside CDATA.
templates = CachedRender(TEMPLATES, globals={"cdata": cdata, "len": len})


def precompile_templates():
    """Fill the template cache (run by `manage.py deploy` as the admin, who can write templates/)."""
    names = sorted({os.path.splitext(n)[0] for n in os.listdir(TEMPLATES) if not n.startswith((".", "_"))})
    for name in names:
        getattr(templates, name)
    return names


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
    return str(getattr(templates, ENVELOPE_TEMPLATE)(envelope)).strip().encode("utf-8")
