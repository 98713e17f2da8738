"""Safe and compatible mode: WeChat's published sample, independent AES, corrupt input, real server round trips."""

import base64
import os
import shutil
import struct
import subprocess
import sys

import pytest

from tests.support import ROOT, DevServer, call, fixture, modules_loaded_by_a_plain_post
from admin import simulator
from wechat.crypto import MessageCrypto, decode_aes_key
from wechat.messages import parse_message
from wechat.xmlparse import parse_xml
from wechat.signature import sign

# WeChat's sample for Official Accounts (WXBizMsgCrypt demo).
TOKEN = "spamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2c2769f8efd9abc2"
TIMESTAMP = "1409735669"
NONCE = "1320562132"
MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2L"
    "dJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6u"
    "x5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJ"
    "pXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCz"
    "pu9GhglF2PE="
)
SAMPLE_BODY = ("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>"
               % ENCRYPT).encode()
CRYPTO = MessageCrypto(TOKEN, AES_KEY, APPID)


@pytest.fixture(autouse=True)
def no_replay_window(monkeypatch):
    """The published sample is signed with a 2014 timestamp: the replay window is off in this module."""
    from handlers.runtime import forget_settings

    monkeypatch.setenv("WECHAT_MAX_REQUEST_AGE", "0")
    forget_settings()
    yield
    forget_settings()


def safe_config(config_file, mode="safe", key=AES_KEY, appid=APPID):
    config_file("appid = %s\naes_key = %s\nencrypt_mode = %s" % (appid, key, mode), token=TOKEN)


def sample_query(**overrides):
    query = {"signature": sign(TOKEN, TIMESTAMP, NONCE), "timestamp": TIMESTAMP, "nonce": NONCE,
             "encrypt_type": "aes", "msg_signature": MSG_SIGNATURE, "openid": "oyORnuP8q7ou2gfYjqLzSIWZf0rs"}
    query.update(overrides)
    return query


# --- the published sample -----------------------------------------------------------------------

def test_the_published_sample_signature_and_plaintext():
    CRYPTO.check(MSG_SIGNATURE, TIMESTAMP, NONCE, ENCRYPT)
    message = parse_message(CRYPTO.decrypt(ENCRYPT))
    assert message.content == "abcdteT"
    assert message.source == "oyORnuP8q7ou2gfYjqLzSIWZf0rs" and message.message_id == "6054768590064713728"


def test_the_published_sample_through_the_endpoint(config_file):
    safe_config(config_file)
    response = call("POST", sample_query(), SAMPLE_BODY)
    assert response.status == "200 OK", response.data
    envelope = parse_xml(response.data)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert (envelope["TimeStamp"], envelope["Nonce"]) == (TIMESTAMP, NONCE)
    assert envelope["MsgSignature"] == sign(TOKEN, TIMESTAMP, NONCE, envelope["Encrypt"])
    reply = parse_xml(CRYPTO.decrypt(envelope["Encrypt"]))
    assert reply["Content"] == "Tetdcba" and reply["ToUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


def test_encryption_matches_an_independent_aes(tmp_path):
    """Our Encrypt for a fixed random prefix equals what the openssl command computes from the spec."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl command not installed")
    xml = "<xml><Content><![CDATA[回复 reply]]></Content></xml>".encode()
    prefix = b"0123456789abcdef"
    plain = prefix + struct.pack(">I", len(xml)) + xml + APPID.encode()
    pad = 32 - len(plain) % 32
    (tmp_path / "plain").write_bytes(plain + bytes([pad]) * pad)
    key = decode_aes_key(AES_KEY)
    expected = subprocess.run(
        [openssl, "enc", "-aes-256-cbc", "-nopad", "-K", key.hex(), "-iv", key[:16].hex(), "-in", str(tmp_path / "plain")],
        capture_output=True, check=True,
    ).stdout
    assert CRYPTO.encrypt(xml, random_prefix=prefix) == base64.b64encode(expected).decode()
    assert CRYPTO.decrypt(CRYPTO.encrypt(xml)) == xml


# --- corrupt input ------------------------------------------------------------------------------

def encrypt_raw(plain_after_prefix, pad_fix=True):
    """Encrypt arbitrary bytes (after a 16-byte prefix) with correct padding: for building bad messages."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = decode_aes_key(AES_KEY)
    data = b"R" * 16 + plain_after_prefix
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    e = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(e.update(data) + e.finalize()).decode()


def post_encrypted(encrypted, msg_signature=None):
    body = ("<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>" % encrypted).encode()
    signature = msg_signature or sign(TOKEN, TIMESTAMP, NONCE, encrypted)
    return call("POST", sample_query(msg_signature=signature), body)


XML = b"<xml><MsgType>text</MsgType><Content>x</Content></xml>"
BAD = {
    "not-base64": ("%%%not base64%%%", "400", "base64"),
    "not-whole-blocks": (base64.b64encode(b"x" * 20).decode(), "400", "blocks"),
    "bad-padding": (ENCRYPT[:-24] + "AAAAAAAAAAAAAAAAAAAAAAA=", "400", "padding"),
    "length-past-data": (encrypt_raw(struct.pack(">I", 10000) + XML + APPID.encode()), "400", "length"),
    "another-appid": (encrypt_raw(struct.pack(">I", len(XML)) + XML + b"wx0000000000000000"), "403", "another account"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_corrupt_encrypted_messages_get_a_clear_4xx_and_a_log_line(name, config_file, wechat_log):
    safe_config(config_file)
    encrypted, status, reason = BAD[name]
    response = post_encrypted(encrypted)
    assert response.status.startswith(status)
    assert response.data == b"bad encrypted message\n"  # which check failed is for the log (no padding oracle)
    assert "outcome=bad-crypto status=%s" % status in wechat_log.text and reason in wechat_log.text


def test_wrong_msg_signature_is_403(config_file):
    safe_config(config_file)
    assert call("POST", sample_query(msg_signature="0" * 40), SAMPLE_BODY).status.startswith("403")


def test_missing_encrypt_is_400(config_file):
    safe_config(config_file)
    response = call("POST", sample_query(), b"<xml><ToUserName>gh</ToUserName></xml>")
    assert response.status.startswith("400") and b"Encrypt" in response.data


@pytest.mark.parametrize("body, reason", [
    (b'<!DOCTYPE x [<!ENTITY e "E">]><xml><Encrypt>&e;</Encrypt></xml>', "DOCTYPE"),
    (b"<notxml><Encrypt>abc</Encrypt></notxml>", "root element"),
    (b"<xml><Encrypt>abc", "not well-formed"),
])
def test_an_envelope_with_a_dtd_another_root_or_broken_xml_is_400(config_file, body, reason, wechat_log):
    safe_config(config_file)
    response = call("POST", sample_query(), body)
    # The client hears only "bad message"; the parser's reason is for the admin's log.
    assert response.status.startswith("400") and response.data == b"bad message\n"
    assert reason in wechat_log.text


def test_safe_mode_refuses_plain_messages(config_file):
    safe_config(config_file)
    response = call("POST", simulator.signed_query(TOKEN), simulator.text("plain"))
    assert response.status.startswith("400") and b"safe mode" in response.data


def test_encrypted_message_without_a_key_is_503_with_the_reason_logged(config_file, wechat_log):
    config_file("appid = %s" % APPID, token=TOKEN)  # plain mode, no key
    response = call("POST", sample_query(), SAMPLE_BODY)
    assert response.status.startswith("503")
    assert "EncodingAESKey" in wechat_log.text and "WECHAT_AES_KEY" in wechat_log.text


def test_verification_works_in_safe_mode(config_file):
    safe_config(config_file)
    response = call("GET", simulator.signed_query(TOKEN, echostr="abc"))
    assert response.data == b"abc"


def test_success_stays_plain_in_safe_mode(config_file):
    safe_config(config_file)
    body, query = simulator.encrypt_request(simulator.event("unsubscribe"), CRYPTO)
    query.update(simulator.signed_query(TOKEN, query["timestamp"], query["nonce"]))
    assert call("POST", query, body).data == b"success"


# --- key validation -----------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["", "short", AES_KEY + "H", AES_KEY[:-1] + "!"])
def test_a_key_that_is_not_43_base64_characters_is_refused_with_a_sentence(key):
    with pytest.raises(ValueError, match="43"):
        decode_aes_key(key)


def test_dev_server_refuses_to_start_with_a_bad_key(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = t\nappid = wx1\naes_key = tooshort\nencrypt_mode = safe\n")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "code.py"), "127.0.0.1:1"],
                            env={"WECHAT_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "EncodingAESKey" in result.stderr and "43" in result.stderr


def test_plain_requests_do_not_load_the_aes_library():
    assert modules_loaded_by_a_plain_post(["cryptography", "Crypto", "urllib3", "redis"]) == []


# --- round trips through the real dev server ----------------------------------------------------

FIXTURES = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "tests", "fixtures")))


@pytest.fixture(scope="module", params=["safe", "compat"])
def crypto_server(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("crypto-" + request.param)
    config = home / "config.ini"
    config.write_text("[wechat]\ntoken = %s\nappid = %s\naes_key = %s\nencrypt_mode = %s\n"
                      % (TOKEN, APPID, AES_KEY, request.param))
    with DevServer({"WECHAT_CONFIG": str(config), "WECHAT_DATA_DIR": str(home / "var")}) as server:
        server.mode = request.param
        yield server


def test_every_fixture_round_trips_encrypted(crypto_server):
    for name in FIXTURES:
        body = fixture(name)
        plain = parse_message(body)
        response = simulator.post_message(crypto_server.url, TOKEN, body, crypto=CRYPTO,
                                          compat=crypto_server.mode == "compat")
        assert response.status == 200, (name, response)
        if response.body == b"success":
            assert response.raw_body == b"success"
            continue
        assert b"<Encrypt>" in response.raw_body and b"<MsgSignature>" in response.raw_body
        reply = parse_xml(response.body)
        assert reply["ToUserName"] == plain.source and reply["FromUserName"] == plain.target, name


def test_text_and_chinese_round_trip_encrypted(crypto_server):
    response = simulator.post_message(crypto_server.url, TOKEN, simulator.text("加密 ]]> & <ok>"), crypto=CRYPTO,
                                      compat=crypto_server.mode == "compat")
    assert parse_xml(response.body)["Content"] == "加密 ]]> & <ok>"[::-1]


def test_compat_mode_answers_plain_requests_plainly(crypto_server):
    response = simulator.post_message(crypto_server.url, TOKEN, simulator.text("明文"))
    if crypto_server.mode == "safe":
        assert response.status == 400
    else:
        assert response.status == 200 and parse_xml(response.body)["Content"] == "文明"
        assert b"<Encrypt>" not in response.body
