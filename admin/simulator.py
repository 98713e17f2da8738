"""WeChat's side of the conversation: build messages, sign requests, send them, read the reply."""

import secrets
import time

from wechat.http import fetch
from wechat.replies import cdata
from wechat.signature import sign

FOLLOWER = "oSimulatedFollower0000000000"
ACCOUNT = "gh_simulated0000"


def signed_query(token, timestamp=None, nonce=None, **extra):
    """The query WeChat puts on every request: signature, timestamp, nonce (+ echostr, openid ...)."""
    timestamp = str(timestamp or int(time.time()))
    nonce = str(nonce or secrets.randbelow(10**9))
    query = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    query.update({k: str(v) for k, v in extra.items()})
    return query


def message_xml(msg_type, fields, source=FOLLOWER, target=ACCOUNT, create_time=None):
    """A message body as WeChat sends it; `fields` is an ordered dict of the type's own fields.

    A dict value becomes nested elements; a list value repeats the element.
    """
    parts = [
        "<xml>",
        "<ToUserName>%s</ToUserName>" % cdata(target),
        "<FromUserName>%s</FromUserName>" % cdata(source),
        "<CreateTime>%d</CreateTime>" % int(create_time or time.time()),
        "<MsgType>%s</MsgType>" % cdata(msg_type),
    ]
    _append_fields(parts, fields)
    parts.append("</xml>")
    return "".join(parts).encode("utf-8")


def _append_fields(parts, fields):
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                parts.append("<%s>" % name)
                _append_fields(parts, item)
                parts.append("</%s>" % name)
            elif isinstance(item, (int, float)):
                parts.append("<%s>%s</%s>" % (name, item, name))
            else:
                parts.append("<%s>%s</%s>" % (name, cdata(item), name))


def new_msg_id():
    return str(10**15 + secrets.randbelow(9 * 10**15))


def text(content, **kw):
    return message_xml("text", {"Content": content, "MsgId": new_msg_id()}, **kw)


def image(media_id="simulated_media_id", **kw):
    return message_xml(
        "image", {"PicUrl": "http://mmbiz.qpic.cn/simulated/0", "MediaId": media_id, "MsgId": new_msg_id()}, **kw
    )


def voice(recognition="", **kw):
    return message_xml(
        "voice",
        {"MediaId": "simulated_voice", "Format": "amr", "Recognition": recognition, "MsgId": new_msg_id()},
        **kw,
    )


def location(latitude=23.134521, longitude=113.358803, label="广州市天河区", **kw):
    return message_xml(
        "location",
        {"Location_X": latitude, "Location_Y": longitude, "Scale": 20, "Label": label, "MsgId": new_msg_id()},
        **kw,
    )


def link(url="https://mp.weixin.qq.com/", title="链接", **kw):
    return message_xml("link", {"Title": title, "Description": title, "Url": url, "MsgId": new_msg_id()}, **kw)


def event(name, key=None, extra=None, **kw):
    fields = {"Event": name}
    if key is not None:
        fields["EventKey"] = key
    fields.update(extra or {})
    return message_xml("event", fields, **kw)


def subscribe(scene=None, **kw):
    if scene is None:
        return event("subscribe", **kw)
    return event("subscribe", "qrscene_%s" % scene, {"Ticket": "simulated_ticket"}, **kw)


def click(key, **kw):
    return event("CLICK", key, **kw)


# What `manage.py simulate` can send: name -> (builder, what its argument is)
KINDS = {
    "text": (text, "the text"),
    "image": (image, "a media id"),
    "voice": (voice, "the recognised speech"),
    "location": (lambda label="广州市天河区", **kw: location(label=label, **kw), "the place label"),
    "link": (link, "the URL"),
    "subscribe": (lambda scene=None, **kw: subscribe(scene, **kw), "a QR scene id (optional)"),
    "unsubscribe": (lambda _=None, **kw: event("unsubscribe", **kw), "nothing"),
    "click": (click, "the menu key"),
    "view": (lambda url="https://mp.weixin.qq.com/", **kw: event("VIEW", url, **kw), "the URL"),
    "scan": (lambda scene="1", **kw: event("SCAN", scene, {"Ticket": "simulated_ticket"}, **kw), "the scene"),
}


def http(method, url, query=None, body=None, timeout=10.0, tls=None):
    """One HTTP request as WeChat makes it: no redirect followed (WeChat follows none), so a 3xx comes back
    as it is. Any status is a Response (wechat.http.Unreachable when nothing answers); its `raw_body` is
    what came over the wire (see send()). tls: an ssl.SSLContext (wechat.http.tls_context) for https."""
    response = fetch(url, method, query, body, "text/xml; charset=utf-8", timeout, tls=tls, follow_redirects=False)
    response.raw_body = response.body
    return response


def verify_url(url, token, tls=None):
    """WeChat's URL check; returns (ok, Response)."""
    echostr = str(secrets.randbelow(10**18))
    response = http("GET", url, signed_query(token, echostr=echostr), tls=tls)
    return response.status == 200 and response.body.decode("utf-8", "replace") == echostr, response


def encrypt_request(body, crypto, timestamp=None, nonce=None, compat=False):
    """(body, extra query) for a message as WeChat sends it in safe mode (compat: plain fields too)."""
    timestamp = str(timestamp or int(time.time()))
    nonce = str(nonce or secrets.randbelow(10**9))
    encrypted = crypto.encrypt(body)
    if compat:
        outer = body.replace(b"</xml>", b"<Encrypt>" + cdata(encrypted).encode("ascii") + b"</Encrypt></xml>")
    else:
        outer = ("<xml><ToUserName>%s</ToUserName><Encrypt>%s</Encrypt></xml>"
                 % (cdata(ACCOUNT), cdata(encrypted))).encode("utf-8")
    query = {"encrypt_type": "aes", "msg_signature": sign(crypto.token, timestamp, nonce, encrypted),
             "timestamp": timestamp, "nonce": nonce}
    return outer, query


def open_reply(body, crypto):
    """The reply XML inside an encrypted reply, after checking its MsgSignature; `success` passes through."""
    from wechat.xmlparse import parse_xml

    if body == b"success" or not body:
        return body
    envelope = parse_xml(body)
    crypto.check(envelope.get("MsgSignature"), envelope.get("TimeStamp"), envelope.get("Nonce"), envelope.get("Encrypt"))
    return crypto.decrypt(envelope["Encrypt"])


def post_message(url, token, body, crypto=None, compat=False, tls=None):
    """POST a signed message as WeChat does (encrypted when given a MessageCrypto); returns the Response.

    With crypto, the Response's body is the decrypted reply XML (or `success`).
    """
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    query = signed_query(token, timestamp, nonce, openid=FOLLOWER)
    if crypto is not None:
        body, extra = encrypt_request(body, crypto, timestamp, nonce, compat)
        query.update(extra)
    response = http("POST", url, query, body, tls=tls)
    if crypto is not None and response.status == 200:
        response.body = open_reply(response.body, crypto)
    return response
