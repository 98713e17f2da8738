"""A safe-mode envelope's Encrypt is read by regular expressions when the body has WeChat's shape, and by
expat otherwise: the two must agree on every body, hostile ones included."""

import random

import pytest

from admin import simulator
from wechat import xmlparse
from wechat.crypto import MessageCrypto
from wechat.xmlparse import ParseError, envelope_field

B64 = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo+/w=="

BODIES = [
    b"<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><Encrypt><![CDATA[" + B64 + b"]]></Encrypt></xml>",
    b"<xml>\n    <ToUserName><![CDATA[gh_abc]]></ToUserName>\n    <Encrypt><![CDATA[" + B64 + b"]]></Encrypt>\n</xml>\n",
    b"<xml>\r\n<Encrypt>" + B64 + b"</Encrypt>\r\n</xml>",
    b"<xml><Encrypt>  " + B64 + b"\n</Encrypt></xml>",  # text keeps its spaces and newline, as expat does
    b"<xml><Encrypt></Encrypt></xml>",
    b"<xml><Encrypt><![CDATA[]]></Encrypt></xml>",
    b"<xml><Encrypt/></xml>",
    b"<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",  # twice: expat joins them
    b"<xml><ToUserName>gh</ToUserName></xml>",
    b"<xml></xml>",
    b'<xml><Encrypt id="1">' + B64 + b"</Encrypt></xml>",
    b'<?xml version="1.0" encoding="UTF-8"?><xml><Encrypt>' + B64 + b"</Encrypt></xml>",
    b"<xml><!-- c --><Encrypt>" + B64 + b"</Encrypt></xml>",
    b'<!DOCTYPE xml [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>',
    b"<xml><Encrypt>&amp;" + B64 + b"</Encrypt></xml>",
    b"<xml><Encrypt>a\rb</Encrypt></xml>",  # XML turns CR into LF
    b"<xml><Encrypt><![CDATA[a\r\nb]]></Encrypt></xml>",
    b"<xml><Encrypt>\x01" + B64 + b"</Encrypt></xml>",  # not an XML character
    b"<xml><Encrypt>\xe4\xbd\xa0</Encrypt></xml>",
    b"<xml><Encrypt>\xff</Encrypt></xml>",  # not UTF-8
    b"<xml><Encrypt><![CDATA[a]]]]><![CDATA[>b]]></Encrypt></xml>",
    b"<xml><Encrypt>a]b</Encrypt></xml>",
    b"<xml><Encrypt>a>b</Encrypt></xml>",
    b"<xml><Outer><Encrypt>" + B64 + b"</Encrypt></Outer></xml>",  # not top level
    b"<root><Encrypt>" + B64 + b"</Encrypt></root>",
    b"<xml><Encrypt>" + B64 + b"</Encrypt></xml><xml/>",
    b"<xml><Encrypt>" + B64 + b"</Encrypt>",
    b"\x0c<xml><Encrypt>" + B64 + b"</Encrypt></xml>",  # form feed: not XML whitespace
    b"<xml><Encrypt>" + B64 + b"</Encrypt ></xml>",
    b"<xml><1Encrypt>x</1Encrypt></xml>",
    b"<xml><Encrypt>" + B64 + b"</encrypt></xml>",
]


def outcome(read, body, name):
    try:
        return read(body, name)
    except ParseError:
        return ParseError


@pytest.mark.parametrize("body", BODIES)
def test_both_readers_agree(body):
    for name in ("Encrypt", "ToUserName"):
        assert outcome(envelope_field, body, name) == outcome(xmlparse._envelope_field_by_expat, body, name), body


def test_both_readers_agree_on_random_bodies(monkeypatch):
    by_expat = xmlparse._envelope_field_by_expat
    expat_calls = []
    monkeypatch.setattr(xmlparse, "_envelope_field_by_expat", lambda *a: expat_calls.append(1) or by_expat(*a))
    pieces = [b"<xml>", b"</xml>", b"<Encrypt>", b"</Encrypt>", b"<ToUserName>", b"</ToUserName>", b"<![CDATA[",
              b"]]>", B64, b" ", b"\n", b"\r", b"\t", b"&", b"<", b">", b"]", b"gh_1", b"<A>", b"</A>", b"\xe4\xbd\xa0",
              b"<!--x-->", b"/"]
    shapes = [b"<xml>%s<Encrypt>%s</Encrypt>%s</xml>", b"<xml><Encrypt><![CDATA[%s]]></Encrypt>%s%s</xml>",
              b"%s<xml><ToUserName>%s</ToUserName><Encrypt>%s</Encrypt></xml>"]
    clean = [B64, b" ", b"\n", b"\t", b"gh_1", b"<A>x</A>", b"<B><![CDATA[" + B64 + b"]]></B>"]
    rng = random.Random(20261121)
    for _ in range(3000):
        parts = [b"".join(rng.choice(clean if rng.random() < 0.7 else pieces) for _ in range(rng.randrange(4)))
                 for _ in range(3)]
        body = rng.choice(shapes) % tuple(parts)
        for name in ("Encrypt", "ToUserName"):
            assert outcome(envelope_field, body, name) == outcome(by_expat, body, name), body
    assert len(expat_calls) > 1000 and 6000 - len(expat_calls) > 500  # both readers had a share of the reads


def test_what_wechat_sends_is_read_without_expat(monkeypatch):
    crypto = MessageCrypto("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef")
    body, _ = simulator.encrypt_request(simulator.text("你好"), crypto)

    def no_expat(*args):
        raise AssertionError("expat was used")

    expected = xmlparse._envelope_field_by_expat(body, "Encrypt")
    monkeypatch.setattr(xmlparse, "_envelope_field_by_expat", no_expat)
    assert envelope_field(body, "Encrypt") == expected and crypto.decrypt(expected).startswith(b"<xml>")
