"""Hostile input: whatever arrives, never a 500, never a traceback in the body, the right 4xx, and serving goes on."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import TOKEN, call
from admin import simulator
from wechat.messages import parse_message
from wechat.xmlparse import ParseError
from admin.simulator import signed_query

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "EventKey",
          "MediaId", "Location_X", "Label", "Ticket", "ScanCodeInfo", "SendPicsInfo"]


def post(body, token=TOKEN, query=None):
    return call("POST", query if query is not None else signed_query(TOKEN if token is None else token), body)


def assert_sane(response, allowed=("200", "400", "403", "413")):
    assert response.status.split()[0] in allowed, (response.status, response.data[:200])
    assert b"Traceback" not in response.data and b"File \"" not in response.data
    if response.status.startswith("200"):
        assert response.data == b"success" or response.data.startswith(b"<xml>")


def still_serving():
    response = post(simulator.text("还活着吗"))
    assert response.status == "200 OK" and "吗着活还".encode() in response.data


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_are_400_or_answered(body):
    assert_sane(post(body))


@FAST
@given(st.text(max_size=500))
def test_random_text_in_every_field(value):
    for field in ("Content", "MsgType", "FromUserName", "CreateTime", "MsgId"):
        fields = {"MsgType": "text", "Content": "x", "MsgId": "1"}
        fields[field] = value
        body = simulator.message_xml(fields.pop("MsgType"), fields)
        assert_sane(post(body))


@FAST
@given(st.sampled_from(FIELDS), st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=200))
def test_control_characters_and_cdata_ends_in_any_field(field, value):
    value = value + "]]>" + "\x01\x1f" + value
    body = ("<xml><MsgType><![CDATA[text]]></MsgType><%s><![CDATA[%s]]></%s></xml>"
            % (field, value.replace("]]>", "]]]]><![CDATA[>"), field)).encode("utf-8", "surrogatepass")
    assert_sane(post(body))


@FAST
@given(st.integers(min_value=0, max_value=400))
def test_truncated_messages(cut):
    body = simulator.text("截断测试 truncation")
    assert_sane(post(body[:cut]))


@pytest.mark.parametrize("depth", [9, 100, 5000])
def test_deep_nesting_is_400(depth, wechat_log):
    body = b"<xml><MsgType>text</MsgType>" + b"<a>" * depth + b"x" + b"</a>" * depth + b"</xml>"
    response = post(body)
    assert response.status.startswith("400") and "nested" in wechat_log.text


def test_huge_attributes_and_many_elements_are_handled():
    assert_sane(post(b'<xml a="' + b"x" * 60000 + b'"><MsgType>text</MsgType><Content>x</Content></xml>'))
    assert_sane(post(b"<xml><MsgType>text</MsgType>" + b"<e/>" * 12000 + b"</xml>"))
    still_serving()


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><xml><MsgType>&lol2;</MsgType></xml>',
    b'<!DOCTYPE xml [<!ENTITY % ext SYSTEM "http://127.0.0.1:1/x.dtd"> %ext;]><xml/>',
    b'<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><MsgType>text</MsgType></xml>',
    b'<?xml version="1.0" encoding="UTF-16"?><xml><MsgType>text</MsgType></xml>',
    b"\xef\xbb\xbf<xml><MsgType>text</MsgType><Content>bom</Content></xml>",
    b"<xml><MsgType>text</MsgType><Content>\xc3\x28</Content></xml>",
    b"<xml><MsgType>text</MsgType><Content>&#0;</Content></xml>",
    b"<xml><MsgType>text</MsgType><Content>&#x1F600;</Content></xml>",
])
def test_entity_and_encoding_payloads(payload):
    response = post(payload)
    assert_sane(response)
    assert b"root:" not in response.data and b"lollol" not in response.data
    still_serving()


@FAST
@given(st.one_of(st.none(), st.text(max_size=60)), st.one_of(st.none(), st.text(max_size=20)),
       st.one_of(st.none(), st.text(max_size=20)))
def test_wrong_and_missing_signature_parts_are_403(signature, timestamp, nonce):
    query = {k: v for k, v in (("signature", signature), ("timestamp", timestamp), ("nonce", nonce)) if v is not None}
    response = post(simulator.text("x"), query=query)
    assert response.status.startswith("403")
    assert_sane(response, ("403",))


def test_oversized_bodies_are_413_and_serving_goes_on():
    for size in (64 * 1024 + 1, 1024 * 1024, 5 * 1024 * 1024):
        response = post(b"<xml>" + b"x" * size + b"</xml>")
        assert response.status.startswith("413")
    still_serving()


def test_a_lying_content_length_is_not_a_500():
    body = simulator.text("short")
    response = call("POST", signed_query(TOKEN), body, headers={"Content-Length": str(len(body) + 500)})
    assert_sane(response)
    still_serving()


def test_non_utf8_query_strings_are_refused_cleanly():
    from tests.support import load_server

    import io

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "signature=%ff%fe&timestamp=1&nonce=2",
               "CONTENT_LENGTH": "5", "wsgi.input": io.BytesIO(b"<xml>"), "SERVER_NAME": "x", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": io.StringIO()}
    statuses = []
    body = b"".join(load_server().application(environ, lambda s, h, e=None: statuses.append(s)))
    assert statuses[0][:3] in ("400", "403") and b"Traceback" not in body


@FAST
@given(st.binary(min_size=1, max_size=300))
def test_the_parser_only_ever_raises_parse_error(body):
    try:
        parse_message(body)
    except ParseError:
        pass
