"""Safe and compatible mode at the endpoint: open an encrypted request, seal the reply in kind."""

from handlers.render import render_envelope
from handlers.refused import Refused
from wechat.config import ConfigError
from wechat.crypto import CryptoError, MessageCrypto
from wechat.messages import ParseError, parse_xml


def message_crypto(settings):
    """The account's MessageCrypto; ConfigError (a sentence for the admin) when key or appid is wrong.

    Checked per message, not only in safe mode: an admin who switched the console to safe mode
    before config.ini gets this sentence in the error log rather than a mystery.
    """
    if not settings.appid:
        raise ConfigError("Encrypted messages need the account's AppID: set appid under [wechat] or WECHAT_APPID.")
    try:
        return MessageCrypto(settings.token, settings.aes_key, settings.appid)
    except ValueError as e:
        raise ConfigError(str(e))


def open_request(body, query, settings):
    """(plain XML bytes, MessageCrypto or None) for a POST body; Refused when it cannot be opened.

    WeChat marks encrypted requests with encrypt_type=aes; compatible mode sends both kinds, and
    each is answered in kind.
    """
    if query.get("encrypt_type", "raw").lower() != "aes":
        if settings.encrypt_mode == "safe":
            raise Refused("400 Bad Request", "this server is in safe mode: messages must be encrypted", "plain-in-safe-mode")
        return body, None
    crypto = message_crypto(settings)
    try:
        encrypted = parse_xml(body).get("Encrypt")
    except ParseError as e:
        raise Refused("400 Bad Request", "bad message: %s" % e, "bad-xml")
    if not encrypted or not isinstance(encrypted, str):
        raise Refused("400 Bad Request", "bad message: Encrypt is missing", "bad-crypto")
    try:
        crypto.check(query.get("msg_signature"), query.get("timestamp"), query.get("nonce"), encrypted)
        return crypto.decrypt(encrypted), crypto
    except CryptoError as e:
        status = "403 Forbidden" if e.status == 403 else "400 Bad Request"
        raise Refused(status, "bad encrypted message: %s" % e, "bad-crypto")


def seal_reply(xml, crypto, query):
    """The encrypted envelope for reply XML, with the request's timestamp and nonce."""
    return render_envelope(crypto.envelope(xml, query.get("timestamp"), query.get("nonce")))
